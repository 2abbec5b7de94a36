"""The FHIR data of a CDS Hooks call: the prefetch the EHR sent, and fetching what it left out.

Discovery declares ``PREFETCH``. A conforming EHR sends each key it could satisfy (a
resource, a searchset Bundle, or null for no data) and leaves out any it could not (or,
since CDS Hooks 2.0, sends an OperationOutcome saying why). The service then reads the
missing ones from the request's ``fhirServer`` with the ``fhirAuthorization`` bearer token.
When it cannot (no fhirServer, a server the service is not allowed to call, the server
down or refusing), the answer is 412 Precondition Failed, as the CDS Hooks spec asks, with
one line naming the prefetch key and the reason.

Only servers the service was started with (``calfrules serve --fhir-server URL``) are
called: the URL comes from the request, and calling whatever it names would let any
caller make the service send requests inside the clinic's network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from calfrules.formats import questionnaire
from calfrules.formats.code_map import CodeMap
from calfrules.formats.fhir_input import FhirFindings, FhirInputError, findings_from_resources
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import Vocabulary
from calfrules.service.bodies import FHIR_SERVER_PATTERN
from calfrules.service.requests import ServiceError

QUESTIONNAIRE_URL: Final = questionnaire.URL  # the canonical URL of `calfrules export --fhir-questionnaire`
# prefetch key -> template; Observations and QuestionnaireResponses of this visit, Conditions of any time
PREFETCH: Final[dict[str, str]] = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "questionnaireResponses": (
        "QuestionnaireResponse?subject=Patient/{{context.patientId}}&encounter={{context.encounterId}}"
        f"&questionnaire={QUESTIONNAIRE_URL}"
    ),
}
# the resource each key's read or search returns
_EXPECTED: Final[dict[str, str]] = {
    "patient": "Patient",
    "observations": "Observation",
    "conditions": "Condition",
    "questionnaireResponses": "QuestionnaireResponse",
}
_TOKEN = re.compile(r"\{\{context\.(\w+)\}\}")
FETCH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
MAX_RESPONSE_BYTES = 5_000_000
MAX_PAGES = 10
FHIR_JSON = "application/fhir+json"


class PreconditionFailed(ServiceError):
    """412: the FHIR data the service needs is neither in the prefetch nor fetchable."""

    def __init__(self, message: str) -> None:
        super().__init__(412, message)


@dataclass(frozen=True)
class FhirServer:
    """Where to fetch from: the request's fhirServer and its access token (None: the server is open)."""

    base: str
    access_token: str | None


def fill(template: str, context: Mapping[str, Any]) -> str | None:
    """The template with the context's values put in; None when a value it needs is not in the context."""
    missing = [name for name in _TOKEN.findall(template) if not isinstance(context.get(name), str)]
    if missing:
        return None
    return _TOKEN.sub(lambda found: str(context[found[1]]), template)


def prefetched_resources(
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    server: FhirServer | None,
    fetcher: FhirFetcher,
) -> list[tuple[str, dict[str, Any]]]:
    """(prefetch key, resource) for every key that holds data, fetching the keys the EHR left out."""
    given = prefetch or {}  # its keys are PREFETCH's: requests.hook_call refused any other
    # every value given is checked before anything is fetched: a bad one is refused without a fetch
    resources = [
        (key, _checked_resource(key, value))
        for key, value in given.items()
        if value is not None and not _is_failure(value)
    ]
    for key, template in PREFETCH.items():
        if key not in given or _is_failure(given[key]):
            resources.append((key, _fetched(key, template, context, server, fetcher)))
    return resources


def fhir_findings(
    resources: Sequence[tuple[str, dict[str, Any]]], vocabulary: Vocabulary, code_map: CodeMap | None
) -> FhirFindings:
    """The findings of the prefetched resources; a FhirInputError names the prefetch key of the resource it means."""
    try:
        return findings_from_resources([resource for _, resource in resources], vocabulary, code_map)
    except FhirInputError as exc:
        keys = ", ".join(f"resource {n} is prefetch.{key}" for n, (key, _) in enumerate(resources, start=1))
        raise FhirInputError(f"{exc} ({keys})") from None


