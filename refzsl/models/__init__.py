"""Estimators: the scikit-learn-style base (:mod:`.base`), the bilinear model and its Algorithm 1 kernels
(:mod:`.bilinear`, :mod:`._ranksgd`), temporal attention (:mod:`.attention`, :mod:`._attention_sgd`),
the open-vocabulary ConSE and prototype models (:mod:`.conse`) and model files (:mod:`.persistence`)."""
