"""``calfrules serve``: the HTTP service (CDS Hooks + POST /assess), on uvicorn."""

from __future__ import annotations

import os
import signal
from types import FrameType

import click

from calfrules.cli._common import load_cli_engine, screen_option
from calfrules.rules.errors import CalfrulesError

TOKEN_ENV = "CALFRULES_TOKEN"


@click.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes it to the network."
)
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one)."
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    metavar="TEXT",
    help=f"Require 'Authorization: Bearer TEXT' on every endpoint but /health (or set ${TOKEN_ENV}).",
)
@click.option(
    "--audit",
    "audit_url",
    metavar="URL",
    help="Audit trail to record into: sqlite:///file.db or postgresql://... (default: $CALFRULES_AUDIT, "
    "else the user data folder's audit.sqlite3).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="URL",
    help="A web origin allowed to call the service from a browser, e.g. https://ehr.example.org (repeatable).",
)
@click.option("--no-audit", is_flag=True, help="Keep no audit trail (CDS Hooks feedback then cannot be recorded).")
@click.option(
    "--max-body", default=1_000_000, show_default=True, type=click.IntRange(1), help="Largest request body, bytes."
)
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1), help="Longest an assessment may take, s."
)
@screen_option(
    "Red-flag screen policy: require (patient-facing, self-triage) keeps the level at see_clinician or "
    "above until every screening question is answered."
)
@click.pass_context
def serve_cmd(
    ctx: click.Context,
    host: str,
    port: int,
    token: str | None,
    audit_url: str | None,
    cors_origins: tuple[str, ...],
    no_audit: bool,
    max_body: int,
    timeout: float,
    screen: str,
) -> None:
    """Serve assessments over HTTP: CDS Hooks (/cds-services) and POST /assess.

    Needs the serve extra: pip install 'calfrules[serve]'. OpenAPI at /openapi.json,
    browsable at /docs. Binds to localhost unless --host says otherwise.

    \b
    Examples:
      calfrules serve --port 8080
      CALFRULES_TOKEN=s3cret calfrules serve --audit sqlite:////var/lib/calfrules/audit.db
      curl -s localhost:8080/assess -d '{"findings": {"calf_pain": true}}'
    """
    try:
        import uvicorn

        from calfrules.service import create_app
    except ImportError as exc:
        raise CalfrulesError(
            f"the service needs FastAPI and uvicorn ({exc.name} is missing): pip install 'calfrules[serve]'"
        ) from None
    if no_audit and audit_url:
        raise CalfrulesError("--audit and --no-audit contradict each other: give one")
    if token is not None and not token.strip():
        raise CalfrulesError(f"the token is empty: give --token TEXT or unset ${TOKEN_ENV}")
    engine = load_cli_engine(ctx, screen=screen)
    store = None
    if not no_audit:
        from calfrules.audit import open_audit

        store = open_audit(audit_url)
    app = create_app(
        engine,
        audit=store,
        token=token,
        max_body_bytes=max_body,
        timeout_s=timeout,
        cors_origins=cors_origins,
    )
    where = f"audit trail {store.url}" if store is not None else "NO audit trail"
    auth = "bearer token required" if token else "no authentication"
    click.echo(f"calfrules: serving on http://{host}:{port} ({auth}; {where})", err=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo("calfrules: warning: listening beyond this machine without a token", err=True)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; exit through
    # Python then, so the engine's child process and the audit store are closed below.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=host, port=port, log_level=os.environ.get("CALFRULES_LOG_LEVEL", "warning"))
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.close()
        if store is not None:
            store.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # a requested, graceful stop
