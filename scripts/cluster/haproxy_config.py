"""Render deploy/haproxy.cfg.template: for the loopback cluster, or for Docker compose.

``python scripts/cluster/haproxy_config.py --write-deploy`` regenerates deploy/haproxy.cfg;
tests/test_cluster.py fails when the committed file differs from a fresh rendering.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "haproxy.cfg.template"
DEPLOY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
COMPOSE_INSTANCES = ("calfrules1", "calfrules2", "calfrules3")  # service names in deploy/compose.yaml
COMPOSE_PORT = 8080
# what a POST is retried on (see the template); run_cluster.py --post-retry-on measures others
POST_RETRY_ON = "conn-failure empty-response"


def render(
    servers: list[tuple[str, str]],
    *,
    bind: str,
    stats_socket: str,
    rendering: str,
    single_bind: str | None = None,
    server_options: str = "",
    post_retry_on: str = POST_RETRY_ON,
) -> str:
    """The config for ``servers`` (name, host:port); ``single_bind`` adds a one-instance frontend."""
    assess = "\n".join(f"    server {name} {address}" for name, address in servers)
    reads = "\n".join(f"    server {name} {address} track assess/{name}{server_options}" for name, address in servers)
    single_frontend = single_backend = ""
    if single_bind is not None:
        first, address = servers[0]
        # the same first instance alone, for the 1-against-3 throughput figure
        single_frontend = (
            "\n# the first instance alone (throughput: 1 instance against all), not for clinics\n"
            "frontend calfrules_single\n"
            f"    bind {single_bind}\n"
            "    http-request capture req.hdr(x-request-id) len 100\n"
            "    default_backend single\n"
        )
        single_backend = (
            "\nbackend single\n"
            f"    retry-on {post_retry_on}\n"
            "    option http-server-close\n"
            "    http-response set-header X-Calfrules-Instance %[srv_name]\n"
            f"    server {first} {address} track assess/{first}\n"
        )
    text = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        rendering=rendering,
        stats_socket=stats_socket,
        bind=bind,
        single_frontend=single_frontend,
        server_options=server_options,
        post_retry_on=post_retry_on,
        assess_servers=assess,
        read_servers=reads,
        single_backend=single_backend,
    )
    return text.rstrip("\n") + "\n"


def deploy_config() -> str:
    """deploy/haproxy.cfg: the compose services by name, resolved by Docker's DNS."""
    servers = [(f"s{n}", f"{host}:{COMPOSE_PORT}") for n, host in enumerate(COMPOSE_INSTANCES, 1)]
    return (
        render(
            servers,
            bind=":8080",
            stats_socket="/tmp/haproxy.sock",
            rendering="rendering for deploy/compose.yaml: generated, do not edit",
            # an instance not started yet must not stop HAProxy from starting
            server_options=" init-addr last,libc,none resolvers docker",
        )
        + DOCKER_RESOLVERS
    )


DOCKER_RESOLVERS = """
# Docker's embedded DNS: an instance recreated with a new address is found again
resolvers docker
    nameserver dns 127.0.0.11:53
    hold valid 5s
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write-deploy", action="store_true", help=f"write {DEPLOY_CONFIG.relative_to(ROOT)}")
    args = parser.parse_args()
    if args.write_deploy:
        DEPLOY_CONFIG.write_text(deploy_config(), encoding="utf-8")
    else:
        print(deploy_config(), end="")


if __name__ == "__main__":
    main()
