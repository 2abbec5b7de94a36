"""``calfrules serve``: the HTTP service (CDS Hooks + POST /assess), on uvicorn."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import click
from click.core import ParameterSource

from calfrules.cli._common import load_cli_engine, named_rulesets, screen_option
from calfrules.rules.errors import CalfrulesError

TOKEN_ENV = "CALFRULES_TOKEN"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_HEADER_TIMEOUT_S = 10.0  # as calfrules.service.server (not imported: it needs uvicorn)
DEFAULT_BODY_TIMEOUT_S = 10.0


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
    help=f"Require 'Authorization: Bearer TEXT' on every endpoint but /health. Prefer ${TOKEN_ENV} or "
    "--token-file: a command line is visible to every user in `ps`.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the bearer token from this file's first line.",
)
@click.option(
    "--cds-issuers",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file of the EHRs trusted to sign CDS Hooks requests (format: the README's Signed requests section); "
    "/cds-services then needs their signed JWT, and --token covers the other endpoints.",
)
@click.option(
    "--audit",
    "audit_url",
    metavar="URL",
    help="Audit trail to record into: sqlite:///file.db or postgresql://... (default: $CALFRULES_AUDIT, "
    "else the user data folder's audit.sqlite3). A password belongs in $CALFRULES_AUDIT or --audit-url-file.",
)
@click.option(
    "--audit-url-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the audit trail URL from this file's first line (keeps a password out of `ps`).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="URL",
    help="A web origin allowed to call the service from a browser, e.g. https://ehr.example.org (repeatable).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host header value to answer, e.g. cds.example.org or *.example.org (repeatable); others get 400. "
    "Default on a loopback address: 127.0.0.1, localhost, ::1; elsewhere required unless '*'.",
)
@click.option(
    "--code-map",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file mapping the EHR's own codes to finding ids, for CDS Hooks FHIR data "
    "(format: the README's FHIR input section).",
)
@click.option(
    "--fhir-server",
    "fhir_servers",
    multiple=True,
    metavar="URL",
    help="A FHIR server base URL that CDS Hooks calls may have the service read missing prefetch from "
    "(their fhirServer; repeatable). None: a call missing prefetch gets 412.",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The service's URL as EHRs reach it (https://cds.example.org), for the cards' source and links "
    "(default: the --cds-issuers file's base_url, else http:// and the request's Host).",
)
@click.option("--no-audit", is_flag=True, help="Keep no audit trail (CDS Hooks feedback then cannot be recorded).")
@click.option(
    "--max-body", default=1_000_000, show_default=True, type=click.IntRange(1), help="Largest request body, bytes."
)
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1), help="Longest an assessment may take, s."
)
@click.option(
    "--header-timeout",
    default=DEFAULT_HEADER_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Longest a client may take to send a request's headers, s (then 408).",
)
@click.option(
    "--body-timeout",
    default=DEFAULT_BODY_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Longest a client may take to send a request's body, s (then 408).",
)
@click.option(
    "--keep-alive-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="An idle keep-alive connection is closed after this many seconds.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes, each with its own engine and audit connection (about one per CPU core).",
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
    token_file: str | None,
    cds_issuers: str | None,
    audit_url: str | None,
    audit_url_file: str | None,
    cors_origins: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    code_map: str | None,
    fhir_servers: tuple[str, ...],
    public_url: str | None,
    no_audit: bool,
    max_body: int,
    timeout: float,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: int,
    workers: int,
    screen: str,
) -> None:
    """Serve assessments over HTTP: CDS Hooks (/cds-services) and POST /assess.

    Needs the serve extra: pip install 'calfrules[serve]'. The OpenAPI description is at
    /openapi.json (behind the token like every endpoint but /health). Binds to localhost
    unless --host says otherwise.

    \b
    Examples:
      calfrules serve --port 8080
      CALFRULES_TOKEN=s3cret calfrules serve --audit sqlite:////var/lib/calfrules/audit.db
      calfrules serve --host 0.0.0.0 --allowed-host cds.example.org --token-file /etc/calfrules/token --workers 2
      curl -s localhost:8080/assess -H 'Content-Type: application/json' -d '{"findings": {"calf_pain": true}}'
    """
    try:
        import uvicorn

        from calfrules.service import create_app
        from calfrules.service.server import CONFIG_ATTRIBUTE, HTTP_PROTOCOL, SETTINGS_ENV, settle_heap
    except ImportError as exc:
        raise CalfrulesError(
            f"the service needs FastAPI and uvicorn ({exc.name} is missing): pip install 'calfrules[serve]'"
        ) from None
    token = _secret(ctx, "token", token, token_file, f"${TOKEN_ENV}")
    if token is not None and not token.strip():
        raise CalfrulesError(f"the token is empty: give --token-file FILE or set ${TOKEN_ENV}")
    if cds_issuers is not None:
        from calfrules.service.issuers import load_issuers

        cds_issuers = os.path.abspath(cds_issuers)  # the workers read it too
        trusted = load_issuers(cds_issuers)  # a mistake is one line here, not a 401 per request
    if code_map is not None:
        from calfrules.formats.code_map import load_code_map

        code_map = os.path.abspath(code_map)  # the workers read it too
        load_code_map(code_map)  # a mistake is one line here, not a 500 per request (ids: checked below)
    if public_url is not None:
        public_url = _public_url(public_url)
    audit_url = _secret(ctx, "audit_url", audit_url, audit_url_file, "$CALFRULES_AUDIT")
    if no_audit and audit_url:
        raise CalfrulesError("--audit and --no-audit contradict each other: give one")
    hosts = hosts_for(host, allowed_hosts)
    if not hosts:
        raise CalfrulesError(
            f"serving on {host} needs --allowed-host NAME (the name clients use, e.g. cds.example.org), "
            "or --allowed-host '*' to answer any Host header"
        )
    engine = load_cli_engine(ctx, screen=screen)
    if code_map is not None:
        load_code_map(code_map, engine.vocabulary)  # every finding it names must be one the engine knows
    store = None
    if not no_audit:
        from calfrules.audit import open_audit

        store = open_audit(audit_url)
    app_settings: dict[str, Any] = {
        "token": token,
        "max_body_bytes": max_body,
        "timeout_s": timeout,
        "body_timeout_s": body_timeout,
        "cors_origins": list(cors_origins),
        "allowed_hosts": [] if "*" in hosts else hosts,
        "cds_issuers": cds_issuers,
        "code_map": code_map,
        "fhir_servers": list(fhir_servers),
        "public_url": public_url,
    }
    where = f"audit trail {store.url}" if store is not None else "NO audit trail"
    auth = "bearer token required" if token else "no authentication"
    if cds_issuers is not None:
        auth = f"CDS Hooks: JWT from {len(trusted.issuers)} trusted issuer(s); other endpoints: {auth}"
    each = f"; {workers} workers" if workers > 1 else ""
    click.echo(f"calfrules: serving on http://{host}:{port} ({auth}; {where}{each})", err=True)
    if host not in LOOPBACK and not token:
        click.echo("calfrules: warning: listening beyond this machine without a token", err=True)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": os.environ.get("CALFRULES_LOG_LEVEL", "warning"),
        "http": HTTP_PROTOCOL,
        "timeout_keep_alive": keep_alive_timeout,
        "server_header": False,
    }
    if workers > 1:
        # Each worker process loads its own engine and audit store; this one only checked
        # that they load, so a mistake is one line here rather than N tracebacks there.
        # store.url hides a password (for logs); the workers need the URL as given.
        url = audit_url or (store.url if store is not None else None)
        engine.close()
        if store is not None:
            store.close()
        store = None
        rulesets = [os.path.abspath(path) for path in named_rulesets(ctx)]
        settings = {"rulesets": rulesets, "screen": screen, "audit_url": url, "app": app_settings}
        os.environ[SETTINGS_ENV] = json.dumps(settings)  # read by each worker: not on any command line
        config = uvicorn.Config("calfrules.service.server:worker_app", factory=True, workers=workers, **options)
    else:
        app = create_app(engine, audit=store, **app_settings)
        settle_heap()
        config = uvicorn.Config(app, **options)
    setattr(config, CONFIG_ATTRIBUTE, header_timeout)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; exit through
    # Python then, so the engine's child process and the audit store are closed below.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _run(uvicorn, config)
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.close()
        if store is not None:
            store.close()


def _run(uvicorn: Any, config: Any) -> None:
    """What uvicorn.run does, for a Config built here (uvicorn.run builds its own)."""
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise CalfrulesError(f"could not serve on {config.host}:{config.port} (uvicorn's message is above)")


def _public_url(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise CalfrulesError(f"--public-url {url!r}: give the service's base URL, such as https://cds.example.org")
    return url.rstrip("/")


def hosts_for(host: str, given: tuple[str, ...]) -> list[str]:
    """The Host names to answer: those given, or on a loopback address the loopback names."""
    if given:
        return list(given)
    return list(LOOPBACK) if host in LOOPBACK else []


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def _secret(ctx: click.Context, name: str, given: str | None, file: str | None, env: str) -> str | None:
    """A secret from its option, its environment variable or its file (one of them), warning about `ps`."""
    option = "--" + name.replace("_", "-")
    if file is not None:
        if given is not None and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise CalfrulesError(f"{option} and {option}-file contradict each other: give one")
        lines = Path(file).read_text(encoding="utf-8").splitlines()
        value = lines[0].strip() if lines else ""
        if not value:
            raise CalfrulesError(f"{file}: empty; {option}-file needs the value on its first line")
        return value
    on_command_line = given is not None and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    if on_command_line and (name == "token" or _has_password(given or "")):
        click.echo(
            f"calfrules: warning: {option} on the command line is visible to every user (ps); "
            f"use {env} or {option}-file",
            err=True,
        )
    return given


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # a requested, graceful stop
