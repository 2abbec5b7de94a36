"""Export: the audit trail as JSON Lines (one record's to_dict() per line)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TextIO

from calfrules import files
from calfrules.audit.records import AuditError, AuditRecord, json_text


def write_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write each record as one JSON line; returns how many were written."""
    count = 0
    for record in records:
        out.write(json_text(record.to_dict(), sort_keys=True) + "\n")  # a lone surrogate as its JSON escape
        count += 1
    return count


def atomic_text_file(path: str | os.PathLike[str]) -> AbstractContextManager[TextIO]:
    """The audit export's file: appears whole or not at all (``calfrules.files``)."""
    return files.atomic_text_file(path, error=AuditError)
