"""Claim cases (the family's answers and document ticks) and facilitator help requests."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from storage.models.claims import ClaimCase, ClaimCaseStatus, ClaimHelpRequest
from storage.repos.base import Repository

#: The answers :meth:`ClaimRepository.update_case` may change (everything else is bookkeeping).
ANSWER_FIELDS = frozenset(
    {
        "membership",
        "membership_checked",
        "deceased_nik_masked",
        "cause",
        "claimant",
        "heir",
        "closer_heirs",
        "school_children",
        "years_paid",
        "child_levels",
    }
)


class ClaimRepository(Repository):
    """The claim guide's cases and help requests."""

    # -- cases ----------------------------------------------------------------------------------
    async def open_case(self, *, user_id: int) -> ClaimCase | None:
        """The user's open case (the newest, should there be several), or None."""
        stmt = (
            select(ClaimCase)
            .where(col(ClaimCase.user_id) == user_id)
            .where(col(ClaimCase.status) == ClaimCaseStatus.OPEN.value)
            .order_by(col(ClaimCase.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def get_case(self, *, case_id: int, user_id: int) -> ClaimCase | None:
        """The case ``case_id`` if it belongs to ``user_id`` (a user never sees another's case)."""
        case = await self.session.get(ClaimCase, case_id)
        return case if case is not None and case.user_id == user_id else None

    async def start_case(self, *, user_id: int, now: datetime) -> ClaimCase:
        """Close the user's open cases and start a new, empty one (its id is set on return)."""
        await self.session.exec(
            update(ClaimCase)
            .where(col(ClaimCase.user_id) == user_id)
            .where(col(ClaimCase.status) == ClaimCaseStatus.OPEN.value)
            .values(status=ClaimCaseStatus.CLOSED.value, updated_at=now)
        )
        case = ClaimCase(user_id=user_id, created_at=now, updated_at=now)
        self.session.add(case)
        await self.session.flush()
        return case

    async def update_case(self, case: ClaimCase, *, now: datetime, **answers: Any) -> None:
        """Store answers (names from :data:`ANSWER_FIELDS`) on ``case``.

        Raises:
            ValueError: An unknown field name (a programming error).
        """
        unknown = answers.keys() - ANSWER_FIELDS
        if unknown:
            raise ValueError(f"not claim answers: {sorted(unknown)}")
        for name, value in answers.items():
            # JSON columns are replaced, never mutated in place, so the change is detected.
            setattr(case, name, list(value) if isinstance(value, list | tuple) else value)
        case.updated_at = now
        self.session.add(case)

    async def toggle_document(self, case: ClaimCase, *, code: str, now: datetime) -> bool:
        """Tick ``code`` if it was not ticked, untick it otherwise; True when now ticked."""
        ticked = list(case.ticked)
        if code in ticked:
            ticked.remove(code)
        else:
            ticked.append(code)
        case.ticked = ticked
        case.updated_at = now
        self.session.add(case)
        return code in ticked

    # -- help requests --------------------------------------------------------------------------
    async def add_help_request(
        self,
        *,
        user_id: int,
        case_id: int | None,
        requester_name: str | None,
        claimant: str | None,
        kecamatan_code: str,
        desa_code: str,
        phone: str | None,
        now: datetime,
    ) -> ClaimHelpRequest:
        """Record a request for a facilitator's help (its id is set on return)."""
        request = ClaimHelpRequest(
            user_id=user_id,
            case_id=case_id,
            requester_name=requester_name,
            claimant=claimant,
            kecamatan_code=kecamatan_code,
            desa_code=desa_code,
            phone=phone,
            created_at=now,
        )
        self.session.add(request)
        await self.session.flush()
        return request

    async def pending_help_request(self, *, user_id: int) -> ClaimHelpRequest | None:
        """The user's newest request nobody has handled yet, or None."""
        stmt = (
            select(ClaimHelpRequest)
            .where(col(ClaimHelpRequest.user_id) == user_id)
            .where(col(ClaimHelpRequest.handled_at).is_(None))
            .order_by(col(ClaimHelpRequest.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def get_help_request(self, *, request_id: int) -> ClaimHelpRequest | None:
        """One request by id."""
        return await self.session.get(ClaimHelpRequest, request_id)

    async def open_help_requests(
        self, *, desa_codes: Collection[str] | None = None, limit: int = 10, offset: int = 0
    ) -> Sequence[ClaimHelpRequest]:
        """Unhandled requests, oldest first (they have waited longest), optionally of some desa."""
        stmt = select(ClaimHelpRequest).where(col(ClaimHelpRequest.handled_at).is_(None))
        if desa_codes is not None:
            stmt = stmt.where(col(ClaimHelpRequest.desa_code).in_(list(desa_codes)))
        stmt = (
            stmt.order_by(col(ClaimHelpRequest.created_at), col(ClaimHelpRequest.id))
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def count_open_help_requests(self, *, desa_codes: Collection[str] | None = None) -> int:
        """How many requests are unhandled (optionally of some desa)."""
        stmt = (
            select(func.count())
            .select_from(ClaimHelpRequest)
            .where(col(ClaimHelpRequest.handled_at).is_(None))
        )
        if desa_codes is not None:
            stmt = stmt.where(col(ClaimHelpRequest.desa_code).in_(list(desa_codes)))
        return int((await self.session.exec(stmt)).one())

    async def mark_help_handled(self, *, request_id: int, handled_by: int, now: datetime) -> bool:
        """Mark a request handled; False when it does not exist or was already handled."""
        request = await self.session.get(ClaimHelpRequest, request_id)
        if request is None or request.handled_at is not None:
            return False
        request.handled_at = now
        request.handled_by = handled_by
        self.session.add(request)
        return True
