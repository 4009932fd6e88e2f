"""First screen for Balangan's regency-paid Pekerja Rentan programme (Perbup Balangan 5/2024).

The questions, the answers that count and the income ranges counted as low are data
(``bot/data/screening.toml``) that the regency can change. The outcome only says whether someone
is a *candidate* and why, as codes; the regency decides after verification, and the bot says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from bot.domain.facts import load_toml

#: Reason code of the income criterion ("low or irregular income").
LOW_INCOME = "low_income"


class QuestionRole(StrEnum):
    """How a question's answer is used."""

    REQUIRED = "required"
    """Must be answered with the eligible answer."""
    INCOME = "income"
    """Satisfies the income criterion as an alternative to a low income range."""


@dataclass(frozen=True, slots=True)
class ScreeningQuestion:
    """One yes/no question.

    Attributes:
        code: Stable ASCII id, stored with the answer.
        text: English msgid of the question (``question_text`` in the data file).
        eligible_answer: The answer that counts toward eligibility.
        role: How the answer is used.
        assisted_text: English msgid of the same question about a third person, asked by a
            facilitator (``assisted_question_text``; the plain text when the file has none).
    """

    code: str
    text: str
    eligible_answer: bool
    role: QuestionRole
    assisted_text: str = ""

    def text_for(self, *, assisted: bool) -> str:
        """The msgid to ask: about the user themselves, or about a resident (``assisted``)."""
        return (self.assisted_text or self.text) if assisted else self.text


@dataclass(frozen=True, slots=True)
class ScreeningOutcome:
    """The result of the screen.

    Attributes:
        candidate: True when every criterion is met; the regency still decides.
        met: Criteria met, as question codes or :data:`LOW_INCOME`.
        not_met: Criteria not met (why someone is not a candidate).
        unanswered: Criteria that could not be judged for lack of an answer.
    """

    candidate: bool
    met: tuple[str, ...]
    not_met: tuple[str, ...]
    unanswered: tuple[str, ...]


@cache
def questions() -> tuple[ScreeningQuestion, ...]:
    """The questions in the order to ask them."""
    return tuple(
        ScreeningQuestion(
            code=item["code"],
            text=item["question_text"],
            eligible_answer=bool(item["eligible_answer"]),
            role=QuestionRole(item["role"]),
            assisted_text=item.get("assisted_question_text", ""),
        )
        for item in load_toml("screening.toml")["question"]
    )


@cache
def low_income_codes() -> frozenset[str]:
    """Income range codes (``income.toml``) counted as low income."""
    return frozenset(load_toml("screening.toml")["low_income_codes"])


def screen(answers: Mapping[str, bool], income_code: str | None) -> ScreeningOutcome:
    """Screen one person for the Pekerja Rentan programme.

    Args:
        answers: Yes/no answers keyed by question code; missing codes are unanswered.
        income_code: The chosen income range code, or None if not asked yet.

    Returns:
        Whether the person is a candidate, with the criteria met, not met and unanswered.
    """
    met: list[str] = []
    not_met: list[str] = []
    unanswered: list[str] = []

    for question in questions():
        if question.role is not QuestionRole.REQUIRED:
            continue
        answer = answers.get(question.code)
        if answer is None:
            unanswered.append(question.code)
        elif answer == question.eligible_answer:
            met.append(question.code)
        else:
            not_met.append(question.code)

    # Income criterion: a low income range OR an eligible answer to an "income" question.
    alternatives = [q for q in questions() if q.role is QuestionRole.INCOME]
    alt_met = [q.code for q in alternatives if answers.get(q.code) == q.eligible_answer]
    alt_open = [q.code for q in alternatives if answers.get(q.code) is None]
    low = income_code is not None and income_code in low_income_codes()
    if low or alt_met:
        met.extend(([LOW_INCOME] if low else []) + alt_met)
    elif income_code is None or alt_open:
        unanswered.extend(([LOW_INCOME] if income_code is None else []) + alt_open)
    else:
        not_met.extend([LOW_INCOME, *(q.code for q in alternatives)])

    return ScreeningOutcome(
        candidate=not not_met and not unanswered,
        met=tuple(met),
        not_met=tuple(not_met),
        unanswered=tuple(unanswered),
    )
