"""Export: the audit trail as JSON Lines (one record's to_dict() per line)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from calfrules.audit.records import AuditError, AuditRecord


def write_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write each record as one JSON line; returns how many were written."""
    count = 0
    for record in records:
        out.write(json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


@contextmanager
def atomic_text_file(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A file that appears whole at ``path`` when the block ends, or not at all.

    Streams to a temporary file beside it (so a large export never sits in memory), then
    fsyncs and renames it into place, like ``calfrules.ruleset_io.atomic_write_text``.
    """
    target = Path(path)
    if target.is_dir():
        raise AuditError(f"{target}: is a folder; give a file name such as audit.jsonl")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise AuditError(f"{target}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
