"""Signed CDS Hooks requests: real keys, real tokens (PyJWT), a real JWKS server on loopback.

Every way a token can be wrong is refused with a 401 (503 when the issuer's keys cannot
be fetched), one line, before the body is read, and nothing is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from calfrules import Engine
from calfrules.audit import AuditStore, open_audit
from calfrules.service import create_app, jwt_auth
from calfrules.service.issuers import IssuerConfigError, load_issuers
from calfrules.service.jwt_auth import AuthRefused
from calfrules.service.jwt_replay import MemoryReplayCache, ReplayCheckFailed, SqlReplayStore
from calfrules.service.requests import SERVICE_ID

BASE = "https://cds.example.org"
CDS = f"/cds-services/{SERVICE_ID}"
EHR = "https://ehr.example.org"  # keys at the JWKS server
EHR_PEM = "https://ehr2.example.org"  # key handed over as a PEM file
EHR_DOWN = "https://ehr3.example.org"  # JWKS server not answering
FINDINGS = {"calf_pain": True, "swelling_unilateral": True}
HOOK = {
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/1", "patientId": "1", "findings": FINDINGS},
}

EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())
P256_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPublicKey) else ECAlgorithm
    return {**algorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig"}


class JwksServer:
    """Serves ``keys`` as a JWKS at /jwks.json on loopback and counts the fetches."""

    def __init__(self) -> None:
        self.keys = [_jwk(EC_KEY.public_key(), "ec-1"), _jwk(RSA_KEY.public_key(), "rsa-1")]
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200 if self.path in ("/jwks.json", "/other.json") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


def write_issuers(folder: Path, jwks_url: str, extra: str = "") -> Path:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (folder / "ehr2.pem").write_bytes(pem)
    path = folder / "issuers.toml"
    path.write_text(
        f"""base_url = "{BASE}/"
{extra}
[[issuer]]
iss = "{EHR}"
jwks_url = "{jwks_url}/jwks.json"
jku = ["{jwks_url}/jwks.json"]

[[issuer]]
iss = "{EHR_PEM}"
key_file = "ehr2.pem"
kid = "ehr2-key"

