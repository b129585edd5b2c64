"""Audio in: reading files (:mod:`.io`), the front-end constants (:mod:`.params`) and the pure-NumPy
VGGish log-mel front end (:mod:`.frontend`)."""
