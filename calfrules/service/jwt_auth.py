"""Signed CDS Hooks requests: the JWT an EHR sends, checked as CDS Hooks 2.0 "Trusting CDS Clients" asks.

The header: ``alg`` one the issuer is trusted to use (never ``none``, never HMAC), ``kid``
naming the key, ``typ`` (when sent) ``JWT``, ``jku`` (when sent) on the issuer's allow list.
The payload: ``iss`` a trusted issuer, ``aud`` this endpoint's URL, ``exp`` not passed and
not further off than ``max_lifetime_s``, ``iat`` not in the future, ``jti`` not seen before.
PyJWT checks the signature and the standard claims; this module picks the key and says
in one line what is wrong. Keys come from the issuer's key file or its JWKS URL (PyJWT's
``PyJWKClient``: cached, refetched once on an unknown kid, then not again for a cooldown).

Verification may fetch a JWKS, so ``verify`` blocks: the gate calls it in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWKClient
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKError,
)

from calfrules.service.issuers import ASYMMETRIC_ALGORITHMS, Issuer, PublicKey, TrustedIssuers
from calfrules.service.jwt_replay import MemoryReplayCache, ReplayCheckFailed, ReplayStore, SqlReplayStore

CDS_PREFIX = "/cds-services"
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
MAX_TOKEN_CHARS = 16_384
MAX_JTI_CHARS = 255
JWKS_CACHE_S = 300.0  # a JWKS is refetched after this, or on an unknown kid
JWKS_COOLDOWN_S = 30.0  # ...but an unknown kid refetches at most this often (stops a kid-guessing flood)
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class AuthRefused(Exception):
    """The request is not let in: the status (401, or 503 when the keys cannot be had) and one line."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers: dict[str, str] = dict(CHALLENGE) if status == 401 else {"Retry-After": "5"}


def is_cds_path(path: str) -> bool:
    """Discovery, a service call, or its feedback: the endpoints an EHR calls with a JWT."""
    return path == CDS_PREFIX or path.startswith(CDS_PREFIX + "/")


@dataclass(frozen=True)
class VerifiedToken:
    """Who signed the request (``iss``, the key's ``kid``) and the claims they signed."""

    iss: str
    kid: str
    claims: Mapping[str, Any]


