"""Users, conversation state, processed updates and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from storage.models import AuditEntry, Conversation, ProcessedUpdate, Role, User
from storage.repos.base import Repository
from storage.types import utcnow

LAST_SEEN_RESOLUTION = timedelta(minutes=30)


class UserRepository(Repository):
    """Telegram users: language, role, reachability."""

    async def get(self, user_id: int) -> User | None:
        """The user, or None if they never wrote to the bot."""
        return await self.session.get(User, user_id)

    async def touch(self, *, user_id: int, language: str, role: Role | None = None) -> User:
        """Return the user, creating them with ``language`` on first contact.

        ``last_seen_at`` is only rewritten every half hour so that a busy user does not cost a write
        per message. A user who writes again is reachable again.
        """
        user = await self.session.get(User, user_id)
        now = utcnow()
        if user is None:
            user = User(id=user_id, language=language, role=(role or Role.WORKER).value)
            self.session.add(user)
            return user
        if user.unreachable or now - user.last_seen_at > LAST_SEEN_RESOLUTION:
            user.last_seen_at = now
            user.unreachable = False
        if role is not None and user.role != role.value:
            user.role = role.value
        return user

    async def set_language(self, *, user_id: int, language: str) -> None:
        """Store the user's chosen language."""
        await self.session.exec(
            update(User).where(col(User.id) == user_id).values(language=language)
        )

    async def set_role(self, *, user_id: int, role: Role) -> None:
        """Change a user's role, creating the user row when needed."""
        user = await self.session.get(User, user_id)
        if user is None:
            self.session.add(User(id=user_id, role=role.value))
        else:
            user.role = role.value

    async def ids_with_role(self, role: Role) -> Sequence[int]:
        """Ids of every user with ``role``."""
        result = await self.session.exec(select(User.id).where(col(User.role) == role.value))
        return result.all()

    async def mark_unreachable(self, *, user_id: int) -> None:
        """Remember that the user blocked the bot (403), so nothing retries forever."""
        await self.session.exec(
            update(User).where(col(User.id) == user_id).values(unreachable=True)
        )


class ConversationRepository(Repository):
    """The conversation step of each user."""

    async def lock(self, user_id: int) -> Conversation:
        """The user's conversation row, locked for this transaction (created when missing).

        On PostgreSQL ``FOR UPDATE`` serialises one user's updates across several bot processes; on
        SQLite the whole transaction already holds the write lock.
        """
        stmt = select(Conversation).where(col(Conversation.user_id) == user_id)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        conv = (await self.session.exec(stmt)).first()
        if conv is None:
            conv = Conversation(user_id=user_id, state=None, data={})
            self.session.add(conv)
            await self.session.flush()
        return conv

    async def get(self, user_id: int) -> Conversation | None:
        """The user's conversation row without locking it."""
        return await self.session.get(Conversation, user_id)

    async def save(self, conv: Conversation, *, state: str | None, data: dict[str, Any]) -> None:
        """Store the new state and scratch data, bumping the version."""
        conv.state = state
        conv.data = dict(data)
        conv.version += 1
        conv.updated_at = utcnow()
        self.session.add(conv)


class UpdateRepository(Repository):
    """Processed update ids (exactly-once processing) and the replies awaiting confirmation."""

    async def get(self, update_id: int) -> ProcessedUpdate | None:
        """The record of an already processed update, or None."""
        return await self.session.get(ProcessedUpdate, update_id)

    async def record(
        self, *, update_id: int, chat_id: int | None, replies: list[dict[str, Any]] | None
    ) -> None:
        """Remember that ``update_id`` was processed and what the bot will answer."""
        self.session.add(
            ProcessedUpdate(
                update_id=update_id, chat_id=chat_id, replies=replies, sent=not replies
            )
        )

    async def mark_sent(self, update_ids: Sequence[int]) -> None:
        """Confirm the replies of these updates reached Telegram; drop their copies."""
        if update_ids:
            await self.session.exec(
                update(ProcessedUpdate)
                .where(col(ProcessedUpdate.update_id).in_(update_ids))
                .values(sent=True, replies=None)
            )

    async def prune(self, *, older_than: datetime) -> int:
        """Forget processed updates older than ``older_than`` (Telegram keeps updates 24 h)."""
        result = await self.session.exec(
            delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < older_than)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class AuditRepository(Repository):
    """The audit log of privileged actions."""

    async def record(
        self,
        *,
        actor_id: int | None,
        action: str,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry."""
        self.session.add(
            AuditEntry(actor_id=actor_id, action=action, target=target, details=details or {})
        )

    async def latest(self, *, limit: int = 20, offset: int = 0) -> Sequence[AuditEntry]:
        """The newest entries first."""
        stmt = (
            select(AuditEntry)
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def count(self) -> int:
        """How many entries there are."""
        result = await self.session.exec(select(func.count()).select_from(AuditEntry))
        return int(result.one())
