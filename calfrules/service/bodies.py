"""The service's request and response bodies, each described once.

The app checks requests against these TypedDicts (with msgspec) and reads them typed;
cards.py builds its cards as ``Card`` (mypy checks it); the OpenAPI description publishes
them (``service/schemas.py``). The case and the assessment are described where they live
(``knowledge/case.py``, ``engine/assessment.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

import msgspec
from msgspec import Meta

from calfrules.knowledge.case import CaseId, Findings
from calfrules.rules.levels import Level
from calfrules.rules.shapes import PUBLISHED_AS

SUMMARY_MAX = 139  # CDS Hooks: a card's summary must be under 140 characters
Indicator = Literal["info", "warning", "critical"]


class Error(TypedDict):
    error: Annotated[str, Meta(description="what is wrong and what to fix")]


HealthStatus = Literal["ok", "degraded", "failed"]


class AuditState(TypedDict):
    status: Annotated[
        HealthStatus,
        Meta(description="ok; degraded: writes fail for now and it retries on its own; failed: it cannot record"),
    ]
    detail: Annotated[str, Meta(description="one line on the audit trail's state")]


class Health(TypedDict):
    status: Annotated[HealthStatus, Meta(description="the audit trail's status (the service itself is up)")]
    audit: AuditState


class CdsService(TypedDict):
    hook: str
    id: str
    description: str
    title: NotRequired[str]
    prefetch: NotRequired[dict[str, str]]
    usageRequirements: NotRequired[str]


class CdsDiscovery(TypedDict):
    services: list[CdsService]


# checked with re.search as msgspec does; "$(?!\n)": the very end in Python's regexes and JSON Schema's alike
FHIR_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$(?!\n)"  # FHIR's id type: safe to put in a search URL as it is
UUID_PATTERN = r"^(urn:uuid:)?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$(?!\n)"
FhirResource = Annotated[
    dict[str, Any],
    Meta(
        description="a FHIR R4 resource (JSON), or a searchset Bundle of them",
        extra_json_schema={"required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}},
    ),
]
FhirId = Annotated[str, Meta(pattern=FHIR_ID_PATTERN)]
FHIR_SERVER_PATTERN = r"^https?://\S+$(?!\n)"


class CdsContext(TypedDict, total=False):
    """The patient-view context, plus calfrules' extension: findings given directly."""

    patientId: Required[Annotated[FhirId, Meta(description="the FHIR id of the patient whose chart is open")]]
    userId: Annotated[str, Meta(description="the user, e.g. Practitioner/123")]
    encounterId: Annotated[FhirId, Meta(description="the FHIR id of this visit; the observations' prefetch needs it")]
    findings: Annotated[
        Findings,
        Meta(
            description="calfrules extension: finding id -> value, as `calfrules vocab` lists them; merged with "
            "the findings of the FHIR data (a finding given two different values is refused)"
        ),
    ]
    caseId: Annotated[CaseId, Meta(description="calfrules extension: the case's own id")]
    note: Annotated[str, Meta(description="calfrules extension: free text, never read by the rules")]


