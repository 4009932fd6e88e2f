"""The registration step table and its pure helpers (no database, no bot)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.screening import questions
from bot.domain.tariffs import Payer
from bot.registration_flow import (
    REFERENCE_ALPHABET,
    STEPS,
    Step,
    consent_version,
    date_mismatch,
    expected_payer,
    includes_jht,
    is_candidate,
    new_reference,
    next_screening_question,
    next_step,
    parse_reference,
    previous_screening_question,
    previous_step,
    progress,
    regency_date,
)
from handlers.registration_states import (
    ASSISTED_WORDING,
    QUESTION_STATES,
    SELF_WORDING,
    Mode,
    Reg,
    Text,
    state_of,
    step_of,
    wording,
)
from storage.models import Submission

TODAY = date(2026, 11, 21)
NIK_FEMALE_1985_08_17 = "6311015708850003"


def draft(**answers: object) -> Submission:
    """A submission row outside any database, with the given answers."""
    sub = Submission(reference="BLG-TEST22", entered_by_user_id=1)
    for name, value in answers.items():
        setattr(sub, name, value)
    return sub


def complete(**overrides: object) -> Submission:
    """A draft with every answer of a regency-paid candidate."""
    answers: dict[str, object] = {
        "nik": NIK_FEMALE_1985_08_17,
        "full_name": "Siti Aminah",
        "birth_date": date(1985, 8, 17),
        "sex": "female",
        "phone": "+6281234567890",
        "kecamatan_code": "63.11.01",
        "desa_code": "63.11.01.2006",
        "occupation_code": "karet",
        "income_code": "under_1m",
        "contribution_base": 1_000_000,
        "screening_answers": {
            "self_employed": True,
            "civil_servant": False,
            "covered_elsewhere": False,
        },
        "payer": "apbd",
    }
    answers.update(overrides)
    return draft(**answers)


def test_every_step_has_a_state_and_back_again() -> None:
    assert [rule.step for rule in STEPS] == list(Step)
    for step in Step:
        assert step_of(state_of(step)) is step
    assert step_of(Reg.SUMMARY) is None
    assert step_of("claim.nik") is None
    assert step_of(None) is None
    assert set(QUESTION_STATES) == {state_of(s) for s in Step}


def test_a_fresh_draft_starts_with_the_nik_and_walks_the_table_in_order() -> None:
    sub = draft()
    seen = []
    fill: dict[Step, dict[str, object]] = {
        Step.NIK: {"nik": NIK_FEMALE_1985_08_17},
        Step.NAME: {"full_name": "Siti Aminah"},
        Step.BIRTH_DATE: {"birth_date": date(1985, 8, 17)},
        Step.SEX: {"sex": "female"},
        Step.PHONE: {"phone": "+6281234567890"},
        Step.KECAMATAN: {"kecamatan_code": "63.11.01"},
        Step.DESA: {"desa_code": "63.11.01.2006"},
        Step.OCCUPATION: {"occupation_code": "karet"},
        Step.INCOME: {"income_code": "3m_5m"},
        Step.SCREENING: {"screening_answers": {"self_employed": False}},
        Step.JHT: {"with_jht": False},
    }
    while (step := next_step(sub, today=TODAY)) is not None:
        seen.append(step)
        for name, value in fill[step].items():
            setattr(sub, name, value)
    # No date check (dates agree), no typed occupation, no payer question (not a candidate).
    assert seen == list(fill)


def test_conditional_steps_apply_only_when_needed() -> None:
    sub = complete(birth_date=date(1985, 8, 18))
    assert date_mismatch(sub, TODAY)
    assert next_step(sub, today=TODAY) is Step.DATE_CHECK
    sub.warn_date_mismatch = True
    assert next_step(sub, today=TODAY) is None

    sub = complete(occupation_code="lainnya")
    assert next_step(sub, today=TODAY) is Step.OCCUPATION_OTHER
    sub.occupation_text = "Penjahit"
    assert next_step(sub, today=TODAY) is None


def test_a_new_kecamatan_brings_the_desa_question_back() -> None:
    sub = complete(kecamatan_code="63.11.06")
    assert next_step(sub, today=TODAY) is Step.DESA


def test_back_skips_confirmations_and_steps_that_do_not_apply() -> None:
    sub = complete(birth_date=date(1985, 8, 18), warn_date_mismatch=True)
    assert previous_step(sub, Step.SEX, today=TODAY) is Step.BIRTH_DATE
    assert previous_step(sub, Step.INCOME, today=TODAY) is Step.OCCUPATION
    assert previous_step(sub, Step.NAME, today=TODAY) is Step.NIK
    assert previous_step(sub, Step.NIK, today=TODAY) is None
    # From the summary: the last question that applies (a candidate who chose the regency).
    assert previous_step(sub, None, today=TODAY) is Step.PAYER
    sub.occupation_code = "lainnya"
    assert previous_step(sub, Step.INCOME, today=TODAY) is Step.OCCUPATION_OTHER


def test_progress_counts_only_the_steps_that_apply() -> None:
    sub = complete()
    # NIK … INCOME (9 without the conditional ones), screening, payer; no JHT for APBD.
    assert progress(sub, Step.NIK, today=TODAY) == (1, 11)
    assert progress(sub, Step.PAYER, today=TODAY) == (11, 11)
    self_payer = complete(screening_answers={"self_employed": False}, payer=None)
    assert progress(self_payer, Step.JHT, today=TODAY) == (11, 11)


def test_screening_asks_only_questions_that_can_change_the_outcome() -> None:
    codes = [q.code for q in questions()]
    sub = draft(income_code="under_1m", screening_answers={})
    asked = []
    while (question := next_screening_question(sub)) is not None:
        asked.append(question.code)
        sub.screening_answers = {**sub.screening_answers, question.code: question.eligible_answer}
    # A low income range makes the "irregular income" question unnecessary.
    assert asked == [c for c in codes if c != "irregular_income"]
    assert is_candidate(sub)

    high = draft(income_code="3m_5m", screening_answers={"self_employed": True})
    assert next_screening_question(high) is not None
    ruled_out = draft(income_code="3m_5m", screening_answers={"civil_servant": True})
    assert next_screening_question(ruled_out) is None
    assert not is_candidate(ruled_out)


def test_previous_screening_question() -> None:
    first, second, *_ = questions()
    sub = draft(income_code="under_1m", screening_answers={first.code: True})
    assert previous_screening_question(sub, second.code) == first
    assert previous_screening_question(sub, first.code) is None
    assert previous_screening_question(sub, None) == first


def test_payer_and_jht_follow_the_screen() -> None:
    candidate = complete()
    assert expected_payer(candidate) is Payer.APBD
    assert not includes_jht(complete(with_jht=True))
    # Not a candidate: pays themselves, whatever an older answer said.
    outsider = complete(screening_answers={"self_employed": False}, with_jht=True)
    assert expected_payer(outsider) is Payer.SELF
    assert includes_jht(outsider)
    undecided = complete(screening_answers={})
    assert expected_payer(undecided) is None


def test_regency_date_is_wita() -> None:
    # 16:30 UTC is already the next day in Balangan (UTC+8).
    assert regency_date(datetime(2026, 11, 21, 16, 30, tzinfo=UTC)) == date(2026, 11, 22)
    assert regency_date(datetime(2026, 11, 21, 15, 59, tzinfo=UTC)) == TODAY


def test_consent_version_comes_from_data() -> None:
    assert consent_version() == "reg-consent-2026-1"


@given(st.randoms(use_true_random=False))
def test_references_are_unambiguous_and_parse_back(rng: random.Random) -> None:
    reference = new_reference(rng.choice)
    prefix, body = reference.split("-")
    assert prefix == "BLG"
    assert len(body) == 6
    assert set(body) <= set(REFERENCE_ALPHABET)
    assert not set(body) & set("01OIL")
    assert parse_reference(reference) == reference
    assert parse_reference(reference.lower().replace("-", " ")) == reference
    assert parse_reference(body) == reference


@pytest.mark.parametrize("typed", ["", "BLG-7K3Q9", "BLG-7K3Q9O", "BLG-7K3Q9P1", "XYZ"])
def test_parse_reference_refuses_what_is_no_reference(typed: str) -> None:
    assert parse_reference(typed) is None


def test_wording_falls_back_to_the_self_wording() -> None:
    assert set(SELF_WORDING) == set(Text)
    for key in Text:
        assert wording(Mode.SELF, key) == SELF_WORDING[key]
        assert wording(Mode.ASSISTED, key) == ASSISTED_WORDING.get(key, SELF_WORDING[key])
