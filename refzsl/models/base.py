"""What refzsl's estimators share (scikit-learn's conventions): hyper-parameter access and their state.

An estimator owns its state: it declares the fitted attributes that make it what it is
(``_fitted_attributes``), :meth:`HyperParameters.get_fitted_state` hands them out and
:meth:`HyperParameters.from_state` rebuilds the estimator from them. Model files and caches go
through these two and never walk ``vars(estimator)``.
"""

import inspect

from ..exceptions import RefzslError

__all__ = ["HyperParameters", "NotFittedError"]


class NotFittedError(RefzslError, ValueError, AttributeError):
    """An estimator is used (or its state asked for) before ``fit`` was called."""


class HyperParameters:
    """``get_params`` / ``set_params`` / ``repr`` read from the keyword arguments of ``__init__``.

    Subclasses store each hyper-parameter under its own name in ``__init__`` and nothing else,
    so the signature is the one list of them; ``fit`` sets the attributes listed in
    ``_fitted_attributes``, the one list of the fitted state.
    """

    #: Names of the attributes ``fit`` sets and the estimator needs afterwards (all end in ``_``).
    _fitted_attributes = ()

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep=True):
        """Hyper-parameters as a dict."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set hyper-parameters; returns self. Unknown names raise ValueError."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        # Like scikit-learn: only the hyper-parameters that differ from their defaults.
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if value is not defaults[name].default
                   and not (isinstance(value, (int, float, str)) and value == defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def get_fitted_state(self):
        """The fitted attributes this estimator declares, ``{name: value}``.

        Returns
        -------
        dict
            The attributes themselves (not copies), in ``_fitted_attributes`` order.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted (an attribute is missing).
        """
        missing = [name for name in self._fitted_attributes if not hasattr(self, name)]
        if missing:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet (no {', '.join(missing)}); "
                                 "call fit first")
        return {name: getattr(self, name) for name in self._fitted_attributes}

    @classmethod
    def from_state(cls, params, state):
        """An estimator with hyper-parameters ``params`` and the fitted attributes ``state``.

        Parameters
        ----------
        params : dict
            Keyword arguments of ``__init__`` (:meth:`get_params`).
        state : dict
            Every name of ``_fitted_attributes`` and nothing else (:meth:`get_fitted_state`).

        Returns
        -------
        estimator

        Raises
        ------
        ValueError
            If ``state`` lacks a declared attribute or holds an undeclared one (both named).
        """
        missing = [name for name in cls._fitted_attributes if name not in state]
        unknown = sorted(set(state) - set(cls._fitted_attributes))
        if missing or unknown:
            raise ValueError(f"State of a {cls.__name__}: missing {missing}, unknown {unknown}; "
                             f"expected {list(cls._fitted_attributes)}")
        estimator = cls(**params)
        for name in cls._fitted_attributes:
            setattr(estimator, name, state[name])
        return estimator