class CdsPrefetch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The keys discovery declares (fhir_fetch.PREFETCH); null: no data; left out: the service fetches it."""

    patient: FhirResource | None = None
    observations: FhirResource | None = None
    conditions: FhirResource | None = None
    questionnaireResponses: FhirResource | None = None


class FhirAuthorization(TypedDict):
    """The bearer token the service reads the EHR's FHIR server with (CDS Hooks' fhirAuthorization)."""

    access_token: Annotated[str, Meta(min_length=1)]
    token_type: Literal["Bearer"]
    expires_in: NotRequired[int]
    scope: NotRequired[str]
    subject: NotRequired[str]
    patient: NotRequired[str]


class CdsRequest(TypedDict):
    """A CDS Hooks 2.0 request on the patient-view hook.

    The findings come from the FHIR data (the prefetch, or what the service reads from
    `fhirServer` with `fhirAuthorization` for each key left out) and from `context.findings`
    (calfrules' extension); a request with only `context.findings` needs no FHIR data.
    """

    hook: Literal["patient-view"]
    hookInstance: Annotated[
        str, Meta(pattern=UUID_PATTERN, description="a UUID for this call; the audit record's request id")
    ]
    context: CdsContext
    fhirServer: NotRequired[
        Annotated[str, Meta(pattern=FHIR_SERVER_PATTERN, description="the FHIR server's base URL")]
    ]
    fhirAuthorization: NotRequired[FhirAuthorization]
    prefetch: NotRequired[CdsPrefetch | None]


# the spec: fhirAuthorization needs fhirServer (checked by fhir_fetch.server_of)
CdsRequestSchema = Annotated[
    CdsRequest, Meta(extra_json_schema={"dependentRequired": {"fhirAuthorization": ["fhirServer"]}})
]


class Coding(TypedDict):
    """A CDS Hooks Coding (as FHIR's): a code from a code system."""

    system: str
    code: str
    display: NotRequired[str]


class CardSource(TypedDict):
    label: str
    url: NotRequired[
        Annotated[str, Meta(description="the decisive ruleset's documentation: GET /rulesets/{id} (rules, sources)")]
    ]
    topic: NotRequired[Coding]


class Link(TypedDict):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: NotRequired[str]


class Action(TypedDict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: NotRequired[Annotated[dict[str, Any], Meta(description="a FHIR R4 resource (here a ServiceRequest)")]]
    resourceId: NotRequired[str]


class Suggestion(TypedDict):
    label: str
    uuid: Annotated[str, Meta(description="stable for its card; name it in feedback's acceptedSuggestions")]
    isRecommended: NotRequired[bool]
    actions: NotRequired[list[Action]]


CardExtension = TypedDict(
    "CardExtension",
    {
        "calfrules-level": Annotated[str, Meta(extra={PUBLISHED_AS: Level})],
        "calfrules-complete": Annotated[
            bool, Meta(description="false when a plugin or the rule engine failed; the level is then urgent or above")
        ],
        "calfrules-screen-complete": Annotated[
            bool,
            Meta(
                description="false while a red-flag screening question for this case is unanswered; "
                "the detail lists them near the top"
            ),
        ],
    },
)


class Card(TypedDict):
    summary: Annotated[str, Meta(max_length=SUMMARY_MAX)]
    indicator: Indicator
    source: CardSource
    uuid: NotRequired[
        Annotated[str, Meta(description="the audit record's id (chosen before the write, so a retried write keeps it)")]
    ]
    detail: NotRequired[Annotated[str, Meta(description="markdown: level, reasons, red flags, advice, sources")]]
    suggestions: NotRequired[list[Suggestion]]
    selectionBehavior: NotRequired[Literal["at-most-one", "any"]]
    overrideReasons: NotRequired[list[Coding]]
    links: NotRequired[list[Link]]
    extension: NotRequired[CardExtension]


class CdsResponse(TypedDict):
    cards: list[Card]


class AcceptedSuggestion(TypedDict):
    id: str


class FeedbackCoding(TypedDict):
    code: str
    system: NotRequired[str]
    display: NotRequired[str]


class OverrideReason(TypedDict, total=False):
    reason: Annotated[FeedbackCoding, Meta(description="one of the card's overrideReasons")]
    userComment: Annotated[str, Meta(max_length=10000)]


class CdsFeedback(TypedDict):
    card: Annotated[str, Meta(description="the uuid of the card")]
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: Annotated[
        str, Meta(description="ISO 8601 date and time with a UTC offset", extra_json_schema={"format": "date-time"})
    ]
    acceptedSuggestions: NotRequired[list[AcceptedSuggestion]]
    overrideReason: NotRequired[OverrideReason]
    clinician: NotRequired[
        Annotated[str, Meta(max_length=10000, description="calfrules extension: who gave the feedback")]
    ]


class CdsFeedbackRequest(TypedDict):
    feedback: Annotated[list[CdsFeedback], Meta(min_length=1, max_length=100)]


class FeedbackResult(TypedDict):
    recorded: Annotated[int, Meta(ge=0)]


class RulesetSummary(TypedDict):
    id: str
    version: str
    title: str
    plugin: Annotated[str | None, Meta(description="the plugin that brought it; null: a file the service was given")]
    hash: Annotated[str, Meta(description="sha256 of its content, as in an assessment's provenance")]


class RulesetListing(TypedDict):
    rulesets: list[RulesetSummary]


class RuleDoc(TypedDict):
    id: str
    description: str
    when: Annotated[str, Meta(description="the condition, in calfrules' rule language")]
    conclude: str | None
    escalate: Level | None
    rationale: str
    references: Annotated[list[str], Meta(description="ids of the ruleset's references")]


class FloorDoc(TypedDict):
    id: str
    label: str
    when: str
    level: Level
    references: list[str]


class ReferenceDoc(TypedDict):
    id: str
    citation: str
    url: str | None


class RulesetDoc(RulesetSummary):
    """A ruleset's documentation: what a card's source.url shows."""

    description: str
    authors: list[str]
    rules: list[RuleDoc]
    floor: Annotated[
        list[FloorDoc], Meta(description="the lowest level each red-flag sign may give, whatever the rules")
    ]
    references: list[ReferenceDoc]


# Every body the OpenAPI description publishes, besides the case and the assessment.
BODIES: tuple[Any, ...] = (
    Error,
    Health,
    CdsDiscovery,
    CdsRequestSchema,
    CdsResponse,
    CdsFeedbackRequest,
    FeedbackResult,
    RulesetListing,
    RulesetDoc,
)