[[issuer]]
iss = "{EHR_DOWN}"
jwks_url = "http://127.0.0.1:{_closed_port()}/jwks.json"
"""
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with open_audit(f"sqlite:///{tmp_path / 'audit.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def client(
    engine: Engine, store: AuditStore, jwks: JwksServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(jwt_auth, "JWKS_COOLDOWN_S", 3600.0)  # no refetch on an unknown kid within a test
    app = create_app(engine, audit=store, token="s3cret", cds_issuers=write_issuers(tmp_path, jwks.url))
    with TestClient(app) as test_client:
        yield test_client


def mint(
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str | None = "ec-1",
    path: str = CDS,
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {"iss": EHR, "aud": BASE + path, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4()), **claims}
    for name in drop:
        del payload[name]
    extra = {"kid": kid, **(headers or {})} if kid is not None else headers
    return jwt.encode(payload, key, algorithm=alg, headers=extra)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key() -> str:
    """The old algorithm-confusion attack: HMAC keyed with the issuer's public key PEM."""
    secret = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": EHR_PEM, "aud": BASE + CDS, "iat": now, "exp": now + 60, "jti": "x"}
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'ehr2-key'}).encode())}.{_b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- accepted -----------------------------------------------------------------------
def test_a_valid_es384_token_from_the_jwks_gets_a_card_and_is_recorded_once(
    client: TestClient, store: AuditStore, jwks: JwksServer
) -> None:
    response = client.post(CDS, json=HOOK, headers=bearer(mint()))
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert card["indicator"] == "critical" and store.count() == 1
    for _ in range(3):  # the JWKS is cached: fetched once for all of them
        assert client.post(CDS, json=HOOK, headers=bearer(mint())).status_code == 200
    assert jwks.fetches == 1 and store.count() == 4


def test_rs384_from_a_pem_key_file_and_a_jku_on_the_allow_list_are_accepted(
    client: TestClient, jwks: JwksServer
) -> None:
    pem_token = mint(RSA_KEY, "RS384", kid="ehr2-key", iss=EHR_PEM)
    assert client.post(CDS, json=HOOK, headers=bearer(pem_token)).status_code == 200
    jku_token = mint(RSA_KEY, "RS384", kid="rsa-1", headers={"jku": f"{jwks.url}/jwks.json"})
    assert client.post(CDS, json=HOOK, headers=bearer(jku_token)).status_code == 200


def test_discovery_and_feedback_take_a_token_for_their_own_url(client: TestClient) -> None:
    discovery = client.get("/cds-services", headers=bearer(mint(path="/cds-services")))
    assert discovery.status_code == 200 and discovery.json()["services"]
    feedback_path = f"{CDS}/feedback"
    feedback = {
        "feedback": [{"card": "no-such-card", "outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"}]
    }
    passed = client.post(feedback_path, json=feedback, headers=bearer(mint(path=feedback_path)))
    assert passed.status_code != 401  # past the gate: the card is the problem now
    refused = client.post(feedback_path, json=feedback, headers=bearer(mint(path=CDS)))
    assert refused.status_code == 401 and "is not this endpoint's URL" in refused.json()["error"]


def test_the_static_token_stays_for_post_assess_but_not_for_cds_hooks(client: TestClient) -> None:
    assert client.post("/assess", json={"findings": FINDINGS}, headers=bearer("s3cret")).status_code == 200
    assert client.post("/assess", json={"findings": FINDINGS}, headers=bearer(mint())).status_code == 401
    assert client.get("/cds-services", headers=bearer("s3cret")).status_code == 401
    assert client.post(CDS, json=HOOK, headers=bearer("s3cret")).status_code == 401


def test_a_key_rotated_in_at_the_jwks_is_fetched_on_its_unknown_kid(
    engine: Engine, jwks: JwksServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt_auth, "JWKS_COOLDOWN_S", 0.0)
    with TestClient(create_app(engine, cds_issuers=load_issuers(write_issuers(tmp_path, jwks.url)))) as client:
        assert client.post(CDS, json=HOOK, headers=bearer(mint())).status_code == 200
        jwks.keys.append(_jwk(OTHER_EC_KEY.public_key(), "ec-2"))
        rotated = client.post(CDS, json=HOOK, headers=bearer(mint(OTHER_EC_KEY, kid="ec-2")))
    assert rotated.status_code == 200 and jwks.fetches == 2


# --- refused ------------------------------------------------------------------------
def _now() -> int:
    return int(time.time())


REFUSALS: list[tuple[str, Callable[[], dict[str, str]], str]] = [
    ("no header", lambda: {}, "needs a signed JWT"),
    ("not bearer", lambda: {"Authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <JWT>'"),
    ("garbage", lambda: bearer("not.a.jwt"), "not a well-formed JWT"),
    ("one segment", lambda: bearer("abc"), "not a well-formed JWT"),
    ("alg none", lambda: bearer(mint(None, "none")), "alg 'none' is not accepted"),
    ("hs256 with the public key", lambda: bearer(hs256_with_public_key()), "alg 'HS256' is not accepted"),
    ("wrong key", lambda: bearer(mint(OTHER_EC_KEY)), "signature does not verify"),
    ("unknown kid", lambda: bearer(mint(kid="nobody")), "has no key with kid 'nobody'"),
    ("no kid", lambda: bearer(mint(kid=None)), "no 'kid'"),
    ("unknown iss", lambda: bearer(mint(iss="https://evil.example.org")), "not one this service trusts"),
    (
        "wrong aud",
        lambda: bearer(mint(aud="https://elsewhere.example.org/cds-services/x")),
        "is not this endpoint's URL",
    ),
    ("discovery aud on the service", lambda: bearer(mint(aud=BASE + "/cds-services")), "is not this endpoint's URL"),
    ("missing aud", lambda: bearer(mint(drop=("aud",))), "no 'aud' claim"),
    ("missing iss", lambda: bearer(mint(drop=("iss",))), "no 'iss' claim"),
    ("missing exp", lambda: bearer(mint(drop=("exp",))), "no 'exp' claim"),
    ("missing iat", lambda: bearer(mint(drop=("iat",))), "no 'iat' claim"),
    ("missing jti", lambda: bearer(mint(drop=("jti",))), "no 'jti' claim"),
    ("empty jti", lambda: bearer(mint(jti="")), "jti must be a non-empty string"),
    ("expired", lambda: bearer(mint(iat=_now() - 600, exp=_now() - 300)), "has expired"),
    ("iat in the future", lambda: bearer(mint(iat=_now() + 600, exp=_now() + 660)), "iat is in the future"),
    ("valid for a day", lambda: bearer(mint(exp=_now() + 86_400)), "at most 300 s"),
    ("jku not allowed", lambda: bearer(mint(headers={"jku": "https://evil.example.org/jwks"})), "allow list"),
    ("typ not JWT", lambda: bearer(mint(headers={"typ": "at+jwt"})), "typ"),
    ("rsa alg on an ec key", lambda: bearer(mint(RSA_KEY, "RS384", kid="ec-1")), "does not fit key 'ec-1'"),
    ("es256 not trusted", lambda: bearer(mint(P256_KEY, "ES256")), "not 'ES256'"),
]


@pytest.mark.parametrize(("name", "headers", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_every_wrong_token_is_a_one_line_401_and_nothing_is_recorded(
    client: TestClient, store: AuditStore, name: str, headers: Callable[[], dict[str, str]], words: str
) -> None:
    response = client.post(CDS, json=HOOK, headers=headers())
    assert response.status_code == 401, (name, response.text)
    message = response.json()["error"]
    assert words in message and "\n" not in message, message
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert store.count() == 0


def test_a_replayed_jti_is_refused_and_recorded_once(client: TestClient, store: AuditStore) -> None:
    token = mint()
    assert client.post(CDS, json=HOOK, headers=bearer(token)).status_code == 200
    again = client.post(CDS, json=HOOK, headers=bearer(token))
    assert again.status_code == 401 and "was already used" in again.json()["error"]
    assert store.count() == 1


def test_an_issuer_whose_jwks_cannot_be_fetched_gets_503_one_line(client: TestClient, store: AuditStore) -> None:
    response = client.post(CDS, json=HOOK, headers=bearer(mint(iss=EHR_DOWN)))
    assert response.status_code == 503 and response.headers["Retry-After"]
    message = response.json()["error"]
    assert message.startswith(f"could not get the keys of issuer '{EHR_DOWN}'") and "\n" not in message
    assert store.count() == 0


def test_the_token_is_checked_before_the_body_is_read(client: TestClient, store: AuditStore) -> None:
    response = client.post(CDS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and store.count() == 0


# --- the replay cache ----------------------------------------------------------------
def test_the_replay_cache_forgets_a_jti_only_after_its_token_could_not_be_accepted() -> None:
    now = [1000.0]
    cache = MemoryReplayCache(size=2, clock=lambda: now[0])
    assert cache.first_use("iss", "a", until=1100.0)
    assert not cache.first_use("iss", "a", until=1100.0)
    assert cache.first_use("other-iss", "a", until=1100.0)  # a jti belongs to its issuer
    with pytest.raises(ReplayCheckFailed, match="too many to check"):  # full: refuse, never forget one early
        cache.first_use("iss", "b", until=1100.0)
    now[0] = 1101.0
    assert cache.first_use("iss", "b", until=1200.0) and len(cache) == 1


# --- the issuers file ------------------------------------------------------------------
BAD_FILES = [
    ('base_url = "https://x"\n', "issuer"),
    ('base_url = "ftp://x"\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\n', "not an http(s) URL"),
    ('base_url = "https://x"\n[[issuer]]\niss = "a"\n', "exactly one of jwks_url"),
    ('base_url = "https://x"\n[[issuer]]\niss = "a"\njwks_url = "http://ehr.example.org/j"\n', "must be https"),
    ('base_url = "https://x"\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\nalgorithms = ["HS256"]\n', "HS256"),
    (
        'base_url = "https://x"\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\njwks_ur = "x"\n',
        "unknown key 'jwks_ur'",
    ),
    ('base_url = "https://x"\n[[issuer]]\niss = "a"\nkey_file = "missing.pem"\n', "cannot read key_file"),
    ('base_url = "https://x"\n[[issuer]]\niss = "a"\nkey_file = "private.pem"\n', "private key"),
    (
        'base_url = "https://x"\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\n'
        '[[issuer]]\niss = "a"\njwks_url = "https://a/k"\n',
        "listed twice",
    ),
    ('base_url = "https://x"\nleeway_s = -1\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\n', "leeway_s"),
    (
        'base_url = "https://x"\nreplay_store = "mysql://db"\n[[issuer]]\niss = "a"\njwks_url = "https://a/j"\n',
        "replay_store",
    ),
    ("base_url = [", "not valid TOML (Invalid value (at end of document))"),
]


@pytest.mark.parametrize(("text", "words"), BAD_FILES)
def test_a_bad_issuers_file_is_one_clear_error(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "private.pem").write_bytes(
        EC_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path = tmp_path / "issuers.toml"
    path.write_text(text)
    with pytest.raises(IssuerConfigError) as error:
        load_issuers(path)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_the_example_issuers_file_loads() -> None:
    trusted = load_issuers(Path(__file__).resolve().parent.parent / "examples" / "cds-issuers.toml")
    assert trusted.base_url == "https://cds.example.org" and "https://ehr.example.org" in trusted.issuers


def test_a_jwks_key_file_selects_keys_by_kid(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [_jwk(EC_KEY.public_key(), "ec-1")]}))
    (tmp_path / "issuers.toml").write_text(f'base_url = "{BASE}"\n[[issuer]]\niss = "{EHR}"\nkey_file = "keys.json"\n')
    verifier = jwt_auth.JwtVerifier(load_issuers(tmp_path / "issuers.toml"))
    assert verifier.verify(f"Bearer {mint()}".encode(), CDS).kid == "ec-1"
    with pytest.raises(AuthRefused, match="has no key with kid 'rsa-1'"):
        verifier.verify(f"Bearer {mint(RSA_KEY, 'RS384', kid='rsa-1')}".encode(), CDS)


def test_serve_refuses_a_bad_issuers_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "issuers.toml").write_text('base_url = "https://x"\n[[issuer]]\niss = "a"\n')
    result = subprocess.run(
        [sys.executable, "-m", "calfrules", "serve", "--no-audit", "--cds-issuers", str(tmp_path / "issuers.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("calfrules: error: ") and "exactly one of jwks_url" in last


# --- a replay store shared by processes ----------------------------------------------------
def test_a_token_used_at_one_worker_is_refused_at_another_sharing_the_sqlite_store(
    engine: Engine, jwks: JwksServer, tmp_path: Path
) -> None:
    issuers = write_issuers(tmp_path, jwks.url, extra='replay_store = "sqlite:///jti.sqlite3"')
    assert load_issuers(issuers).replay_store == f"sqlite:///{tmp_path / 'jti.sqlite3'}"  # beside the file
    token = mint()
    with (
        TestClient(create_app(engine, cds_issuers=issuers)) as first,
        TestClient(create_app(engine, cds_issuers=issuers)) as second,
    ):
        assert first.post(CDS, json=HOOK, headers=bearer(token)).status_code == 200
        replayed = second.post(CDS, json=HOOK, headers=bearer(token))
        assert replayed.status_code == 401 and "was already used" in replayed.json()["error"]
        assert second.post(CDS, json=HOOK, headers=bearer(mint())).status_code == 200


def test_an_expired_entry_in_the_shared_store_makes_room_for_its_pair_again(tmp_path: Path) -> None:
    now = [1000.0]
    one = SqlReplayStore(f"sqlite:///{tmp_path / 'jti.sqlite3'}", clock=lambda: now[0])
    other = SqlReplayStore(f"sqlite:///{tmp_path / 'jti.sqlite3'}", clock=lambda: now[0])
    assert one.first_use("iss", "a", until=1100.0)
    assert not other.first_use("iss", "a", until=1100.0)
    assert other.first_use("other-iss", "a", until=1100.0)
    now[0] = 1101.0  # its token can no longer be accepted, so neither can a replay of it
    assert other.first_use("iss", "a", until=1200.0) and not one.first_use("iss", "a", until=1200.0)


def test_a_replay_store_that_cannot_be_reached_refuses_with_503(
    engine: Engine, store: AuditStore, jwks: JwksServer, tmp_path: Path
) -> None:
    issuers = write_issuers(tmp_path, jwks.url, extra='replay_store = "sqlite:///no-such-folder/jti.sqlite3"')
    with TestClient(create_app(engine, audit=store, cds_issuers=issuers)) as client:
        response = client.post(CDS, json=HOOK, headers=bearer(mint()))
    message = response.json()["error"]
    assert response.status_code == 503 and message.startswith("could not check the token for replay")
    assert "\n" not in message and store.count() == 0


def test_instances_sharing_postgresql_refuse_each_others_replays_and_fail_safe_when_it_stops() -> None:
    from fault_support import postgres_cluster

    with postgres_cluster() as cluster:
        one, other = SqlReplayStore(cluster.url), SqlReplayStore(cluster.url)
        until = time.time() + 60
        assert one.first_use("iss", "a", until) and not other.first_use("iss", "a", until)
        assert other.first_use("iss", "b", until)
        cluster.stop()
        with pytest.raises(ReplayCheckFailed, match="could not check the token for replay"):
            one.first_use("iss", "c", until)


def test_serve_with_two_workers_and_a_shared_store_refuses_every_replay(jwks: JwksServer, tmp_path: Path) -> None:
    import httpx
    from fault_support import free_port, wait_until

    issuers = write_issuers(tmp_path, jwks.url, extra='replay_store = "sqlite:///jti.sqlite3"')
    port = free_port()
    command = [sys.executable, "-m", "calfrules", "serve", "--port", str(port), "--workers", "2", "--no-audit"]
    server = subprocess.Popen([*command, "--cds-issuers", str(issuers)], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, "the service answers /health", seconds=120)
        tokens = [mint() for _ in range(12)]  # a new connection each: the kernel hands each to either worker
        firsts = {httpx.post(base + CDS, json=HOOK, headers=bearer(token)).status_code for token in tokens}
        replays = [httpx.post(base + CDS, json=HOOK, headers=bearer(token)) for token in tokens]
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert firsts == {200}
    assert {r.status_code for r in replays} == {401} and all("already used" in r.json()["error"] for r in replays)
