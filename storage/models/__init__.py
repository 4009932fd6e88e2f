"""All SQLModel tables; importing this package registers every table on ``SQLModel.metadata``."""

from storage.models.core import AuditEntry, Conversation, ProcessedUpdate, Role, User

__all__ = ["AuditEntry", "Conversation", "ProcessedUpdate", "Role", "User"]
