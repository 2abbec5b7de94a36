"""The service's request and response bodies, each described once.

The app checks requests against these TypedDicts (with msgspec) and reads them typed;
cards.py builds its cards as ``Card`` (mypy checks it); the OpenAPI description publishes
them (``service/schemas.py``). The case and the assessment are described where they live
(``knowledge/case.py``, ``engine/assessment.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, NotRequired, TypedDict

from msgspec import Meta

from calfrules.knowledge.case import CaseId, CaseInput, Findings
from calfrules.rules.levels import Level
from calfrules.rules.shapes import PUBLISHED_AS

CASE_PREFETCH_KEY: Final = "calfrulesCase"  # CdsPrefetch's one field
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


class CdsContext(TypedDict, total=False):
    findings: Findings
    caseId: Annotated[CaseId, Meta(description="the case's own id")]
    note: str


class CdsPrefetch(TypedDict, total=False):
    calfrulesCase: CaseInput


class CdsRequest(TypedDict):
    """A CDS Hooks request.

    The case comes from exactly one place: `context.findings` (with optional
    `context.caseId` and `context.note`), or `prefetch.calfrulesCase` holding a whole case
    as POST /assess takes it.
    """

    hook: str
    hookInstance: str
    context: CdsContext
    fhirServer: NotRequired[str]
    fhirAuthorization: NotRequired[dict[str, Any]]
    prefetch: NotRequired[CdsPrefetch | None]


_HAS_PREFETCHED_CASE = {"type": "object", "required": [CASE_PREFETCH_KEY]}
# "exactly one place", which no type can say: published as oneOf, checked by requests.case_from_hook
CdsRequestSchema = Annotated[
    CdsRequest,
    Meta(
        extra_json_schema={
            "oneOf": [
                {
                    "properties": {"context": {"required": ["findings"]}},
                    "not": {"required": ["prefetch"], "properties": {"prefetch": _HAS_PREFETCHED_CASE}},
                },
                {
                    "required": ["prefetch"],
                    "properties": {"context": {"not": {"required": ["findings"]}}, "prefetch": _HAS_PREFETCHED_CASE},
                },
            ]
        }
    ),
]


class CardSource(TypedDict):
    label: str
    url: NotRequired[str]


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
    uuid: NotRequired[Annotated[str, Meta(description="the audit record id when the service keeps an audit trail")]]
    detail: NotRequired[Annotated[str, Meta(description="markdown: level, reasons, red flags, advice, sources")]]
    extension: NotRequired[CardExtension]


class CdsResponse(TypedDict):
    cards: list[Card]


class AcceptedSuggestion(TypedDict):
    id: str


class OverrideReason(TypedDict, total=False):
    reason: dict[str, Any]
    userComment: Annotated[str, Meta(max_length=10000)]


class CdsFeedback(TypedDict):
    card: Annotated[str, Meta(description="the uuid of the card")]
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: str
    acceptedSuggestions: NotRequired[list[AcceptedSuggestion]]
    overrideReason: NotRequired[OverrideReason]
    clinician: NotRequired[
        Annotated[str, Meta(max_length=10000, description="calfrules extension: who gave the feedback")]
    ]


class CdsFeedbackRequest(TypedDict):
    feedback: Annotated[list[CdsFeedback], Meta(min_length=1, max_length=100)]


class FeedbackResult(TypedDict):
    recorded: Annotated[int, Meta(ge=0)]


# Every body the OpenAPI description publishes, besides the case and the assessment.
BODIES: tuple[Any, ...] = (
    Error,
    Health,
    CdsDiscovery,
    CdsRequestSchema,
    CdsResponse,
    CdsFeedbackRequest,
    FeedbackResult,
)
