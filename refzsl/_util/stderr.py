"""Drop known chatter that native libraries write straight to the process's stderr (file descriptor 2)."""

import contextlib
import os
import sys
import tempfile

__all__ = ["XNNPACK_INFO", "without_stderr_lines"]

#: LiteRT's C++ runtime logs this on the first inference of every interpreter, past Python's sys.stderr.
XNNPACK_INFO = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


@contextlib.contextmanager
def without_stderr_lines(unwanted):
    """Run a block with file descriptor 2 captured, then write back every line except the unwanted ones.

    Parameters
    ----------
    unwanted : collection of bytes
        Exact lines (without the line ending) to drop; anything else, Python's warnings included,
        reaches stderr unchanged and in order, after the block.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 (a closed or replaced stream): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True) if line.rstrip(b"\r\n") not in unwanted]
            if kept:
                os.write(2, b"".join(kept))
