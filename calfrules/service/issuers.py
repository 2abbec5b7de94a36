"""The EHRs trusted to sign CDS Hooks requests, read from a TOML file (``serve --cds-issuers``).

```toml
base_url = "https://cds.example.org"   # as the EHR calls this service; aud = base_url + the endpoint path

[[issuer]]
iss = "https://ehr.example.org"
jwks_url = "https://ehr.example.org/.well-known/jwks.json"   # or key_file = "ehr-public.pem"
```

Everything is checked when the file is read (URLs, algorithms, key files), so a mistake is
one error at start-up rather than a 401 on every request.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from calfrules.rules.errors import CalfrulesError

PublicKey = RSAPublicKey | EllipticCurvePublicKey
# CDS Hooks forbids "none" and every symmetric (HMAC) algorithm; RS384 and ES384 are its recommendation
ASYMMETRIC_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
DEFAULT_ALGORITHMS = ("ES384", "RS384")
LOOPBACK_HOSTS = ("localhost",)


class IssuerConfigError(CalfrulesError):
    """The trusted-issuers file is not valid; says which entry and what to fix."""


class _IssuerEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    iss: str
    jwks_url: str | None = None
    key_file: str | None = None
    kid: str | None = None
    jku: list[str] = []
    algorithms: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_ALGORITHMS))


class _IssuersFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: str
    issuer: list[_IssuerEntry]
    leeway_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 30.0
    max_lifetime_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 300.0
    jwks_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    replay_cache_size: Annotated[int, msgspec.Meta(ge=100, le=10_000_000)] = 100_000
    replay_store: str | None = None


@dataclass(frozen=True)
class Issuer:
    """One trusted EHR: where its keys are, which ``jku`` URLs it may name, which algorithms it signs with."""

    iss: str
    jwks_url: str | None
    keys: dict[str | None, PublicKey] = field(default_factory=dict)  # from key_file; None: a PEM key, any kid
    jku: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS


@dataclass(frozen=True)
class TrustedIssuers:
    """The whole file: the service's base URL, the issuers by ``iss``, and the time limits."""

    base_url: str
    issuers: dict[str, Issuer]
    source: str = "(in memory)"
    leeway_s: float = 30.0
    max_lifetime_s: float = 300.0
    jwks_timeout_s: float = 5.0
    replay_cache_size: int = 100_000
    replay_store: str | None = None  # sqlite:///PATH or postgresql://...; None: this process's memory


def load_issuers(path: str | os.PathLike[str]) -> TrustedIssuers:
    """Read and check a trusted-issuers TOML file; IssuerConfigError says what to fix."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IssuerConfigError(f"{file}: cannot read the trusted-issuers file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IssuerConfigError(f"{file}: not valid TOML ({exc})") from None
    try:
        parsed = msgspec.convert(data, _IssuersFile)
    except msgspec.ValidationError as exc:
        raise IssuerConfigError(f"{file}: {_plain(str(exc))}") from None
    if not parsed.issuer:
        raise IssuerConfigError(f"{file}: no [[issuer]] entry; name at least one EHR to trust")
    base_url = _url(str(file), "base_url", parsed.base_url, https_only=False).rstrip("/")
    if urlsplit(base_url).query or urlsplit(base_url).fragment:
        raise IssuerConfigError(f"{file}: base_url {base_url!r} must not have a query or fragment")
    issuers: dict[str, Issuer] = {}
    for number, entry in enumerate(parsed.issuer, 1):
        where = f"{file}: issuer {number} ({entry.iss!r})"
        issuer = _issuer(file.parent, where, entry)
        if issuer.iss in issuers:
            raise IssuerConfigError(f"{where}: iss is listed twice; give each EHR one entry")
        issuers[issuer.iss] = issuer
    return TrustedIssuers(
        base_url=base_url,
        issuers=issuers,
        source=str(file),
        leeway_s=parsed.leeway_s,
        max_lifetime_s=parsed.max_lifetime_s,
        jwks_timeout_s=parsed.jwks_timeout_s,
        replay_cache_size=parsed.replay_cache_size,
        replay_store=_replay_store(file, parsed.replay_store),
    )


def _replay_store(file: Path, url: str | None) -> str | None:
    """The shared replay store's URL, a relative SQLite path made relative to the issuers file."""
    if url is None:
        return None
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.name:
            raise IssuerConfigError(f"{file}: replay_store {url!r} names no file; give sqlite:///PATH")
        return f"sqlite:///{file.parent / path if not path.is_absolute() else path}"
    if url.startswith(("postgresql://", "postgres://")):
        return url
    raise IssuerConfigError(f"{file}: replay_store must be sqlite:///PATH or postgresql://..., not {url[:40]!r}")


