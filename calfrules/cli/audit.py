"""`calfrules audit`: list, show, export, replay and annotate recorded assessments.

Only click is imported here; the audit store, the engine and rich load inside each
command, so `import calfrules.cli` stays light. Every command here reads an existing
trail (feedback adds to a record in it): none creates one.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from calfrules.cli._common import EXIT_FAILED, json_flag, load_cli_engine
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.levels import Level

if TYPE_CHECKING:
    from calfrules.audit import AuditRecord, AuditStore

LEVEL_CHOICE = click.Choice([level.value for level in sorted(Level, reverse=True)])
SINCE_HELP = "Only records from this time on: an ISO date or time (2026-01-31, 2026-01-31T08:00Z) or an age (24h, 7d)."
ID_HELP = "A record id from `calfrules audit list`, or enough of its start to be unique (e.g. 3f2c)."


def echo_json(data: object) -> None:
    """As print_json, but a lone surrogate in a recorded case is printed as its escape, never a crash."""
    from calfrules.audit.records import json_text

    click.echo(json_text(data, indent=2))


def echo_text(line: str) -> None:
    from calfrules.audit.records import visible

    click.echo(visible(line))


def existing_store(ctx: click.Context) -> AuditStore:
    """The trail --db names; an error if it does not exist (reading must never create one)."""
    from calfrules.audit import open_audit

    store = open_audit(ctx.obj["audit_db"], create=False)
    ctx.call_on_close(store.close)
    return store


def full_record_id(store: AuditStore, given: str) -> str:
    """The id of the one record whose id is ``given`` or starts with it."""
    if store.get(given) is not None:
        return given
    matches = store.ids_starting_with(given, limit=4)
    if not matches:
        raise CalfrulesError(f"no audit record {given!r}; `calfrules audit list` shows the ids")
    if len(matches) > 1:
        shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise CalfrulesError(f"audit record id {given!r} is ambiguous ({shown}); give more of it")
    return matches[0]


@click.group("audit")
@click.option(
    "--db",
    "audit_db",
    metavar="URL",
    envvar="CALFRULES_AUDIT",
    help="Audit trail: sqlite:///file.db (relative), sqlite:////abs/file.db, a file path, or postgresql://... "
    "Default: $CALFRULES_AUDIT, else audit.sqlite3 in your user data folder.",
)
@click.pass_context
def audit_group(ctx: click.Context, audit_db: str | None) -> None:
    """Recorded assessments: list, show, export, replay with the current rules, add feedback.

    \b
    Record assessments with `calfrules assess --audit CASE`, the Python API
    (load_engine(audit=open_audit(...))) or the service.
    Examples:
      calfrules audit list --since 7d --level urgent
      calfrules audit show 3f2c               (the start of an id from the list)
      calfrules audit export -o audit.jsonl
      calfrules -r changed.toml audit replay  what a rule change would change
    """
    ctx.obj = {**(ctx.obj or {}), "audit_db": audit_db}


@audit_group.command("list")
@click.option("--since", help=SINCE_HELP)
@click.option("--level", type=LEVEL_CHOICE, help="Only records at exactly this level.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="At most this many.")
@json_flag("Print the records as JSON (each record's to_dict()).")
@click.pass_context
def list_cmd(ctx: click.Context, since: str | None, level: str | None, limit: int, as_json: bool) -> None:
    """List recorded assessments, newest first."""
    records = existing_store(ctx).list(limit=limit, since=since, level=level)
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    for r in records:
        flag = " INCOMPLETE" if not r.complete else ""
        case_id = r.assessment.get("case_id") or "-"
        feedback = f"  feedback: {', '.join(f.outcome for f in r.feedback)}" if r.feedback else ""
        echo_text(f"{r.time[:19]}Z  {r.id}  {r.level:<13}{flag}  {r.channel:<7}  case {case_id}{feedback}")
    if not records:
        click.echo("no audit records" + (" match" if since or level else " yet"), err=True)


@audit_group.command("show")
@click.argument("record_id", metavar="ID")
@json_flag("Print the whole record as JSON.")
@click.pass_context
def show_cmd(ctx: click.Context, record_id: str, as_json: bool) -> None:
    """Show one record: input, output, rules fired, versions and feedback.

    ID is a record id from `calfrules audit list`, or enough of its start to be unique.
    """
    store = existing_store(ctx)
    record = store.get(full_record_id(store, record_id))
    if record is None:  # deleted between the two reads
        raise CalfrulesError(f"no audit record {record_id!r}; `calfrules audit list` shows the ids")
    if as_json:
        echo_json(record.to_dict())
        return
    for line in describe(record):
        echo_text(line)


def describe(record: AuditRecord) -> list[str]:
    """A record as readable lines."""
    a = record.assessment
    lines = [
        f"record     {record.id}",
        f"time       {record.time}",
        f"channel    {record.channel}" + (f" (request {record.request_id})" if record.request_id else ""),
        f"LEVEL      {record.level}" + ("" if record.complete else "  INCOMPLETE"),
    ]
    lines += [f"  incomplete: {reason}" for reason in record.incomplete_reasons]
    findings = a.get("findings") or record.case.get("findings") or {}
    lines.append("findings   " + ", ".join(f"{k}={json.dumps(v)}" for k, v in findings.items()))
    lines.append("conditions " + (", ".join(c["id"] for c in a.get("conditions") or []) or "-"))
    lines.append("advice     " + (", ".join(r["id"] for r in a.get("recommendations") or []) or "-"))
    lines.append("red flags  " + (", ".join(f["id"] for f in a.get("red_flags") or []) or "-"))
    lines.append("rules fired " + (", ".join(record.fired_rules) or "-"))
    lines.append("rulesets")
    lines += [f"  {r['id']} {r['version']} {str(r['hash'])[:19]} ({r['plugin'] or 'file'})" for r in record.rulesets]
    lines.append("plugins    " + ", ".join(f"{p['name']} {p['version'] or '-'} {p['status']}" for p in record.plugins))
    lines.append("feedback   " + ("" if record.feedback else "-"))
    for f in record.feedback:
        who = f" by {f.clinician}" if f.clinician else ""
        lines.append(f"  {f.time[:19]}Z {f.outcome}{who}" + (f": {f.comment}" if f.comment else ""))
    return lines


@audit_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (atomically), not stdout.")
@click.option("--since", help=SINCE_HELP)
@click.option("--level", type=LEVEL_CHOICE, help="Only records at exactly this level.")
@click.pass_context
def export_cmd(ctx: click.Context, output: str | None, since: str | None, level: str | None) -> None:
    """Export records as JSON Lines, oldest first (one record's full JSON per line)."""
    from calfrules.audit.export import atomic_text_file, write_jsonl
    from calfrules.audit.records import since_moment

    store = existing_store(ctx)
    start = since_moment(since) if since is not None else None
    records = (
        r
        for r in store.iter_records()
        if (start is None or datetime.fromisoformat(r.time) >= start) and (level is None or r.level == level)
    )
    if output is None:
        write_jsonl(records, sys.stdout)
        return
    with atomic_text_file(output) as handle:
        count = write_jsonl(records, handle)
    click.echo(f"exported {count} record(s) to {output}", err=True)


@audit_group.command("replay")
@json_flag("Print the report as JSON.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 if any case would change (for checking a rule change).")
@click.pass_context
def replay_cmd(ctx: click.Context, as_json: bool, fail_on_change: bool) -> None:
    """Re-assess every recorded case with the current rules; list each whose outcome would change.

    A change is a different level, completeness, conditions or advice. Add -r FILE before
    `audit` to try a changed ruleset. Nothing is recorded by a replay.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from calfrules.audit import replay

    store = existing_store(ctx)
    engine = load_cli_engine(ctx)
    console = Console(stderr=True)
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=None)
        report = replay(engine, store, progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        echo_json(report.to_dict())
    else:
        for change in report.changes:
            echo_text(describe_change(change.to_dict()))
        level_changes = sum(1 for c in report.changes if c.level_changed)
        click.echo(f"{report.replayed} replayed, {report.changed} would change ({level_changes} in level)")
    if fail_on_change and report.changes:
        ctx.exit(EXIT_FAILED)


def describe_change(change: dict[str, Any]) -> str:
    head = f"{change['record_id']} ({change['time'][:19]}Z, case {change['case_id'] or '-'}): "
    if change["error"]:
        return head + f"cannot be assessed now: {change['error']}"
    parts = [f"level {change['old_level']} -> {change['new_level']}"]
    if change["old_complete"] != change["new_complete"]:
        parts.append("complete" if change["new_complete"] else "now INCOMPLETE")
    for key, label in (("conditions", "conditions"), ("recommendations", "advice")):
        added, removed = change[f"{key}_added"], change[f"{key}_removed"]
        if added:
            parts.append(f"{label} +{', +'.join(added)}")
        if removed:
            parts.append(f"{label} -{', -'.join(removed)}")
    return head + "; ".join(parts)


@audit_group.command("feedback")
@click.argument("record_id", metavar="ID")
@click.option("--outcome", required=True, help="What the clinician did: accepted, overridden, or another short word.")
@click.option("--comment", help="Free text, e.g. why the advice was overridden.")
@click.option("--clinician", help="Who gave the feedback.")
@click.pass_context
def feedback_cmd(ctx: click.Context, record_id: str, outcome: str, comment: str | None, clinician: str | None) -> None:
    """Add a clinician's feedback to a recorded assessment.

    ID is a record id from `calfrules audit list`, or enough of its start to be unique.
    """
    store = existing_store(ctx)
    full_id = full_record_id(store, record_id)
    store.add_feedback(full_id, outcome=outcome, comment=comment, clinician=clinician)
    click.echo(f"feedback added to {full_id}")


def attach_audit(ctx: click.Context, engine: Any, url: str | None) -> None:
    """Make ``engine`` record every assessment of this command (channel "cli") in the audit trail."""
    from calfrules.audit import open_audit

    store = open_audit(url)
    ctx.call_on_close(store.close)
    engine.audit = store
    engine.audit_channel = "cli"