def _is_failure(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _checked_resource(key: str, value: Any) -> dict[str, Any]:
    """A prefetch value as its template promised: the resource, or a Bundle of them."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise ServiceError(422, f"prefetch.{key} must be a FHIR resource (an object with resourceType) or null")
    expected, kind = _EXPECTED[key], value["resourceType"]
    if kind != expected and (key == "patient" or kind != "Bundle"):
        holds = "the Patient resource" if key == "patient" else f"a Bundle of {expected} resources"
        raise ServiceError(422, f"prefetch.{key} must be {holds} ({PREFETCH[key]}), not a {kind[:40]}")
    return value


def _fetched(
    key: str, template: str, context: Mapping[str, Any], server: FhirServer | None, fetcher: FhirFetcher
) -> dict[str, Any]:
    if server is None:
        raise PreconditionFailed(
            f"prefetch.{key} is missing and the request has no fhirServer to read it from; "
            f"send prefetch.{key} ({template}), or fhirServer and fhirAuthorization"
        )
    relative = fill(template, context)
    if relative is None:
        needed = ", ".join(f"context.{name}" for name in _TOKEN.findall(template) if name not in context)
        raise PreconditionFailed(f"prefetch.{key} is missing and cannot be read without {needed}; send one of them")
    return fetcher.fetch(server, relative, key)


class FhirFetcher:
    """Reads from the FHIR servers it is allowed to call (bases compared exactly, without a final /)."""

    def __init__(self, allowed_servers: Sequence[str] = (), *, timeout_s: float = FETCH_TIMEOUT_S) -> None:
        for base in allowed_servers:
            if not re.search(FHIR_SERVER_PATTERN, base):
                raise CalfrulesError(
                    f"FHIR server {base[:100]!r}: give its base URL, e.g. https://ehr.example.org/fhir"
                )
        self.allowed = {base.rstrip("/") for base in allowed_servers}
        self.timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))

    def fetch(self, server: FhirServer, relative: str, key: str) -> dict[str, Any]:
        """The resource at ``relative``; for a search, one searchset Bundle of every page."""
        base = server.base.rstrip("/")
        if base not in self.allowed:
            raise PreconditionFailed(
                f"prefetch.{key} is missing and this service may not read from fhirServer {base[:100]!r}: "
                "send the prefetch, or start the service with --fhir-server for that server"
            )
        headers = {"Accept": FHIR_JSON}
        if server.access_token is not None:
            headers["Authorization"] = f"Bearer {server.access_token}"
        with httpx.Client(timeout=self.timeout, follow_redirects=False, headers=headers) as client:
            first = self._get(client, f"{base}/{relative}", key)
            if first.get("resourceType") != "Bundle" or key == "patient":
                try:
                    return _checked_resource(key, first)
                except ServiceError as exc:  # the server's answer, not the request, is wrong
                    raise PreconditionFailed(f"the FHIR server's answer for {exc.message}") from None
            entries = list(_entries(first, key))
            page, pages = first, 1
            while (following := _next_link(page)) is not None:
                if not following.startswith(base + "/") or pages >= MAX_PAGES:
                    raise PreconditionFailed(
                        f"prefetch.{key}: the FHIR server's search has more than {MAX_PAGES} pages, or a next "
                        "page on another server; send the prefetch instead"
                    )
                page = self._get(client, following, key)
                entries += _entries(page, key)
                pages += 1
        return _checked_resource(key, {"resourceType": "Bundle", "type": "searchset", "entry": entries})

    def _get(self, client: httpx.Client, url: str, key: str) -> dict[str, Any]:
        where = f"prefetch.{key} is missing and reading it from the FHIR server failed"
        try:
            with client.stream("GET", url) as response:
                if response.status_code != 200:
                    refused = " (the access token was refused)" if response.status_code in (401, 403) else ""
                    raise PreconditionFailed(f"{where}: it answered HTTP {response.status_code}{refused}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise PreconditionFailed(f"{where}: its answer is over {MAX_RESPONSE_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise PreconditionFailed(f"{where}: {type(exc).__name__} ({str(exc)[:120] or 'no answer'})") from None
        try:
            resource = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise PreconditionFailed(f"{where}: its answer is not JSON") from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise PreconditionFailed(f"{where}: its answer is not a FHIR resource")
        return resource


def _entries(bundle: Mapping[str, Any], key: str) -> list[Any]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise PreconditionFailed(f"prefetch.{key}: the FHIR server answered a Bundle whose entry is not a list")
    return entries


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def server_of(request: Any) -> FhirServer | None:
    """The request's fhirServer and access token; ServiceError (400) when they are malformed."""
    if not isinstance(request, dict):
        return None  # not a request at all: hook_call says so
    base = request.get("fhirServer")
    authorization = request.get("fhirAuthorization")
    if base is None:
        if authorization is not None:
            raise ServiceError(400, "fhirAuthorization is given without fhirServer; the spec needs both")
        return None
    if not isinstance(base, str) or not re.search(FHIR_SERVER_PATTERN, base):
        raise ServiceError(400, "fhirServer must be the FHIR server's base URL (http:// or https://)")
    if authorization is None:
        return FhirServer(base, None)
    if not isinstance(authorization, dict):
        raise ServiceError(400, "fhirAuthorization must be an object with access_token and token_type")
    token, kind = authorization.get("access_token"), authorization.get("token_type")
    if not isinstance(token, str) or not token or kind != "Bearer":
        raise ServiceError(400, 'fhirAuthorization needs access_token (text) and token_type "Bearer"')
    return FhirServer(base, token)
