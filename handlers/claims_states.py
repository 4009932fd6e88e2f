"""Steps of the JKM claim guide and how the guide moves between them.

Which steps apply depends only on the answers stored in the claim case (a proxy is asked whom
they file for, a sibling whether closer heirs live, the years of iuran only matter when there
are children in school...). Moving forward, "Kembali" and resuming days later are therefore
all computed from the case instead of a remembered trail, so they survive restarts and
``/klaim`` can reopen the guide where the family stopped.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.claims import ClaimantType, DeathCause, heir_priority, scholarship_terms
from storage.models.claims import ClaimCase, YearsPaid

FLOW_NAME = "klaim"


class Claim(StrEnum):
    """Conversation states of the claim guide (``"klaim.<step>"``)."""

    RESUME = "klaim.resume"  # an open case exists: continue it or start again
    COVERED = "klaim.covered"  # registered and active?
    LOOKUP_NIK = "klaim.lookup_nik"  # optional coverage lookup: NIK of the deceased
    LOOKUP_BIRTH = "klaim.lookup_birth"  # ... and their birth date
    CAUSE = "klaim.cause"  # work accident (JKK) or not (JKM)
    CLAIMANT = "klaim.claimant"  # who is claiming
    PROXY_FOR = "klaim.proxy_for"  # a proxy: for which heir
    CLOSER = "klaim.closer"  # heir group 2+: is a closer heir alive?
    BENEFIT = "klaim.benefit"  # the cash breakdown
    CHILDREN = "klaim.children"  # children in school (scholarship)
    YEARS = "klaim.years"  # years of iuran (JKM scholarship condition)
    LEVEL = "klaim.level"  # school level of each counted child
    CHECKLIST = "klaim.checklist"  # documents, tickable
    OFFICES = "klaim.offices"  # where and how to file
    NIK = "klaim.nik"  # the deceased's NIK for the summary (optional)
    SUMMARY = "klaim.summary"  # summary message and PDF
    HELP_KEC = "klaim.help_kec"  # help request: kecamatan
    HELP_DESA = "klaim.help_desa"  # help request: desa
    HELP_PHONE = "klaim.help_phone"  # help request: phone (optional)


#: The main path in order; each step is skipped when :func:`applies` says so.
FLOW: tuple[Claim, ...] = (
    Claim.COVERED,
    Claim.CAUSE,
    Claim.CLAIMANT,
    Claim.PROXY_FOR,
    Claim.CLOSER,
    Claim.BENEFIT,
    Claim.CHILDREN,
    Claim.YEARS,
    Claim.LEVEL,
    Claim.CHECKLIST,
    Claim.OFFICES,
    Claim.NIK,
    Claim.SUMMARY,
)

#: Steps outside the main path and the step "Kembali" leads to from them.
SIDE_STEPS: dict[Claim, Claim] = {
    Claim.LOOKUP_NIK: Claim.COVERED,
    Claim.LOOKUP_BIRTH: Claim.LOOKUP_NIK,
    Claim.HELP_KEC: Claim.SUMMARY,
    Claim.HELP_DESA: Claim.HELP_KEC,
    Claim.HELP_PHONE: Claim.HELP_DESA,
}

#: Every state of the guide (for buttons valid anywhere in it, such as "Kembali").
ALL_STATES: tuple[Claim, ...] = tuple(Claim)


def children_to_ask(case: ClaimCase) -> int:
    """How many children's school levels the guide asks for (at most the counted maximum)."""
    return min(case.school_children or 0, scholarship_terms().max_children)


def years_matter(case: ClaimCase) -> bool:
    """True when the scholarship needs a minimum of years of iuran for this cause of death."""
    if case.cause is None:
        return True
    return scholarship_terms().min_years[DeathCause(case.cause)] > 0


def scholarship_possible(case: ClaimCase) -> bool:
    """True when children are in school and the years of iuran do not rule the scholarship out."""
    if children_to_ask(case) == 0:
        return False
    return not (years_matter(case) and case.years_paid == YearsPaid.UNDER.value)


def applies(step: Claim, case: ClaimCase) -> bool:
    """True when ``step`` of the main path is asked for these answers."""
    if step is Claim.PROXY_FOR:
        return case.claimant == ClaimantType.PROXY.value
    if step is Claim.CLOSER:
        if case.heir is None:
            return False
        priority = heir_priority(ClaimantType(case.heir))
        return priority is not None and priority > 1
    if step is Claim.YEARS:
        return children_to_ask(case) > 0 and years_matter(case)
    if step is Claim.LEVEL:
        return scholarship_possible(case)
    if step is Claim.NIK:
        # The coverage lookup already gave the NIK.
        return not case.membership_checked
    return step in FLOW


def answered(step: Claim, case: ClaimCase) -> bool:
    """True when the family has answered ``step`` (informational steps count as answered
    once the next question is)."""
    values = {
        Claim.COVERED: case.membership,
        Claim.CAUSE: case.cause,
        Claim.CLAIMANT: case.claimant,
        Claim.PROXY_FOR: case.heir,
        Claim.CLOSER: case.closer_heirs,
        Claim.BENEFIT: case.school_children,
        Claim.CHILDREN: case.school_children,
        Claim.YEARS: case.years_paid,
    }
    if step in values:
        return values[step] is not None
    if step is Claim.LEVEL:
        return len(case.child_levels) >= children_to_ask(case)
    return False


def next_step(current: Claim, case: ClaimCase) -> Claim:
    """The step after ``current`` on the main path (side steps continue after their parent)."""
    if current in (Claim.LOOKUP_NIK, Claim.LOOKUP_BIRTH):
        current = Claim.COVERED
    if current not in FLOW or current is Claim.SUMMARY:
        return Claim.SUMMARY
    for step in FLOW[FLOW.index(current) + 1 :]:
        if applies(step, case):
            return step
    return Claim.SUMMARY


def previous_step(current: Claim, case: ClaimCase) -> Claim | None:
    """The step "Kembali" leads to, or None before the first question (leave the guide)."""
    if current in SIDE_STEPS:
        return SIDE_STEPS[current]
    if current not in FLOW:
        return None
    for step in reversed(FLOW[: FLOW.index(current)]):
        if applies(step, case):
            return step
    return None


def resume_step(case: ClaimCase) -> Claim:
    """Where a family coming back continues: the first unanswered question, else the checklist."""
    for step in FLOW[: FLOW.index(Claim.CHECKLIST)]:
        if applies(step, case) and not answered(step, case):
            return step
    return Claim.CHECKLIST
