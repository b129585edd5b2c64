"""refzsl._util: the one content key, the one progress reporter, JSON inside .npz, the thread limiters."""

import io
import os

import numpy as np
import pytest

from refzsl._util.cache import content_key
from refzsl._util.files import json_array, read_json_array
from refzsl._util.progress import ProgressBar, StepLog
from refzsl._util.threads import THREAD_ENV, single_threaded_children


def test_content_key_ignores_dict_order_and_sees_values():
    assert content_key({"a": 1, "b": [2, 3]}) == content_key({"b": [2, 3], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    assert len(content_key("x")) == 24 and len(content_key("x", length=64)) == 64


def test_content_key_of_a_string_is_its_sha256():
    # The extraction cache's entry names (sha256 of "audio:settings") must not change.
    import hashlib
    assert content_key("abc:def", length=64) == hashlib.sha256(b"abc:def").hexdigest()


def test_json_array_round_trip_and_old_unicode_string(tmp_path):
    value = {"name": "café", "n": [1, 2.5, None]}
    array = json_array(value)
    assert array.dtype == np.uint8
    np.savez(tmp_path / "a.npz", meta=array, old=np.array('{"name": "caf\\u00e9"}'))
    with np.load(tmp_path / "a.npz", allow_pickle=False) as stored:
        assert read_json_array(stored["meta"]) == value
        assert read_json_array(stored["old"]) == {"name": "café"}  # files written before: a unicode string


def test_progress_bar_draws_only_when_enabled():
    stream = io.StringIO()
    bar = ProgressBar(2, description="work", unit="clips", stream=stream)
    bar.update()
    bar.update()
    bar.close()
    assert "work [" in stream.getvalue() and "2/2" in stream.getvalue() and "clips/s" in stream.getvalue()
    silent = io.StringIO()
    quiet = ProgressBar(2, stream=silent, enabled=False)
    quiet.update(2)
    quiet.close()
    assert silent.getvalue() == ""


@pytest.mark.parametrize("name, elapsed, pattern", [
    ("esc50", True, r"^\[esc50 +\d+\.\d s\] step$"),
    ("openset", False, r"^\[openset\] step$"),
    (None, False, r"^step$"),
])
def test_step_log_formats(name, elapsed, pattern):
    import re
    stream = io.StringIO()
    StepLog(name, elapsed=elapsed, stream=stream)("step")
    assert re.match(pattern, stream.getvalue().rstrip("\n"))
    silent = io.StringIO()
    StepLog(name, enabled=False, stream=silent)("step")
    assert silent.getvalue() == ""


def test_single_threaded_children_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with single_threaded_children():
        assert all(os.environ[name] == "1" for name in THREAD_ENV)
    assert os.environ["OMP_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in os.environ
