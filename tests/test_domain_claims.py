"""Tests for bot.domain.claims: amounts against FACTS.md §4–5, heirs, documents, offices."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.claims import (
    BenefitCode,
    ClaimantType,
    DeathCause,
    DocumentCondition,
    HeirStatus,
    Mark,
    OfficeKind,
    ScholarshipReason,
    SchoolLevel,
    Weekday,
    can_claim_now,
    claim_process,
    document_checklist,
    heir_priority,
    jkk_death_benefit,
    jkm_benefit,
    jkm_effective_from,
    offices,
    scholarship,
    scholarship_levels,
)

# --- benefits ----------------------------------------------------------------------------------


def test_jkm_benefit_matches_pp_82_2019() -> None:
    benefit = jkm_benefit()
    amounts = {c.code: c.amount for c in benefit.components}
    assert amounts == {
        BenefitCode.LUMP_SUM: 20_000_000,
        BenefitCode.PERIODIC: 12_000_000,
        BenefitCode.FUNERAL: 10_000_000,
    }
    periodic = next(c for c in benefit.components if c.code is BenefitCode.PERIODIC)
    assert (periodic.installments, periodic.installment_amount) == (24, 500_000)
    assert benefit.total == 42_000_000
    assert benefit.cause is DeathCause.JKM
    assert benefit.regulation == "PP 82/2019"
    assert benefit.mark is Mark.C2
    assert all(c.label for c in benefit.components)
    assert jkm_effective_from().isoformat() == "2019-12-02"


def test_jkk_death_benefit_at_base_is_70_million() -> None:
    benefit = jkk_death_benefit(1_000_000)
    amounts = {c.code: c.amount for c in benefit.components}
    assert amounts == {
        BenefitCode.LUMP_SUM: 48_000_000,
        BenefitCode.FUNERAL: 10_000_000,
        BenefitCode.PERIODIC: 12_000_000,
    }
    assert benefit.total == 70_000_000
    assert benefit.cause is DeathCause.JKK
    assert benefit.income_used == 1_000_000
    assert not benefit.income_adjusted


def test_jkk_death_benefit_scales_with_declared_income() -> None:
    benefit = jkk_death_benefit(2_500_000)
    assert benefit.total == 48 * 2_500_000 + 10_000_000 + 12_000_000


@pytest.mark.parametrize(
    ("declared", "used"), [(0, 1_000_000), (500_000, 1_000_000), (50_000_000, 20_700_000)]
)
def test_jkk_income_outside_bpu_range_is_clamped_and_flagged(declared: int, used: int) -> None:
    benefit = jkk_death_benefit(declared)
    assert benefit.income_used == used
    assert benefit.income_adjusted


def test_jkk_negative_income_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        jkk_death_benefit(-1)


@given(st.integers(min_value=1_000_000, max_value=20_700_000))
def test_jkk_total_formula(income: int) -> None:
    assert jkk_death_benefit(income).total == 48 * income + 22_000_000


# --- scholarship -------------------------------------------------------------------------------

FACTS_LEVELS = {
    SchoolLevel.TK: (1_500_000, 2),
    SchoolLevel.SD: (1_500_000, 6),
    SchoolLevel.SMP: (2_000_000, 3),
    SchoolLevel.SMA: (3_000_000, 3),
    SchoolLevel.PT: (12_000_000, 5),
}


def test_scholarship_table_matches_facts() -> None:
    table = {r.level: (r.amount_per_year, r.max_years) for r in scholarship_levels()}
    assert table == FACTS_LEVELS
    assert [r.level for r in scholarship_levels()] == list(SchoolLevel)
    # Up to Rp87,000,000 per child (FACTS.md §4).
    assert sum(a * y for a, y in FACTS_LEVELS.values()) == 87_000_000


@pytest.mark.parametrize("level", list(SchoolLevel))
def test_scholarship_per_level_figures(level: SchoolLevel) -> None:
    result = scholarship([level], 3, DeathCause.JKM)
    assert result.eligible
    (child,) = result.children
    amount, years = FACTS_LEVELS[level]
    assert (child.amount_per_year, child.max_years) == (amount, years)
    assert child.level_total == amount * years
    remaining = list(SchoolLevel)[list(SchoolLevel).index(level) :]
    assert child.max_total == sum(FACTS_LEVELS[lv][0] * FACTS_LEVELS[lv][1] for lv in remaining)


def test_scholarship_two_tk_children_reach_174_million() -> None:
    result = scholarship([SchoolLevel.TK, SchoolLevel.TK], 10, DeathCause.JKM)
    assert result.max_total == 174_000_000
    assert result.children_not_counted == 0


def test_scholarship_counts_at_most_two_children() -> None:
    result = scholarship([SchoolLevel.SD, SchoolLevel.SMP, SchoolLevel.TK], 4, DeathCause.JKM)
    assert result.eligible
    assert [c.level for c in result.children] == [SchoolLevel.SD, SchoolLevel.SMP]
    assert [c.child_index for c in result.children] == [0, 1]
    assert result.children_not_counted == 1
    assert result.max_children == 2


@pytest.mark.parametrize(
    ("years", "eligible"), [(0, False), (2.99, False), (3, True), (3.5, True)]
)
def test_scholarship_jkm_needs_three_years(years: float, eligible: bool) -> None:
    result = scholarship([SchoolLevel.SD], years, DeathCause.JKM)
    assert result.eligible is eligible
    assert result.required_years == 3
    if not eligible:
        assert result.reason is ScholarshipReason.NOT_ENOUGH_YEARS_PAID
        assert result.children == ()
        assert result.max_total == 0


def test_scholarship_jkk_has_no_year_condition() -> None:
    result = scholarship([SchoolLevel.PT], 0, DeathCause.JKK)
    assert result.eligible
    assert result.reason is ScholarshipReason.ELIGIBLE
    assert result.required_years == 0
    assert result.max_total == 60_000_000


def test_scholarship_without_children() -> None:
    result = scholarship([], 5, DeathCause.JKM)
    assert not result.eligible
    assert result.reason is ScholarshipReason.NO_CHILDREN


# --- heirs -------------------------------------------------------------------------------------

PRIORITY = {
    ClaimantType.SPOUSE: 1,
    ClaimantType.CHILD: 1,
    ClaimantType.PARENT: 2,
    ClaimantType.GRANDCHILD: 2,
    ClaimantType.GRANDPARENT: 2,
    ClaimantType.SIBLING: 3,
    ClaimantType.PARENT_IN_LAW: 4,
    ClaimantType.WILL: 5,
    ClaimantType.PROXY: None,
}


def test_every_claimant_type_has_an_expected_priority() -> None:
    assert set(PRIORITY) == set(ClaimantType)


@pytest.mark.parametrize("claimant", list(ClaimantType))
@pytest.mark.parametrize("closer", [None, True, False])
def test_can_claim_now_for_every_heir_type(claimant: ClaimantType, closer: bool | None) -> None:
    verdict = can_claim_now(claimant, closer_heirs_exist=closer)
    expected_priority = PRIORITY[claimant]
    assert verdict.priority == expected_priority == heir_priority(claimant)
    assert verdict.claimant is claimant
    if expected_priority is None:
        assert verdict.status is HeirStatus.PROXY_FOR_HEIR
        assert not verdict.can_claim
    elif expected_priority == 1:
        # Nobody is closer than a spouse or a child: the flag does not matter.
        assert verdict.status is HeirStatus.CAN_CLAIM
        assert verdict.closer_claimants == ()
    else:
        expected = {
            None: HeirStatus.ONLY_IF_NO_CLOSER_HEIR,
            True: HeirStatus.CLOSER_HEIR_EXISTS,
            False: HeirStatus.CAN_CLAIM,
        }[closer]
        assert verdict.status is expected
        assert verdict.can_claim is (closer is False)
        assert {PRIORITY[c] for c in verdict.closer_claimants} == set(range(1, expected_priority))


def test_closer_claimants_of_parent_in_law() -> None:
    verdict = can_claim_now(ClaimantType.PARENT_IN_LAW, closer_heirs_exist=None)
    assert verdict.closer_claimants == (
        ClaimantType.SPOUSE,
        ClaimantType.CHILD,
        ClaimantType.PARENT,
        ClaimantType.GRANDCHILD,
        ClaimantType.GRANDPARENT,
        ClaimantType.SIBLING,
    )


# --- documents ---------------------------------------------------------------------------------

ALWAYS = [
    "kpj_card",
    "ektp_deceased",
    "ektp_heir",
    "family_card",
    "death_certificate",
    "heir_statement",
    "heir_bank_account",
    "claim_form",
]
SCHOLARSHIP_DOCS = ["child_birth_certificate", "school_certificate", "child_bank_account"]
PROXY_DOCS = ["power_of_attorney", "ektp_proxy"]


def _codes(**kwargs: object) -> list[str]:
    return [d.code for d in document_checklist(**kwargs)]  # type: ignore[arg-type]


def test_checklist_for_a_child_heir_jkm() -> None:
    codes = _codes(
        claimant=ClaimantType.CHILD, proxy=False, scholarship=False, cause=DeathCause.JKM
    )
    assert codes == ALWAYS


def test_checklist_for_a_spouse_adds_marriage_book_in_place() -> None:
    codes = _codes(
        claimant=ClaimantType.SPOUSE, proxy=False, scholarship=False, cause=DeathCause.JKM
    )
    assert codes == [*ALWAYS[:6], "marriage_book", *ALWAYS[6:]]


def test_checklist_for_a_proxy() -> None:
    codes = _codes(
        claimant=ClaimantType.CHILD, proxy=True, scholarship=False, cause=DeathCause.JKM
    )
    assert codes == ALWAYS + PROXY_DOCS
    # A proxy whose heir is not known yet gets the same papers.
    assert codes == _codes(
        claimant=ClaimantType.PROXY, proxy=False, scholarship=False, cause=DeathCause.JKM
    )


def test_checklist_with_scholarship() -> None:
    codes = _codes(
        claimant=ClaimantType.CHILD, proxy=False, scholarship=True, cause=DeathCause.JKM
    )
    assert codes == ALWAYS + SCHOLARSHIP_DOCS


def test_checklist_for_work_accident_death() -> None:
    docs = document_checklist(
        claimant=ClaimantType.PARENT, proxy=False, scholarship=False, cause=DeathCause.JKK
    )
    assert [d.code for d in docs] == [*ALWAYS, "accident_report"]
    accident = docs[-1]
    assert accident.applies is DocumentCondition.JKK
    assert accident.mark is Mark.U


@pytest.mark.parametrize(
    ("claimant", "proxy", "with_scholarship", "cause"),
    list(
        itertools.product(
            [ClaimantType.SPOUSE, ClaimantType.CHILD, ClaimantType.PROXY, ClaimantType.SIBLING],
            [False, True],
            [False, True],
            list(DeathCause),
        )
    ),
)
def test_checklist_every_combination(
    claimant: ClaimantType, proxy: bool, with_scholarship: bool, cause: DeathCause
) -> None:
    docs = document_checklist(
        claimant=claimant, proxy=proxy, scholarship=with_scholarship, cause=cause
    )
    codes = [d.code for d in docs]
    expected = set(ALWAYS)
    if claimant is ClaimantType.SPOUSE:
        expected.add("marriage_book")
    if proxy or claimant is ClaimantType.PROXY:
        expected.update(PROXY_DOCS)
    if with_scholarship:
        expected.update(SCHOLARSHIP_DOCS)
    if cause is DeathCause.JKK:
        expected.add("accident_report")
    assert set(codes) == expected
    assert len(codes) == len(expected)
    # Stable order: always a subsequence of the full list.
    full = _codes(claimant=ClaimantType.SPOUSE, proxy=True, scholarship=True, cause=DeathCause.JKK)
    assert codes == [c for c in full if c in expected]
    for doc in docs:
        assert doc.label
        assert doc.where_text
        assert isinstance(doc.mark, Mark)


def test_kpj_card_carries_unconfirmed_note() -> None:
    kpj = document_checklist(
        claimant=ClaimantType.CHILD, proxy=False, scholarship=False, cause=DeathCause.JKM
    )[0]
    assert kpj.code == "kpj_card"
    assert kpj.note_text
    assert kpj.note_mark is Mark.U


def test_disdukcapil_documents_say_where() -> None:
    docs = {
        d.code: d
        for d in document_checklist(
            claimant=ClaimantType.SPOUSE, proxy=False, scholarship=True, cause=DeathCause.JKM
        )
    }
    for code in ("ektp_deceased", "family_card", "child_birth_certificate"):
        assert "Disdukcapil" in docs[code].where_text


# --- offices and process -----------------------------------------------------------------------


def test_offices() -> None:
    by_kind = {o.kind: o for o in offices()}
    assert set(by_kind) == set(OfficeKind)
    branch = by_kind[OfficeKind.BRANCH]
    assert "Tabalong-Tanjung" in branch.name
    assert branch.mark is Mark.C2
    counter = by_kind[OfficeKind.SERVICE_COUNTER]
    assert "PTSP" in counter.name
    assert counter.days == (Weekday.WED, Weekday.THU, Weekday.FRI)
    assert counter.mark is Mark.C1
    labour = by_kind[OfficeKind.LABOUR_OFFICE]
    assert labour.mark is Mark.U
    # Addresses and hours are unconfirmed everywhere: the bot says "confirm by phone".
    assert all(o.needs_confirmation for o in offices())
    assert all(o.hours is None for o in offices())


def test_claim_process_facts() -> None:
    process = claim_process()
    assert (process.contact_centre.value, process.contact_centre.mark) == ("175", Mark.C1)
    assert (process.payment_working_days.value, process.payment_working_days.mark) == (
        3,
        Mark.C2,
    )
    assert process.has_deadline_if_active.value is False
    assert process.has_deadline_if_active.mark is Mark.C1
    assert process.tracking_with_kpj.value is True
    assert process.tracking_with_kpj.mark is Mark.C1
    assert process.fully_online_jkm.value is None
    assert process.fully_online_jkm.mark is Mark.U
    assert (process.jkk_report_within_hours.value, process.jkk_report_within_hours.mark) == (
        48,
        Mark.C1,
    )
    steps = [s.code for s in process.lapak_asik_steps]
    assert steps[0] == "scan_qr"
    assert steps[-1] == "take_queue_number"
    assert all(s.label for s in process.lapak_asik_steps)


@pytest.mark.parametrize(("mark", "confirm"), [(Mark.C2, False), (Mark.C1, True), (Mark.U, True)])
def test_mark_needs_confirmation(mark: Mark, confirm: bool) -> None:
    assert mark.needs_confirmation is confirm


def test_results_are_immutable() -> None:
    benefit = jkm_benefit()
    with pytest.raises(AttributeError):
        benefit.regulation = "x"  # type: ignore[misc]
    assert offices() is not offices()  # a fresh list each call; the cached tuple stays intact
