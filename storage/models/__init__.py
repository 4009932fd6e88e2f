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
from storage.models.registration import (
    Consent,
    ConsentKind,
    EntryRole,
    Submission,
    SubmissionStatus,
)

__all__ = [
    "AuditEntry",
    "Broadcast",
    "BroadcastBudget",
    "BroadcastRecipient",
    "ClaimCase",
    "ClaimHelpRequest",
    "Consent",
    "ConsentKind",
    "Conversation",
    "EntryRole",
    "LookupFailure",
    "PaymentReminder",
    "ProcessedUpdate",
    "Role",
    "RosterEntry",
    "RosterImport",
    "Submission",
    "SubmissionStatus",
    "User",
]