def _issuer(folder: Path, where: str, entry: _IssuerEntry) -> Issuer:
    if not entry.iss.strip():
        raise IssuerConfigError(f"{where}: iss is empty; give the issuer URI the EHR puts in its tokens")
    if (entry.jwks_url is None) == (entry.key_file is None):
        raise IssuerConfigError(f"{where}: give exactly one of jwks_url (the EHR's JWKS URL) or key_file")
    unknown = [name for name in entry.algorithms if name not in ASYMMETRIC_ALGORITHMS]
    if unknown or not entry.algorithms:
        raise IssuerConfigError(
            f"{where}: algorithms {unknown or '[]'} not accepted; choose from {', '.join(ASYMMETRIC_ALGORITHMS)} "
            "(CDS Hooks forbids 'none' and HMAC)"
        )
    jwks_url = _url(where, "jwks_url", entry.jwks_url) if entry.jwks_url is not None else None
    jku = tuple(_url(where, "jku", url) for url in entry.jku)
    keys: dict[str | None, PublicKey] = {}
    if entry.key_file is not None:
        keys = _key_file(where, folder / entry.key_file, entry.kid)
    elif entry.kid is not None:
        raise IssuerConfigError(f"{where}: kid only goes with a PEM key_file; a JWKS names its own kids")
    return Issuer(entry.iss, jwks_url, keys, jku, tuple(entry.algorithms))


def _url(where: str, name: str, url: str, *, https_only: bool = True) -> str:
    """A URL the service fetches keys from: https, or http on this machine only (tests, a local EHR)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IssuerConfigError(f"{where}: {name} {url!r} is not an http(s) URL")
    if https_only and parts.scheme == "http" and not _loopback(parts.hostname):
        raise IssuerConfigError(f"{where}: {name} {url!r} must be https (plain http only for this machine)")
    return url


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_file(where: str, path: Path, kid: str | None) -> dict[str | None, PublicKey]:
    """The public keys in a PEM file (a public key or a certificate) or a JWKS JSON file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IssuerConfigError(f"{where}: cannot read key_file {str(path)!r} ({exc.strerror})") from None
    if data.lstrip().startswith(b"{"):
        if kid is not None:
            raise IssuerConfigError(f"{where}: kid only goes with a PEM key_file; a JWKS names its own kids")
        return _jwks_keys(where, path, data)
    if b"PRIVATE KEY" in data:
        raise IssuerConfigError(f"{where}: key_file {str(path)!r} holds a private key; give the EHR's public key")
    try:
        if b"BEGIN CERTIFICATE" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except ValueError:
        raise IssuerConfigError(
            f"{where}: key_file {str(path)!r} is not a PEM public key, a PEM certificate or a JWKS JSON file"
        ) from None
    if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
        raise IssuerConfigError(f"{where}: key_file {str(path)!r} is a {type(key).__name__}; give an RSA or EC key")
    return {kid: key}


def _jwks_keys(where: str, path: Path, data: bytes) -> dict[str | None, PublicKey]:
    try:
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        if "keys" not in document:  # a single JWK
            document = {"keys": [document]}
        jwks = PyJWKSet.from_dict(document)
    except (ValueError, PyJWKError, PyJWKSetError) as exc:
        raise IssuerConfigError(f"{where}: key_file {str(path)!r} is not a valid JWKS ({exc})") from None
    keys: dict[str | None, PublicKey] = {}
    for jwk in jwks.keys:
        if jwk.public_key_use not in ("sig", None):
            continue
        key = _public(where, path, jwk)
        if not jwk.key_id:
            raise IssuerConfigError(f"{where}: a key in {str(path)!r} has no kid; CDS Hooks tokens select keys by kid")
        keys[jwk.key_id] = key
    if not keys:
        raise IssuerConfigError(f"{where}: {str(path)!r} holds no signing key")
    return keys


def _public(where: str, path: Path, jwk: PyJWK) -> PublicKey:
    key = jwk.key
    if isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
        return key
    kind = "a private key" if hasattr(key, "public_key") else f"a {jwk.key_type} key"
    raise IssuerConfigError(f"{where}: key {jwk.key_id!r} in {str(path)!r} is {kind}; give RSA or EC public keys")


def _plain(message: str) -> str:
    """msgspec's message in TOML words: ``Object contains unknown field `x` - at `$.issuer[0]` ``
    becomes ``unknown key 'x' - at 'issuer[0]'``."""
    for json_words, toml_words in (
        ("Object contains unknown field", "unknown key"),
        ("Object missing required field", "missing key"),
    ):
        message = message.replace(json_words, toml_words)
    return message.replace("`", "'").replace("$.", "")
