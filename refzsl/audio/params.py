"""Front-end parameters of the acoustic models, in one place.

Values follow Google's ``vggish_params.py`` and YAMNet's ``params.py``
(SPEC §1). Units are in the names; derived values are properties.
"""

from dataclasses import dataclass

__all__ = ["FrontEndParams", "VGGISH", "YAMNET"]


@dataclass(frozen=True)
class FrontEndParams:
    """Log-mel front end and patching of one acoustic model.

    Parameters
    ----------
    name : str
        Model the parameters belong to.
    sample_rate_hz : int
        Rate the waveform is resampled to.
    stft_window_seconds, stft_hop_seconds : float
        STFT frame length and hop (25 ms / 10 ms).
    num_mel_bins : int
        Mel bands.
    mel_min_hz, mel_max_hz : float
        Edges of the mel filterbank.
    log_offset : float
        Added to the mel magnitudes before the natural log (VGGish 0.01, YAMNet 0.001).
    patch_window_seconds, patch_hop_seconds : float
        Patch length and hop (0.96 s; hop 0.96 s VGGish, 0.48 s YAMNet).
    """

    name: str
    sample_rate_hz: int = 16000
    stft_window_seconds: float = 0.025
    stft_hop_seconds: float = 0.010
    num_mel_bins: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.01
    patch_window_seconds: float = 0.96
    patch_hop_seconds: float = 0.96

    @property
    def window_samples(self):
        """STFT window length in samples (400)."""
        return int(round(self.sample_rate_hz * self.stft_window_seconds))

    @property
    def hop_samples(self):
        """STFT hop in samples (160)."""
        return int(round(self.sample_rate_hz * self.stft_hop_seconds))

    @property
    def fft_length(self):
        """FFT length: the next power of two of the window (512)."""
        return 2 ** int(self.window_samples - 1).bit_length()

    @property
    def frames_per_second(self):
        """STFT frames per second (100)."""
        return 1.0 / self.stft_hop_seconds

    @property
    def patch_frames(self):
        """Frames in one patch (96)."""
        return int(round(self.patch_window_seconds * self.frames_per_second))

    @property
    def patch_hop_frames(self):
        """Frames between patch starts (96 VGGish, 48 YAMNet)."""
        return int(round(self.patch_hop_seconds * self.frames_per_second))

    @property
    def min_samples(self):
        """Fewest samples that give one patch (15 600 = 0.975 s at 16 kHz)."""
        return self.window_samples + (self.patch_frames - 1) * self.hop_samples

    def as_dict(self):
        """Plain dict of the fields, for manifests and cache keys."""
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


# VGGish: Google's vggish_params.py.
VGGISH = FrontEndParams(name="vggish", log_offset=0.01, patch_hop_seconds=0.96)

# YAMNet: same front end, smaller log offset and half-patch hop (YAMNet params.py).
YAMNET = FrontEndParams(name="yamnet", log_offset=0.001, patch_hop_seconds=0.48)
