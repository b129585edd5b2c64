"""Front-end parameters: the derived values SPEC §1 states."""

import pytest

from refzsl.audio.params import VGGISH, YAMNET


@pytest.mark.parametrize("params", [VGGISH, YAMNET])
def test_shared_front_end(params):
    assert params.sample_rate_hz == 16000
    assert params.window_samples == 400
    assert params.hop_samples == 160
    assert params.fft_length == 512
    assert params.patch_frames == 96
    assert params.min_samples == 15600  # 0.975 s: fewer samples give no patch in the reference


def test_model_specific_values():
    assert (VGGISH.log_offset, VGGISH.patch_hop_frames) == (0.01, 96)
    assert (YAMNET.log_offset, YAMNET.patch_hop_frames) == (0.001, 48)


def test_params_are_frozen():
    with pytest.raises(AttributeError):
        VGGISH.log_offset = 0.1


def test_as_dict_round_trips():
    assert type(VGGISH)(**VGGISH.as_dict()) == VGGISH
