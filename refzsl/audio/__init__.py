"""Audio in: reading files (:mod:`.io`), the front-end constants (:mod:`.params`) and the pure-NumPy
VGGish log-mel front end (:mod:`.frontend`)."""

from .._util.aliases import module_getattr

# ``from refzsl import audio`` named one flat module before the layers; its names still resolve here.
__getattr__ = module_getattr(__name__)
