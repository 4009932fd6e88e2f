"""All SQLModel tables; importing this package registers every table on ``SQLModel.metadata``."""

from storage.models.broadcast import Broadcast, BroadcastBudget, BroadcastRecipient
from storage.models.claims import ClaimCase, ClaimHelpRequest
from storage.models.core import AuditEntry, Conversation, ProcessedUpdate, Role, User
from storage.models.coverage import (
    LookupFailure,
    PaymentReminder,
    RosterEntry,
    RosterImport,
)
from storage.models.facilitator import (
    AttributionCode,
    AttributionKind,
    ConsentLink,
    Facilitator,
    FacilitatorDesa,
    FacilitatorInvitation,
    LinkState,
    SubmissionAttribution,
)
from storage.models.registration import (
    Consent,
    ConsentKind,
    EntryRole,
    Submission,
    SubmissionStatus,
)

__all__ = [
    "AttributionCode",
    "AttributionKind",
    "AuditEntry",
    "Broadcast",
    "BroadcastBudget",
    "BroadcastRecipient",
    "ClaimCase",
    "ClaimHelpRequest",
    "Consent",
    "ConsentKind",
    "ConsentLink",
    "Conversation",
    "EntryRole",
    "Facilitator",
    "FacilitatorDesa",
    "FacilitatorInvitation",
    "LinkState",
    "LookupFailure",
    "PaymentReminder",
    "ProcessedUpdate",
    "Role",
    "RosterEntry",
    "RosterImport",
    "Submission",
    "SubmissionAttribution",
    "SubmissionStatus",
    "User",
]
