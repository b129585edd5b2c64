"""refzsl._util.files: content hashes and atomic writes."""

import hashlib
import os

import pytest

from refzsl._util.files import atomic_write, file_fingerprint, file_sha256


def test_file_sha256_and_fingerprint(tmp_path):
    path = tmp_path / "data.bin"
    content = os.urandom(3 * (1 << 20) + 5)  # more than two fingerprint blocks
    path.write_bytes(content)
    assert file_sha256(path) == hashlib.sha256(content).hexdigest()
    fingerprint = file_fingerprint(path)
    path.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # last byte changed: in the last MiB
    assert file_fingerprint(path) != fingerprint


def test_atomic_write_writes_with_the_umask_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "sub" / "out.bin", lambda stream: stream.write(b"abc"))
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, as a plain open() gives
    assert [entry.name for entry in path.parent.iterdir()] == ["out.bin"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def fail(stream):
        stream.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["out.bin"]
