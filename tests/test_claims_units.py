"""The claim guide's pure parts and storage: step navigation, the summary (HTML and PDF), the
domain additions it needed, and the claim repository on every configured database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.claim_summary import (
    Summary,
    SummaryLine,
    SummarySection,
    build_summary,
    case_view,
    latin1,
    render_html,
    render_pdf,
)
from bot.domain.claims import (
    ClaimantType,
    DeathCause,
    HeirStatus,
    claim_process,
    heir_groups,
    jkk_base_income,
    jkk_death_benefit,
    scholarship_terms,
)
from bot.domain.dates import regency_date, regency_time
from bot.i18n import Catalogs
from handlers.claims_states import (
    FLOW,
    Claim,
    answered,
    applies,
    next_step,
    previous_step,
    resume_step,
)
from storage.db import Database
from storage.models.claims import ClaimCase, ClaimCaseStatus
from tests.test_claims import pdf_pages, pdf_text

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _case(**answers: object) -> ClaimCase:
    return ClaimCase(user_id=1, **answers)


# --- domain additions ----------------------------------------------------------------------------


def test_scholarship_terms_match_facts() -> None:
    terms = scholarship_terms()
    assert terms.max_children == 2
    assert dict(terms.min_years) == {DeathCause.JKM: 3, DeathCause.JKK: 0}
    assert terms.child_max_age_exclusive == 23
    assert terms.regulation == "PP 82/2019"
    with pytest.raises(TypeError):
        terms.min_years[DeathCause.JKM] = 0  # type: ignore[index]


def test_jkk_base_income_gives_70_million() -> None:
    assert jkk_base_income() == 1_000_000
    assert jkk_death_benefit(jkk_base_income()).total == 70_000_000


def test_heir_groups_in_order() -> None:
    assert [(p, set(m)) for p, m in heir_groups()] == [
        (1, {ClaimantType.SPOUSE, ClaimantType.CHILD}),
        (2, {ClaimantType.PARENT, ClaimantType.GRANDCHILD, ClaimantType.GRANDPARENT}),
        (3, {ClaimantType.SIBLING}),
        (4, {ClaimantType.PARENT_IN_LAW}),
        (5, {ClaimantType.WILL}),
    ]


def test_tracking_site_is_data() -> None:
    assert claim_process().tracking_site == "www.bpjsketenagakerjaan.go.id"


def test_regency_date_is_wita() -> None:
    late = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 00:30 WITA the next day
    assert regency_date(late) == date(2026, 11, 21)
    assert regency_time(late).hour == 0
    assert regency_date(datetime(2026, 11, 20, 15, 59, tzinfo=UTC)) == date(2026, 11, 20)


# --- navigation ----------------------------------------------------------------------------------


def test_a_spouse_without_children_skips_the_optional_steps() -> None:
    case = _case(membership="active", cause="jkm", claimant="spouse", heir="spouse")
    case.school_children = 0
    steps = [step for step in FLOW if applies(step, case)]
    assert steps == [
        Claim.COVERED,
        Claim.CAUSE,
        Claim.CLAIMANT,
        Claim.BENEFIT,
        Claim.CHILDREN,
        Claim.CHECKLIST,
        Claim.OFFICES,
        Claim.NIK,
        Claim.SUMMARY,
    ]
    assert next_step(Claim.CLAIMANT, case) is Claim.BENEFIT
    assert previous_step(Claim.CHECKLIST, case) is Claim.CHILDREN
    assert previous_step(Claim.COVERED, case) is None


def test_branches_follow_the_answers() -> None:
    proxy = _case(claimant="proxy", heir="sibling", cause="jkm", school_children=2)
    assert next_step(Claim.CLAIMANT, proxy) is Claim.PROXY_FOR
    assert next_step(Claim.PROXY_FOR, proxy) is Claim.CLOSER
    assert next_step(Claim.CHILDREN, proxy) is Claim.YEARS
    proxy.years_paid = "under"
    assert next_step(Claim.YEARS, proxy) is Claim.CHECKLIST
    proxy.years_paid = "unknown"
    assert next_step(Claim.YEARS, proxy) is Claim.LEVEL
    jkk = _case(claimant="child", heir="child", cause="jkk", school_children=1)
    assert next_step(Claim.CHILDREN, jkk) is Claim.LEVEL  # no years condition for JKK
    checked = _case(membership="active", membership_checked=True)
    assert next_step(Claim.OFFICES, checked) is Claim.SUMMARY  # NIK known from the lookup
    assert next_step(Claim.LOOKUP_BIRTH, checked) is Claim.CAUSE


def test_side_steps_go_back_to_their_parent() -> None:
    case = _case()
    assert previous_step(Claim.LOOKUP_NIK, case) is Claim.COVERED
    assert previous_step(Claim.LOOKUP_BIRTH, case) is Claim.LOOKUP_NIK
    assert previous_step(Claim.HELP_KEC, case) is Claim.SUMMARY
    assert previous_step(Claim.HELP_PHONE, case) is Claim.HELP_DESA
    assert previous_step(Claim.RESUME, case) is None
    assert next_step(Claim.HELP_KEC, case) is Claim.SUMMARY


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, Claim.COVERED),
        ({"membership": "active"}, Claim.CAUSE),
        ({"membership": "active", "cause": "jkm"}, Claim.CLAIMANT),
        ({"membership": "active", "cause": "jkm", "claimant": "proxy"}, Claim.PROXY_FOR),
        (
            {"membership": "active", "cause": "jkm", "claimant": "parent", "heir": "parent"},
            Claim.CLOSER,
        ),
        (
            {"membership": "unknown", "cause": "jkm", "claimant": "child", "heir": "child"},
            Claim.BENEFIT,
        ),
        (
            {
                "membership": "unknown",
                "cause": "jkm",
                "claimant": "child",
                "heir": "child",
                "school_children": 2,
                "years_paid": "enough",
                "child_levels": ["sd"],
            },
            Claim.LEVEL,
        ),
        (
            {
                "membership": "nonaktif",
                "cause": "jkk",
                "claimant": "child",
                "heir": "child",
                "school_children": 0,
            },
            Claim.CHECKLIST,
        ),
    ],
)
def test_resume_at_the_first_unanswered_step(answers: dict[str, object], expected: Claim) -> None:
    case = _case(**answers)
    assert resume_step(case) is expected
    assert not answered(expected, case) or expected is Claim.CHECKLIST


# --- summary -------------------------------------------------------------------------------------


def _worst_case() -> ClaimCase:
    """The longest checklist: a proxy for a spouse, a work accident, two children in school."""
    return _case(
        membership="unknown",
        deceased_nik_masked="************0001",
        cause="jkk",
        claimant="proxy",
        heir="spouse",
        school_children=2,
        child_levels=["sd", "pt"],
        ticked=["kpj_card", "family_card"],
    )


@pytest.mark.parametrize("language", ["id", "en"])
def test_summary_fits_one_telegram_message(language: str) -> None:
    t = Catalogs.load().get(language)
    view = case_view(_worst_case())
    assert len(view.documents) == 15
    html = render_html(build_summary(t, view, today=TODAY))
    assert len(html) < 4096
    assert "************0001" in html
    assert ("Rp70.000.000" if language == "id" else "Rp70,000,000") in html
    assert html.count("✅") == 2


def test_summary_view_resolves_the_heir_rules() -> None:
    sibling = case_view(_case(cause="jkm", claimant="sibling", heir="sibling", closer_heirs="yes"))
    assert sibling.verdict.status is HeirStatus.CLOSER_HEIR_EXISTS
    assert sibling.proxy  # they must file with the closer heir's power of attorney
    codes = [d.code for d in sibling.documents]
    assert "power_of_attorney" in codes
    assert "marriage_book" not in codes
    unknown_years = case_view(
        _case(cause="jkm", claimant="child", school_children=1, years_paid="unknown")
    )
    assert unknown_years.years_unknown
    under = case_view(_case(cause="jkm", school_children=1, years_paid="under"))
    assert under.scholarship is not None
    assert not under.scholarship.eligible
    assert "school_certificate" not in [d.code for d in under.documents]


def test_pdf_in_english() -> None:
    t = Catalogs.load().get("en")
    data = render_pdf(build_summary(t, case_view(_worst_case()), today=TODAY))
    assert data.startswith(b"%PDF-")
    assert pdf_pages(data) == 2
    text = pdf_text(data)
    assert "Death benefit claim (work accident, JKK)" in text
    assert "************0001" in text
    assert "Total: Rp70,000,000" in text
    assert "Documents (2 of 15 ready)" in text
    assert "November 21, 2026" in text


def test_latin1_keeps_indonesian_and_replaces_the_rest() -> None:
    assert latin1("Hauwai – “Ju’uh” • Rp1.000") == 'Hauwai - "Ju\'uh" - Rp1.000'
    assert latin1("Ş ✅ 48 × Rp") == "S  48 × Rp"
    assert latin1("表") == "?"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=5))
def test_pdf_never_breaks_on_any_text(lines: list[str]) -> None:
    summary = Summary(
        title=lines[0],
        subtitle="",
        sections=(
            SummarySection(
                lines[-1],
                tuple(
                    SummaryLine(line, checked=i % 2 == 0, detail=line, strong=i == 1)
                    for i, line in enumerate(lines)
                ),
            ),
        ),
        footer=lines[0],
    )
    assert render_pdf(summary).startswith(b"%PDF-")


# --- repository ----------------------------------------------------------------------------------


async def test_cases_and_ticks(db: Database) -> None:
    async with db.transaction() as repo:
        first = await repo.claims.start_case(user_id=1, now=NOW)
        await repo.claims.update_case(first, now=NOW, membership="active", child_levels=("sd",))
        assert await repo.claims.toggle_document(first, code="kpj_card", now=NOW)
        assert await repo.claims.toggle_document(first, code="family_card", now=NOW)
        assert not await repo.claims.toggle_document(first, code="kpj_card", now=NOW)
        with pytest.raises(ValueError, match="not claim answers"):
            await repo.claims.update_case(first, now=NOW, user_id=2)
    async with db.transaction() as repo:
        stored = await repo.claims.open_case(user_id=1)
        assert stored is not None
        assert stored.membership == "active"
        assert stored.child_levels == ["sd"]
        assert stored.ticked == ["family_card"]
        assert await repo.claims.get_case(case_id=stored.id or 0, user_id=2) is None
        second = await repo.claims.start_case(user_id=1, now=NOW + timedelta(days=1))
    async with db.transaction() as repo:
        current = await repo.claims.open_case(user_id=1)
        old = await repo.claims.get_case(case_id=first.id or 0, user_id=1)
    assert current is not None
    assert current.id == second.id
    assert old is not None
    assert old.status == ClaimCaseStatus.CLOSED
    assert old.updated_at == NOW + timedelta(days=1)


async def test_help_requests(db: Database) -> None:
    async with db.transaction() as repo:
        case = await repo.claims.start_case(user_id=1, now=NOW)
        for n, desa in enumerate(["63.11.01.2001", "63.11.06.2014", "63.11.01.2001"]):
            await repo.claims.add_help_request(
                user_id=10 + n,
                case_id=case.id if n == 0 else None,
                requester_name=None,
                claimant="child",
                kecamatan_code=desa[:8],
                desa_code=desa,
                phone="+6281234567890" if n == 0 else None,
                now=NOW + timedelta(minutes=n),
            )
    async with db.transaction() as repo:
        assert await repo.claims.count_open_help_requests() == 3
        juai = await repo.claims.open_help_requests(desa_codes=["63.11.01.2001"])
        assert [r.user_id for r in juai] == [10, 12]  # oldest first
        assert await repo.claims.count_open_help_requests(desa_codes={"63.11.06.2014"}) == 1
        assert await repo.claims.pending_help_request(user_id=10) is not None
        first = juai[0].id or 0
        assert await repo.claims.mark_help_handled(request_id=first, handled_by=99, now=NOW)
        assert not await repo.claims.mark_help_handled(request_id=first, handled_by=99, now=NOW)
        assert not await repo.claims.mark_help_handled(request_id=999, handled_by=99, now=NOW)
    async with db.transaction() as repo:
        assert await repo.claims.count_open_help_requests() == 2
        assert await repo.claims.pending_help_request(user_id=10) is None
        handled = await repo.claims.get_help_request(request_id=first)
    assert handled is not None
    assert (handled.handled_by, handled.handled_at) == (99, NOW)
    assert handled.case_id == case.id
