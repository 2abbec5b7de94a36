"""Writing files so that they appear whole or not at all: one atomic writer for every file calfrules writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from calfrules.rules.errors import CalfrulesError


@contextmanager
def atomic_text_file(path: str | os.PathLike[str], *, error: type[CalfrulesError] = CalfrulesError) -> Iterator[TextIO]:
    """A file that appears whole at ``path`` when the block ends, or not at all.

    Streams to a temporary file beside it (so a large file never sits in memory), then
    fsyncs and renames it into place. A folder that cannot be written raises ``error``
    naming the file, never a raw OSError about the temporary file.
    """
    from pathlib import Path  # here, not at the top: importing pathlib costs start-up 5-10 ms

    target = Path(path)
    if target.is_dir():
        raise error(f"{target}: is a folder; give a file name")
    import tempfile  # only a write needs it: not imported at start-up

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise error(f"{target}: cannot write here ({exc.strerror or exc}); choose a folder you can write to") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise error(f"{target}: could not be written ({exc.strerror or exc}); nothing was changed") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, error: type[CalfrulesError] = CalfrulesError) -> None:
    with atomic_text_file(path, error=error) as handle:
        handle.write(text)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, error: type[CalfrulesError] = CalfrulesError
) -> None:
    with atomic_text_file(path, error=error) as handle:
        handle.buffer.write(data)  # the text layer above it holds nothing: this is the whole file
