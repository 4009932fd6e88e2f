"""The facilitator feature's pure helpers (text bar, links, codes, paging, link states, chart) and
its storage (single-use invitations under a race, residents in scope with coverage, reopening a
rejected registration without weakening the unique NIK, desa counts, poster credits) on SQLite and,
when TEST_DATABASE_URL is set, PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.screening import questions
from bot.facilitator_charts import BAR_CELLS, DesaProgress, progress_chart, text_bar
from bot.registration_flow import REFERENCE_ALPHABET
from bot.statistics import protected_from
from handlers.facilitator_states import (
    MAX_ROW_ID,
    MAX_USER_ID,
    POSTER_CODE_LENGTH,
    clamp_page,
    consent_link_validity,
    deep_link,
    invitation_validity,
    new_poster_code,
    new_secret_code,
    parse_int,
)
from storage.db import Database
from storage.models import (
    AttributionKind,
    ConsentKind,
    ConsentLink,
    EntryRole,
    FacilitatorInvitation,
    LinkState,
    RosterEntry,
    SubmissionStatus,
)
from storage.repos.admin import CoverageWindow
from storage.repos.facilitator import ResidentFilter, ResidentScope

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
WINDOW = CoverageWindow(today=TODAY, protected_from=protected_from(TODAY))
GALUMBANG, BATA = "63.11.01.2006", "63.11.01.2005"


# --- pure helpers --------------------------------------------------------------------------------


def test_text_bar_examples() -> None:
    assert text_bar(0, 40) == "░" * 10
    assert text_bar(10, 40) == "▓▓░░░░░░░░"
    assert text_bar(1, 10_000) == "▓" + "░" * 9  # a first registration is visible
    assert text_bar(50, 40) == "▓" * 10  # capped
    with pytest.raises(ValueError, match="target"):
        text_bar(1, 0)


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.integers(0, 10_000))
def test_text_bar_has_fixed_width_and_grows_with_the_value(
    value: int, target: int, extra: int
) -> None:
    bar = text_bar(value, target)
    assert len(bar) == BAR_CELLS
    assert bar.count("▓") <= text_bar(value + extra, target).count("▓")
    assert (bar.count("▓") == 0) == (value == 0)


def test_deep_link_checks_the_payload() -> None:
    assert deep_link("jamsostek_bot", "inv_a-B_9") == "https://t.me/jamsostek_bot?start=inv_a-B_9"
    for bad in ("", "has space", "x" * 65, "titik.koma"):
        with pytest.raises(ValueError, match="payload"):
            deep_link("jamsostek_bot", bad)


def test_codes() -> None:
    secret = new_secret_code()
    assert len(secret) == 22
    deep_link("b", "setuju_" + secret)  # fits a deep link
    assert new_secret_code() != secret
    poster = new_poster_code(random.Random(1).choice)
    assert len(poster) == POSTER_CODE_LENGTH
    assert set(poster) <= set(REFERENCE_ALPHABET)


def test_paging_and_parsing() -> None:
    assert clamp_page(0, 0, 5) == (0, 0)
    assert clamp_page(1, 7, 5) == (1, 1)
    assert clamp_page(99, 7, 5) == (1, 1)  # an old button past the end
    assert clamp_page(-3, 7, 5) == (0, 1)
    assert parse_int("12") == 12
    assert parse_int("x") is None
    assert parse_int("-1") is None
    assert parse_int("9" * 40) is None
    assert parse_int(None) is None
    assert parse_int("²") is None  # a Unicode digit is no number here
    assert parse_int(str(MAX_ROW_ID + 1)) is None  # out of an INTEGER key's range
    assert parse_int(str(MAX_ROW_ID + 1), maximum=MAX_USER_ID) == MAX_ROW_ID + 1


def test_validity_comes_from_data() -> None:
    assert invitation_validity() == timedelta(days=7)
    assert consent_link_validity() == timedelta(days=7)


def test_link_states() -> None:
    invitation = FacilitatorInvitation(
        code="c", desa_codes=[GALUMBANG], created_by=1, expires_at=NOW + timedelta(days=7)
    )
    assert invitation.state(NOW) is LinkState.VALID
    assert invitation.state(NOW + timedelta(days=7)) is LinkState.EXPIRED
    invitation.used_at = NOW
    assert invitation.state(NOW) is LinkState.USED
    invitation.revoked_at = NOW
    assert invitation.state(NOW) is LinkState.REVOKED
    link = ConsentLink(
        code="c", submission_id=1, created_by=1, expires_at=NOW + timedelta(hours=1)
    )
    assert link.state(NOW) is LinkState.VALID
    assert link.state(NOW + timedelta(hours=2)) is LinkState.EXPIRED


def test_screening_questions_have_assisted_wording() -> None:
    for question in questions():
        assisted = question.text_for(assisted=True)
        assert question.text_for(assisted=False) == question.text
        assert assisted != question.text
        assert "resident" in assisted
        assert assisted.endswith("?")


def test_progress_chart_is_a_png() -> None:
    rows = [
        DesaProgress(GALUMBANG, "Galumbang", registered=12, covered=8, target=40),
        DesaProgress(BATA, "Bata", registered=3, covered=0, target=None),
    ]
    assert rows[0].percent == 20
    assert rows[1].percent is None
    png = progress_chart(
        rows, title="Desa", registered_label="R", covered_label="C", target_label="T"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# --- storage -------------------------------------------------------------------------------------


async def sent(
    db: Database,
    *,
    entered_by: int,
    nik: str,
    desa: str,
    reference: str,
    status: SubmissionStatus = SubmissionStatus.SUBMITTED,
    minutes: int = 0,
) -> int:
    now = NOW + timedelta(minutes=minutes)
    async with db.transaction() as repo:
        sub = await repo.registration.create_draft(
            entered_by_user_id=entered_by,
            entered_by_role=EntryRole.FACILITATOR,
            owner_user_id=None,
            consent_kind=ConsentKind.ASSISTED,
            consent_version="v-test",
            now=now,
            new_reference=lambda: reference,
        )
        await repo.registration.save_answers(
            sub, now=now, nik=nik, full_name="X", desa_code=desa, kecamatan_code="63.11.01"
        )
        assert await repo.registration.submit(sub, now=now) is None
        sub.status = status.value
        repo.session.add(sub)
        assert sub.id is not None
        return sub.id


async def test_an_invitation_is_used_once_even_by_two_at_the_same_time(db: Database) -> None:
    async with db.transaction() as repo:
        invitation = await repo.facilitators.create_invitation(
            desa_codes=[GALUMBANG, GALUMBANG, BATA],
            created_by=1,
            now=NOW,
            expires_at=NOW + timedelta(days=7),
            new_code=iter(["same", "same", "other"]).__next__,
        )
        again = await repo.facilitators.create_invitation(
            desa_codes=[BATA],
            created_by=1,
            now=NOW,
            expires_at=NOW + timedelta(days=7),
            new_code=iter(["same", "fresh"]).__next__,  # a collision draws a new code
        )
    assert invitation.desa_codes == sorted([GALUMBANG, BATA])
    assert again.code == "fresh"
    assert invitation.id is not None

    async def use(user_id: int) -> bool:
        async with db.transaction() as repo:
            return await repo.facilitators.use_invitation(
                invitation_id=invitation.id or 0, user_id=user_id, now=NOW
            )

    results = await asyncio.gather(use(10), use(11))
    assert sorted(results) == [False, True]
    async with db.transaction() as repo:
        assert not await repo.facilitators.revoke_invitation(
            invitation_id=invitation.id, by=1, now=NOW
        )
        assert await repo.facilitators.revoke_invitation(
            invitation_id=again.id or 0, by=1, now=NOW
        )
        assert not await repo.facilitators.use_invitation(
            invitation_id=again.id or 0, user_id=12, now=NOW
        )
        assert await repo.facilitators.open_invitations(now=NOW, limit=10) == []


async def test_an_expired_invitation_cannot_be_used(db: Database) -> None:
    async with db.transaction() as repo:
        invitation = await repo.facilitators.create_invitation(
            desa_codes=[GALUMBANG],
            created_by=1,
            now=NOW,
            expires_at=NOW + timedelta(days=7),
            new_code=new_secret_code,
        )
        later = NOW + timedelta(days=7)
        assert not await repo.facilitators.use_invitation(
            invitation_id=invitation.id or 0, user_id=10, now=later
        )


async def test_facilitator_desa_and_revocation(db: Database) -> None:
    async with db.transaction() as repo:
        await repo.facilitators.enrol(
            user_id=10, full_name="A", phone="+6281", invitation_id=None, now=NOW
        )
        await repo.facilitators.set_desa(user_id=10, desa_codes=[BATA, GALUMBANG], now=NOW)
        await repo.facilitators.set_desa(user_id=10, desa_codes=[GALUMBANG], now=NOW)
        assert await repo.facilitators.desa_codes(10) == [GALUMBANG]
        assert await repo.facilitators.revoke(user_id=10, by=1, now=NOW)
        assert not await repo.facilitators.revoke(user_id=10, by=1, now=NOW)
        assert await repo.facilitators.desa_codes(10) == []  # revoked: no scope
        assert await repo.facilitators.desa_of([10]) == {10: [GALUMBANG]}  # kept for history
        again = await repo.facilitators.enrol(
            user_id=10, full_name="A B", phone="+6282", invitation_id=None, now=NOW
        )
        assert again.active
        assert again.full_name == "A B"
        assert await repo.facilitators.desa_codes(10) == [GALUMBANG]


async def test_residents_in_scope_with_filters_and_coverage(db: Database) -> None:
    await sent(db, entered_by=10, nik="6311010000000001", desa=GALUMBANG, reference="BLG-AAAAA1")
    covered = await sent(
        db,
        entered_by=10,
        nik="6311010000000002",
        desa=GALUMBANG,
        reference="BLG-AAAAA2",
        status=SubmissionStatus.REGISTERED,
        minutes=1,
    )
    await sent(
        db,
        entered_by=20,
        nik="6311010000000003",
        desa=BATA,
        reference="BLG-AAAAA3",
        status=SubmissionStatus.REJECTED,
        minutes=2,
    )
    async with db.transaction() as repo:
        repo.session.add(
            RosterEntry(
                nik="6311010000000002",
                name="X",
                programmes="jkk,jkm",
                payer="apbd",
                coverage_start=date(2026, 1, 1),
                paid_until=date(2026, 10, 31),  # unpaid since November: still in the grace months
            )
        )
    async with db.transaction() as repo:
        fac = repo.facilitators
        mine = ResidentScope(entered_by=10)
        rows = await fac.residents_page(
            scope=mine, flt=ResidentFilter.ALL, window=WINDOW, limit=10, offset=0
        )
        assert [r.submission.reference for r in rows] == ["BLG-AAAAA2", "BLG-AAAAA1"]
        assert rows[0].roster is not None
        assert rows[1].roster is None
        assert (
            await fac.count_residents(scope=mine, flt=ResidentFilter.COVERED, window=WINDOW) == 1
        )
        desa = ResidentScope(desa_codes=frozenset({BATA}))
        assert await fac.count_residents(scope=desa, flt=ResidentFilter.ALL, window=WINDOW) == 1
        assert (
            await fac.count_residents(scope=desa, flt=ResidentFilter.REJECTED, window=WINDOW) == 1
        )
        assert (
            await fac.count_residents(
                scope=ResidentScope(desa_codes=frozenset()), flt=ResidentFilter.ALL, window=WINDOW
            )
            == 0
        )
        counts = await fac.desa_counts(desa_codes=[GALUMBANG, BATA], window=WINDOW)
        assert (counts[GALUMBANG].registered, counts[GALUMBANG].covered) == (2, 1)
        assert (counts[BATA].registered, counts[BATA].covered) == (0, 0)  # rejected: not counted
        later = CoverageWindow(
            today=date(2027, 3, 1), protected_from=protected_from(date(2027, 3, 1))
        )
        assert (await fac.desa_counts(desa_codes=[GALUMBANG], window=later))[
            GALUMBANG
        ].covered == 0  # nonaktif by then
        resident = await fac.resident(covered)
        assert resident is not None
        assert resident.roster is not None


async def test_reopening_a_rejected_registration_keeps_the_nik_unique(db: Database) -> None:
    nik = "6311015708850003"
    sub_id = await sent(
        db,
        entered_by=10,
        nik=nik,
        desa=GALUMBANG,
        reference="BLG-BBBBB1",
        status=SubmissionStatus.REJECTED,
    )
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        assert sub is not None
        sub.rejection_reason = "data_unclear"
        assert await repo.facilitators.reopen_rejected(sub, now=NOW)
        assert not await repo.facilitators.reopen_rejected(sub, now=NOW)  # only once
        assert (sub.status, sub.submitted_nik_index, sub.rejection_reason) == ("draft", None, None)
        assert await repo.facilitators.count_drafts(user_id=10) == 1
    # Meanwhile someone else sends the same NIK: the corrected one must not be accepted too.
    other = await sent(db, entered_by=20, nik=nik, desa=GALUMBANG, reference="BLG-BBBBB2")
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        assert sub is not None
        conflict = await repo.registration.submit(sub, now=NOW)
    assert conflict is not None
    assert conflict.existing.id == other


async def test_consent_link_upgrade_and_owner(db: Database) -> None:
    sub_id = await sent(
        db, entered_by=10, nik="6311010000000009", desa=GALUMBANG, reference="BLG-CCCCC1"
    )
    async with db.transaction() as repo:
        fac = repo.facilitators
        consent = await fac.assisted_consent(sub_id)
        assert consent is not None
        assert consent.id is not None
        link = await fac.create_consent_link(
            submission_id=sub_id,
            consent_id=consent.id,
            created_by=10,
            now=NOW,
            expires_at=NOW + timedelta(days=7),
            new_code=new_secret_code,
        )
        assert link.id is not None
        assert await fac.use_consent_link(link_id=link.id, user_id=99, agreed=True, now=NOW)
        assert not await fac.use_consent_link(link_id=link.id, user_id=98, agreed=True, now=NOW)
        await fac.confirm_consent(consent_id=consent.id, subject_user_id=99)
        assert await fac.link_owner(submission_id=sub_id, user_id=99)
        assert not await fac.link_owner(submission_id=sub_id, user_id=98)
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        consents = await repo.registration.consents_for(sub_id)
    assert sub is not None
    assert sub.owner_user_id == 99
    assert [c.subject_user_id for c in consents] == [99]


async def test_poster_codes_are_one_per_owner_and_credit_once(db: Database) -> None:
    sub_id = await sent(
        db, entered_by=30, nik="6311010000000010", desa=GALUMBANG, reference="BLG-DDDDD1"
    )
    async with db.transaction() as repo:
        fac = repo.facilitators
        first = await fac.attribution_code_for(
            kind=AttributionKind.DESA,
            facilitator_user_id=None,
            desa_code=GALUMBANG,
            created_by=10,
            now=NOW,
            new_code=lambda: "AAAAAA",
        )
        same = await fac.attribution_code_for(
            kind=AttributionKind.DESA,
            facilitator_user_id=None,
            desa_code=GALUMBANG,
            created_by=11,
            now=NOW,
            new_code=lambda: "BBBBBB",
        )
        assert same.id == first.id
        assert same.code == "AAAAAA"
        assert first.id is not None
        found = await fac.attribution_by_code("AAAAAA")
        assert found is not None
        assert found.id == first.id
        assert await fac.attribute(submission_id=sub_id, code_id=first.id, now=NOW)
        assert not await fac.attribute(submission_id=sub_id, code_id=first.id, now=NOW)
        assert await fac.attribution_counts([first.id]) == {first.id: 1}
