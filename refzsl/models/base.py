"""Hyper-parameter access shared by refzsl's estimators (scikit-learn's conventions)."""

import inspect

__all__ = ["HyperParameters"]


class HyperParameters:
    """``get_params`` / ``set_params`` / ``repr`` read from the keyword arguments of ``__init__``.

    Subclasses store each hyper-parameter under its own name in ``__init__`` and nothing else,
    so the signature is the one list of them.
    """

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
