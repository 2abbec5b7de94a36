"""Batch assessment: every case in a folder or a JSON Lines file, on every core.

``calfrules assess DIR`` (each ``*.json`` / ``*.toml`` file in it, by name) or
``calfrules assess cases.jsonl`` (one case per line) prints JSON Lines (or, with
``text_detail``, each case's text rendering under a ``== FILE[:LINE] ==`` header): one line per case,
in input order, each ``{"source": FILE, "line": N, "ok": true, "assessment": {...}}``, or
``{"source": FILE, "line": N, "ok": false, "error": "..."}`` for a case that could not be
assessed (that error is also printed on stderr as ``calfrules: error: FILE:N: ...``). The
batch goes on past bad cases and exits non-zero at the end if any failed.

Work is spread over ``jobs`` processes (default: every core); each loads its own engine once.
Each engine keeps the default process isolation, so a case that hangs or crashes the rule
engine comes back incomplete (failing safe) instead of stopping the batch. The output does not
depend on ``jobs``: every case is assessed exactly as ``calfrules assess FILE --json`` would.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from calfrules.knowledge.case import MAX_CASE_BYTES, parse_case_text, read_case_source
from calfrules.rules.errors import CalfrulesError

if TYPE_CHECKING:
    from calfrules.formats.text import Detail

CASE_SUFFIXES = (".json", ".toml")
LINES_SUFFIXES = (".jsonl", ".ndjson")
CHUNK = 16  # cases per message to a worker: fewer round trips, still an even spread
REFRESH_S = 0.1  # progress bar redraws at most this often
MAX_JOBS = 64  # as `--jobs` allows: with fork, every worker starts at once
IN_FLIGHT_PER_JOB = 4  # chunks queued per worker: keeps every core busy, memory bounded


@dataclass(frozen=True)
class Item:
    """One case to assess: where it came from, and its raw text or why it could not be read.

    The text is parsed by the worker that assesses it, so the parent only splits lines.
    """

    source: str
    line: int | None
    text: str | None = None
    error: str | None = None

    def where(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"

    def data(self) -> object:
        if self.line is None:
            return read_case_source(self.source)
        assert self.text is not None
        try:
            return parse_case_text(self.text, "case")
        except CalfrulesError as exc:
            raise CalfrulesError(str(exc).removeprefix("case: ")) from None


def is_batch_source(path: str) -> bool:
    """A folder or a JSON Lines file: assess every case in it."""
    return path not in ("-", "") and (Path(path).is_dir() or path.lower().endswith(LINES_SUFFIXES))


def count_items(path: Path) -> int:
    if path.is_dir():
        return len(_case_files(path))
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


def iter_items(path: Path) -> Iterator[Item]:
    """Every case of a folder (by file name) or a JSON Lines file (blank lines skipped)."""
    if path.is_dir():
        for file in _case_files(path):
            yield Item(str(file), None)
        return
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise CalfrulesError(f"{path}: no such file") from None
    except OSError as exc:
        raise CalfrulesError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield _line_item(str(path), number, raw)


def _case_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in CASE_SUFFIXES and p.is_file())
    except OSError as exc:
        raise CalfrulesError(f"{folder}: cannot list ({exc.strerror})") from None


def _line_item(source: str, number: int, raw: bytes) -> Item:
    if len(raw) > MAX_CASE_BYTES:
        return Item(source, number, error=f"larger than {MAX_CASE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Item(source, number, error="not UTF-8 text")
    return Item(source, number, text)


# --- assessing, in this process or in workers -----------------------------------------

_engine: Any = None  # each worker's own engine, loaded once by _init_worker
_text_detail: Detail | None = None  # each case as text (this long) under a header, not a JSON line


def _init_worker(rulesets: Sequence[str], screen: str = "prompt", text_detail: Detail | None = None) -> None:
    global _engine, _text_detail
    from calfrules.engine.engine import load_engine

    _engine = load_engine(rulesets=list(rulesets), screen=screen)  # type: ignore[arg-type]
    _text_detail = text_detail


def _assess_chunk(items: list[Item]) -> list[tuple[str, str | None]]:
    """Each case's output (a JSON line, or a text block) and its error ("FILE:N: ...") if it failed,
    in order; never raises. The readable cases go to the engine in one call, so its child process
    gets many cases per round trip."""
    read: list[object] = []
    errors: list[str | None] = []
    for item in items:
        error = item.error
        if error is None:
            try:
                read.append(item.data())
            except CalfrulesError as exc:
                error = str(exc).removeprefix(f"{item.source}: ")  # the output names the source already
            except Exception as exc:
                error = f"internal error: {type(exc).__name__}: {exc}"
        errors.append(error)
    try:
        answers = iter(_engine.assess_many(read))
    except Exception as exc:  # an engine bug before any case was assessed: report it on these lines
        answers = iter([exc] * len(read))
    return [_output(item, next(answers) if error is None else error) for item, error in zip(items, errors, strict=True)]


def _output(item: Item, answer: Any) -> tuple[str, str | None]:
    head: dict[str, Any] = {"source": item.source, "line": item.line}
    if isinstance(answer, str):
        error = answer
    elif isinstance(answer, CalfrulesError):
        error = str(answer).removeprefix(f"{item.source}: ")  # the output names the source already
    elif isinstance(answer, Exception):  # an engine bug must not end the batch: report it on this line
        error = f"internal error: {type(answer).__name__}: {answer}"
    else:
        try:
            if _text_detail is not None:
                from calfrules.formats.text import render_text

                text = render_text(answer, _engine.vocabulary, detail=_text_detail)
                return f"== {item.where()} ==\n{text}\n", None
            return json.dumps({**head, "ok": True, "assessment": answer.to_dict()}, ensure_ascii=False), None
        except Exception as exc:  # an engine bug must not end the batch: report it on this line
            error = f"internal error: {type(exc).__name__}: {exc}"
    one_line = " ".join(error.split("\n"))
    if _text_detail is not None:
        return f"== {item.where()} ==\nerror: {one_line}\n", f"{item.where()}: {one_line}"
    return json.dumps({**head, "ok": False, "error": error}, ensure_ascii=False), f"{item.where()}: {one_line}"


@dataclass
class BatchSummary:
    assessed: int = 0
    failed: int = 0


def run_batch(
    path: Path,
    out: IO[str],
    *,
    rulesets: Sequence[str] = (),
    jobs: int | None = None,
    on_error: Callable[[str], None] = lambda line: None,
    progress: Callable[[int], None] = lambda done: None,
    engine: Any = None,
    screen: str = "prompt",
    text_detail: Detail | None = None,
) -> BatchSummary:
    """Assess every case of ``path`` and write one JSON line (or text block) each to ``out``, in input order.

    ``engine``: assess in this process with this engine (then ``jobs`` and ``rulesets`` are
    not used); otherwise ``jobs`` worker processes (default: every core) each load one.
    """
    global _engine, _text_detail
    summary = BatchSummary()
    items = iter_items(path)
    jobs = max(1, min(jobs or available_cores(), MAX_JOBS))
    if engine is not None or jobs == 1:
        _engine = engine
        if engine is None:
            _init_worker(rulesets, screen)
        _text_detail = text_detail
        try:
            chunks = map(_assess_chunk, _chunks(items, CHUNK))
            _write((line for chunk in chunks for line in chunk), out, summary, on_error, progress)
        finally:
            if engine is None:
                _engine.close()
            _engine = None
            _text_detail = None
        return summary
    _write(_in_workers(items, rulesets, jobs, screen, text_detail), out, summary, on_error, progress)
    return summary


def available_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _in_workers(
    items: Iterator[Item], rulesets: Sequence[str], jobs: int, screen: str = "prompt", text_detail: Detail | None = None
) -> Iterator[tuple[str, str | None]]:
    """Results in input order, with a bounded number of chunks in flight (memory stays flat).

    concurrent.futures rather than multiprocessing.Pool: its workers may start the engine's
    own isolation child, and a worker that dies raises BrokenProcessPool instead of hanging.
    """
    import multiprocessing  # batch work only: a single `calfrules assess` does not need it
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork")  # nothing heavy is loaded here: workers start clean
    pending: deque[Future[list[tuple[str, str | None]]]] = deque()
    chunks = _chunks(items, CHUNK)
    try:
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_init_worker, initargs=(list(rulesets), screen, text_detail)
        ) as pool:
            for chunk in chunks:
                pending.append(pool.submit(_assess_chunk, chunk))
                if len(pending) >= IN_FLIGHT_PER_JOB * jobs:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
    except BrokenProcessPool:
        raise CalfrulesError(
            "a batch worker process died; the cases after the last line printed were not assessed"
        ) from None


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write(
    lines: Iterator[tuple[str, str | None]],
    out: IO[str],
    summary: BatchSummary,
    on_error: Callable[[str], None],
    progress: Callable[[int], None],
) -> None:
    for line, error in lines:
        out.write(line + "\n")
        summary.assessed += 1
        if error is not None:
            summary.failed += 1
            on_error(error)
        progress(summary.assessed)
    out.flush()


def run_batch_command(
    rulesets: Sequence[str],
    source: str,
    jobs: int | None,
    audit_engine: Any = None,
    *,
    screen: str = "prompt",
    text_detail: Detail | None = None,
) -> int:
    """The ``calfrules assess DIR|FILE.jsonl`` command; returns how many cases failed.

    The caller has loaded the engine once already: the named ruleset files load, and what
    the plugins broke was warned about once (each worker's engine would say it again).
    """
    import click
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    path = Path(source)
    if not path.exists():
        raise CalfrulesError(f"{source}: no such file or folder")
    total = count_items(path)
    if total == 0:
        kinds = "*.json or *.toml files" if path.is_dir() else "lines"
        raise CalfrulesError(f"{source}: no cases to assess (no {kinds})")
    # no more workers than chunks of work: each one forks and loads an engine
    jobs = min(jobs or available_cores(), -(-total // CHUNK))
    console = Console(stderr=True)
    columns = (TextColumn("assessing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # auto_refresh off: no refresh thread in this process while it forks the workers;
    # redirect_stdout off: the output goes to standard output as it is, never via the bar
    out = sys.stdout
    progress_bar = Progress(
        *columns,
        console=console,
        disable=not console.is_terminal,
        transient=True,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with progress_bar as bar:
        task = bar.add_task("assess", total=total)
        shown = [0.0]

        def report(line: str) -> None:
            bar.console.print(f"calfrules: error: {line}", markup=False, highlight=False)

        def advance(done: int) -> None:
            now = time.monotonic()
            refresh = now - shown[0] > REFRESH_S or done == total
            if refresh:
                shown[0] = now
            bar.update(task, completed=done, refresh=refresh)

        summary = run_batch(
            path,
            out,
            rulesets=rulesets,
            jobs=jobs,
            on_error=report if console.is_terminal else lambda line: click.echo(f"calfrules: error: {line}", err=True),
            progress=advance,
            engine=audit_engine,
            screen=screen,
            text_detail=text_detail,
        )
    if summary.failed:
        click.echo(f"calfrules: {summary.failed} of {summary.assessed} cases failed", err=True)
    return summary.failed
