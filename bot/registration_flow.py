"""The registration conversation's step order as one table, and the pure rules around it.

Every step of the questionnaire is a row of :data:`STEPS`: when it applies (the desa only after a
kecamatan, the free-text occupation only for "Lainnya", the payer question only for a Pekerja
Rentan candidate...) and when it counts as answered. Three questions are answered from that one
table, never from hand-written "next"/"back" links:

* :func:`next_step` — the first step that applies and is not answered yet. Moving forward, going
  back and re-answering, resuming a draft days later and changing one field from the summary all
  use it: after re-answering an earlier step the user lands where they left off, and a change that
  invalidates a later answer (a new kecamatan clears the desa) brings that step back.
* :func:`previous_step` — where "Kembali" goes.
* :func:`progress` — how far along the user is.

The functions read a draft through the :class:`Answers` protocol (the submission row satisfies
it) and never touch the database or the user's language.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from bot.domain.dates import (
    compare_with_nik,
    regency_date,  # noqa: F401 - re-exported for callers
)
from bot.domain.facts import load_toml
from bot.domain.nik import Nik, parse_nik
from bot.domain.occupations import occupation
from bot.domain.screening import (
    LOW_INCOME,
    ScreeningOutcome,
    ScreeningQuestion,
    questions,
    screen,
)
from bot.domain.tariffs import Payer

#: Reference numbers look like ``BLG-7K3Q9P``: the regency's prefix and six characters that
#: cannot be mistaken for one another when read aloud or copied from a phone (no 0/O, 1/I/L).
REFERENCE_PREFIX = "BLG"
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6


class Step(StrEnum):
    """The questions of the registration, in the order of :data:`STEPS`."""

    NIK = "nik"
    NAME = "name"
    BIRTH_DATE = "birth_date"
    DATE_CHECK = "date_check"
    """Confirm a birth date that differs from the one encoded in the NIK."""
    SEX = "sex"
    PHONE = "phone"
    KECAMATAN = "kecamatan"
    DESA = "desa"
    OCCUPATION = "occupation"
    OCCUPATION_OTHER = "occupation_other"
    INCOME = "income"
    SCREENING = "screening"
    PAYER = "payer"
    JHT = "jht"


class Answers(Protocol):
    """The answers of one draft, as the flow rules read them (the submission row fits)."""

    @property
    def nik(self) -> str | None:
        """The 16 NIK digits."""

    @property
    def full_name(self) -> str | None:
        """The tidied full name."""

    @property
    def birth_date(self) -> date | None:
        """The birth date as typed."""

    @property
    def sex(self) -> str | None:
        """``bot.domain.nik.Sex`` value, confirmed by the user."""

    @property
    def phone(self) -> str | None:
        """E.164 mobile number."""

    @property
    def kecamatan_code(self) -> str | None:
        """Kemendagri kecamatan code."""

    @property
    def desa_code(self) -> str | None:
        """Kemendagri desa/kelurahan code."""

    @property
    def occupation_code(self) -> str | None:
        """Code from ``occupations.toml``."""

    @property
    def occupation_text(self) -> str | None:
        """The typed occupation for "Lainnya"."""

    @property
    def income_code(self) -> str | None:
        """Code from ``income.toml``."""

    @property
    def screening_answers(self) -> Mapping[str, bool]:
        """Yes/no answers keyed by screening question code."""

    @property
    def payer(self) -> str | None:
        """Who the user expects to pay (a :class:`~bot.domain.tariffs.Payer` value)."""

    @property
    def with_jht(self) -> bool | None:
        """Whether a self-payer adds the optional JHT."""

    @property
    def warn_date_mismatch(self) -> bool:
        """True once the user confirmed a birth date that differs from the NIK's."""


Rule = Callable[[Answers, date], bool]


def _always(_answers: Answers, _today: date) -> bool:
    return True


def nik_of(answers: Answers, today: date) -> Nik | None:
    """The parsed NIK of a draft (None when not answered yet)."""
    if answers.nik is None:
        return None
    parsed = parse_nik(answers.nik, today=today)
    return parsed if isinstance(parsed, Nik) else None


def date_mismatch(answers: Answers, today: date) -> bool:
    """True when the typed birth date and the date encoded in the NIK differ."""
    nik = nik_of(answers, today)
    return (
        nik is not None
        and answers.birth_date is not None
        and bool(compare_with_nik(nik, answers.birth_date))
    )


def screening_outcome(answers: Answers) -> ScreeningOutcome:
    """The Pekerja Rentan screen over the answers given so far."""
    return screen(dict(answers.screening_answers), answers.income_code)


def next_screening_question(answers: Answers) -> ScreeningQuestion | None:
    """The next screening question worth asking, or None when the screen is decided.

    A question is skipped when its answer can no longer change the outcome: once a required
    answer rules someone out, and the "irregular income" question when the income range is
    already low.
    """
    outcome = screening_outcome(answers)
    if outcome.not_met:
        return None
    pending = set(outcome.unanswered) - {LOW_INCOME}
    return next((q for q in questions() if q.code in pending), None)


def previous_screening_question(answers: Answers, current: str | None) -> ScreeningQuestion | None:
    """The answered screening question just before ``current`` (None: leave the screen)."""
    order = [q.code for q in questions()]
    end = order.index(current) if current in order else len(order)
    given = answers.screening_answers
    earlier = [q for q in questions()[:end] if q.code in given]
    return earlier[-1] if earlier else None