class JwtVerifier:
    """Checks the ``Authorization`` header of a CDS Hooks request against the trusted issuers."""

    def __init__(self, trusted: TrustedIssuers, clock: Callable[[], float] = time.time) -> None:
        self.trusted = trusted
        self.clock = clock
        self.replays: ReplayStore = (
            SqlReplayStore(trusted.replay_store, clock)
            if trusted.replay_store
            else MemoryReplayCache(trusted.replay_cache_size, clock)
        )
        self._clients: dict[str, PyJWKClient] = {}  # one per JWKS URL, shared by issuers naming it
        for issuer in trusted.issuers.values():
            for url in (issuer.jwks_url, *issuer.jku):
                if url is not None and url not in self._clients:
                    self._clients[url] = PyJWKClient(
                        url,
                        lifespan=JWKS_CACHE_S,
                        timeout=trusted.jwks_timeout_s,
                        cooldown_duration=JWKS_COOLDOWN_S,
                        headers={"User-Agent": "calfrules"},
                    )

    def audience(self, path: str) -> str:
        """The ``aud`` a token for this endpoint must carry: the base URL and the path."""
        return self.trusted.base_url + path

    def verify(self, authorization: bytes | None, path: str) -> VerifiedToken:
        """The verified token, or AuthRefused saying in one line what is wrong."""
        token = _bearer(authorization)
        header = _header(token)
        alg, kid = header["alg"], header["kid"]
        issuer, unverified = self._issuer(token)
        if alg not in issuer.algorithms:
            raise AuthRefused(
                f"issuer {issuer.iss!r} is trusted to sign with {', '.join(issuer.algorithms)}, not {alg!r}"
            )
        key = self._key(issuer, kid, header.get("jku"))
        _check_key_fits(key, alg, kid)
        expected = self.audience(path)
        claims = self._decode(token, key, alg, issuer, kid, expected, unverified.get("aud"))
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti.strip() or len(jti) > MAX_JTI_CHARS:
            raise AuthRefused(f"the JWT's jti must be a non-empty string of at most {MAX_JTI_CHARS} characters")
        now = self.clock()
        lifetime = float(claims["exp"]) - now
        limit = self.trusted.max_lifetime_s + self.trusted.leeway_s
        if lifetime > limit:
            raise AuthRefused(
                f"the JWT expires {lifetime:.0f} s from now; this service accepts tokens valid for at most "
                f"{self.trusted.max_lifetime_s:g} s (sign one per request)"
            )
        try:
            first = self.replays.first_use(issuer.iss, jti, float(claims["exp"]) + self.trusted.leeway_s)
        except ReplayCheckFailed as exc:
            raise AuthRefused(str(exc), 503) from None
        if not first:
            raise AuthRefused(f"the JWT's jti {jti[:60]!r} was already used: a CDS Client signs a new JWT per request")
        return VerifiedToken(issuer.iss, kid, claims)

    def _issuer(self, token: str) -> tuple[Issuer, dict[str, Any]]:
        """The trusted issuer named by ``iss``, and the claims as sent (not yet verified)."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except DecodeError as exc:
            raise AuthRefused(f"the bearer token is not a well-formed JWT: {_sentence(exc)}") from None
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthRefused("the JWT has no 'iss' claim; CDS Hooks requires iss, aud, exp, iat and jti")
        issuer = self.trusted.issuers.get(iss)
        if issuer is None:
            raise AuthRefused(f"the JWT's issuer {iss[:120]!r} is not one this service trusts")
        return issuer, unverified

    def _key(self, issuer: Issuer, kid: str, jku: Any) -> PublicKey:
        if jku is not None and jku not in issuer.jku:
            raise AuthRefused(f"the JWT's jku {str(jku)[:120]!r} is not on the allow list of issuer {issuer.iss!r}")
        url = jku if jku is not None else issuer.jwks_url
        if url is None:  # the issuer's keys are in its key file
            key = issuer.keys.get(kid, issuer.keys.get(None))
            if key is None:
                raise AuthRefused(f"issuer {issuer.iss!r} has no key with kid {kid[:60]!r}")
            return key
        client = self._clients[url]
        try:
            client.get_signing_keys()  # the cached set, fetched when stale: a failure here is the server's
        except (PyJWKClientError, PyJWKError) as exc:
            raise AuthRefused(_unfetched(issuer, url, exc), 503) from None
        try:
            jwk = client.get_signing_key(kid)  # refetches once on an unknown kid, unless cooling down
        except PyJWKClientConnectionError as exc:
            raise AuthRefused(_unfetched(issuer, url, exc), 503) from None
        except (PyJWKClientError, PyJWKError):
            raise AuthRefused(f"issuer {issuer.iss!r} has no key with kid {kid[:60]!r} (at {url})") from None
        key = jwk.key
        if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
            raise AuthRefused(f"key {kid[:60]!r} of issuer {issuer.iss!r} is not an RSA or EC public key")
        return key

    def _decode(
        self, token: str, key: PublicKey, alg: str, issuer: Issuer, kid: str, aud: str, sent_aud: Any
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=aud,
                issuer=issuer.iss,
                leeway=self.trusted.leeway_s,
                options={"require": list(REQUIRED_CLAIMS), "verify_sub": False},
            )
        except InvalidSignatureError:
            raise AuthRefused(
                f"the JWT's signature does not verify with key {kid[:60]!r} of issuer {issuer.iss!r}"
            ) from None
        except ExpiredSignatureError:
            raise AuthRefused(
                "the JWT has expired (its exp has passed); a CDS Client signs a fresh one per request"
            ) from None
        except ImmatureSignatureError:
            raise AuthRefused(
                f"the JWT's iat is in the future by more than {self.trusted.leeway_s:g} s: check the EHR's clock"
            ) from None
        except MissingRequiredClaimError as exc:
            raise AuthRefused(
                f"the JWT has no {exc.claim!r} claim; CDS Hooks requires iss, aud, exp, iat and jti"
            ) from None
        except InvalidAudienceError:
            raise AuthRefused(
                f"the JWT's aud {str(sent_aud)[:200]!r} is not this endpoint's URL {aud[:200]!r}"
            ) from None
        except InvalidTokenError as exc:
            raise AuthRefused(f"the JWT is not valid: {_sentence(exc)}") from None


def _bearer(authorization: bytes | None) -> str:
    if not authorization:
        raise AuthRefused("this CDS Hooks endpoint needs a signed JWT: send 'Authorization: Bearer <JWT>'")
    scheme, _, credentials = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        raise AuthRefused("the Authorization header must be 'Bearer <JWT>' (a JWT signed by a trusted EHR)")
    token = credentials.strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthRefused(f"the bearer token must be a JWT of 1 to {MAX_TOKEN_CHARS} characters")
    return token.decode("latin-1")


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except DecodeError as exc:
        raise AuthRefused(f"the bearer token is not a well-formed JWT: {_sentence(exc)}") from None
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS:
        shown = repr(alg)[:40]
        raise AuthRefused(
            f"the JWT's alg {shown} is not accepted: unsigned and HMAC tokens are refused; sign with ES384 or RS384"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthRefused("the JWT header has no 'kid'; CDS Hooks requires it to name the signing key")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise AuthRefused(f"the JWT header's typ is {repr(typ)[:40]}; CDS Hooks requires 'JWT'")
    return header


def _check_key_fits(key: PublicKey, alg: str, kid: str) -> None:
    """An RSA key for RS/PS algorithms, an EC key on the algorithm's own curve for ES ones."""
    if alg.startswith(("RS", "PS")) and isinstance(key, RSAPublicKey):
        return
    if isinstance(key, EllipticCurvePublicKey) and EC_CURVES.get(alg) == key.curve.name:
        return
    kind = "an RSA key" if isinstance(key, RSAPublicKey) else f"an EC key on curve {key.curve.name}"
    raise AuthRefused(f"the JWT's alg {alg} does not fit key {kid[:60]!r}, which is {kind}")


def _unfetched(issuer: Issuer, url: str, exc: Exception) -> str:
    cause = exc.__cause__
    reason = getattr(cause, "reason", None) or cause or exc  # urllib's own words, not PyJWT's wrapping
    return f"could not get the keys of issuer {issuer.iss!r} from {url}: {_sentence(reason)}; try again shortly"


def _sentence(exc: object) -> str:
    """PyJWT's message on one line, without a trailing full stop."""
    return " ".join(str(exc).split())[:200].rstrip(".") or type(exc).__name__