def is_candidate(answers: Answers) -> bool:
    """True when the finished screen makes the user a Pekerja Rentan candidate."""
    return next_screening_question(answers) is None and screening_outcome(answers).candidate


def expected_payer(answers: Answers) -> Payer | None:
    """Who pays as far as the draft says: the regency only for a candidate who asked for it.

    A user who is not a candidate pays themselves, whatever an older answer said (the screen may
    have changed after an edit); a candidate's own choice is None until given.
    """
    if next_screening_question(answers) is not None:
        return None
    if not screening_outcome(answers).candidate:
        return Payer.SELF
    return None if answers.payer is None else Payer(answers.payer)


def includes_jht(answers: Answers) -> bool:
    """Whether the contribution includes JHT (never for regency-paid participants)."""
    return expected_payer(answers) is Payer.SELF and bool(answers.with_jht)


def _is_free_text_occupation(answers: Answers, _today: date) -> bool:
    found = None if answers.occupation_code is None else occupation(answers.occupation_code)
    return found is not None and found.free_text


def _desa_matches_kecamatan(answers: Answers, _today: date) -> bool:
    code = answers.desa_code
    kecamatan = answers.kecamatan_code
    return code is not None and kecamatan is not None and code.startswith(kecamatan + ".")


@dataclass(frozen=True, slots=True)
class StepRule:
    """One row of the step table.

    Attributes:
        step: The question.
        done: True when the draft holds a usable answer.
        applies: True when the question is asked at all for this draft.
        back_target: False for confirmations that "Kembali" skips over.
    """

    step: Step
    done: Rule
    applies: Rule = _always
    back_target: bool = True


STEPS: tuple[StepRule, ...] = (
    StepRule(Step.NIK, lambda a, _t: a.nik is not None),
    StepRule(Step.NAME, lambda a, _t: a.full_name is not None),
    StepRule(Step.BIRTH_DATE, lambda a, _t: a.birth_date is not None),
    StepRule(
        Step.DATE_CHECK,
        done=lambda a, _t: a.warn_date_mismatch,
        applies=date_mismatch,
        back_target=False,
    ),
    StepRule(Step.SEX, lambda a, _t: a.sex is not None),
    StepRule(Step.PHONE, lambda a, _t: a.phone is not None),
    StepRule(Step.KECAMATAN, lambda a, _t: a.kecamatan_code is not None),
    StepRule(Step.DESA, _desa_matches_kecamatan),
    StepRule(Step.OCCUPATION, lambda a, _t: a.occupation_code is not None),
    StepRule(
        Step.OCCUPATION_OTHER,
        done=lambda a, _t: a.occupation_text is not None,
        applies=_is_free_text_occupation,
    ),
    StepRule(Step.INCOME, lambda a, _t: a.income_code is not None),
    StepRule(Step.SCREENING, lambda a, _t: next_screening_question(a) is None),
    StepRule(
        Step.PAYER,
        done=lambda a, _t: a.payer is not None,
        applies=lambda a, _t: is_candidate(a),
    ),
    StepRule(
        Step.JHT,
        done=lambda a, _t: a.with_jht is not None,
        applies=lambda a, _t: expected_payer(a) is Payer.SELF,
    ),
)
_INDEX = {rule.step: i for i, rule in enumerate(STEPS)}


def next_step(answers: Answers, *, today: date) -> Step | None:
    """The first step that applies and is not answered; None when the draft is complete."""
    for rule in STEPS:
        if rule.applies(answers, today) and not rule.done(answers, today):
            return rule.step
    return None


def previous_step(answers: Answers, current: Step | None, *, today: date) -> Step | None:
    """Where "Kembali" goes from ``current`` (None: from the summary); None at the first step."""
    end = len(STEPS) if current is None else _INDEX[current]
    for rule in reversed(STEPS[:end]):
        if rule.back_target and rule.applies(answers, today):
            return rule.step
    return None


def progress(answers: Answers, current: Step, *, today: date) -> tuple[int, int]:
    """``(number of current step, number of steps)`` among the steps that apply to this draft."""
    applicable = [r.step for r in STEPS if r.back_target and r.applies(answers, today)]
    if current not in applicable:
        applicable.append(current)
        applicable.sort(key=_INDEX.__getitem__)
    return applicable.index(current) + 1, len(applicable)


# --- small pure helpers ------------------------------------------------------------------------


def consent_version() -> str:
    """The version of the consent text, stored with every consent (``registration.toml``)."""
    return str(load_toml("registration.toml")["consent"]["version"])


def new_reference(choose: Callable[[str], str] = secrets.choice) -> str:
    """A fresh reference number such as ``BLG-7K3Q9P`` (uniqueness is the database's job).

    Args:
        choose: Picks one character from a string; tests pass a seeded ``random.choice``.
    """
    body = "".join(choose(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"{REFERENCE_PREFIX}-{body}"


def parse_reference(raw: str) -> str | None:
    """A typed reference in canonical form (``blg 7k3q9p`` → ``BLG-7K3Q9P``), or None.

    Case, spaces and dashes are ignored and the ``BLG`` prefix is optional; a character outside
    :data:`REFERENCE_ALPHABET` makes the text no reference.
    """
    text = "".join(ch for ch in raw.upper() if ch.isalnum())
    if text.startswith(REFERENCE_PREFIX):
        text = text[len(REFERENCE_PREFIX) :]
    if len(text) != REFERENCE_LENGTH or any(ch not in REFERENCE_ALPHABET for ch in text):
        return None
    return f"{REFERENCE_PREFIX}-{text}"
