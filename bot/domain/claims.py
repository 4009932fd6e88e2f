"""JKM / JKK-death claim guide: heirs, benefit amounts, scholarship, documents and offices.

Pure domain logic: every amount, list and office fact comes from ``bot/data/claims.toml``
(with its regulation and confidence mark); nothing here produces user-visible text. Functions
return codes, amounts (int rupiah) and English msgids taken from the data file, which handlers
translate.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from bot.domain.facts import load_toml

_DATA_FILE = "claims.toml"

T = TypeVar("T")


class Mark(StrEnum):
    """Confidence mark of a fact, as in FACTS.md."""

    C2 = "C2"  # confirmed by two or more independent sources
    C1 = "C1"  # one source
    U = "U"  # unconfirmed or sources disagree

    @property
    def needs_confirmation(self) -> bool:
        """True when the bot should add "please confirm by phone / at the office"."""
        return self is not Mark.C2


class ClaimantType(StrEnum):
    """Who is asking to claim (relationship to the deceased member)."""

    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    GRANDCHILD = "grandchild"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    PARENT_IN_LAW = "parent_in_law"
    WILL = "will"  # the person named in a will
    PROXY = "proxy"  # files on behalf of an heir; not an heir itself


class DeathCause(StrEnum):
    """Which programme pays: JKM (death not from a work accident) or JKK (work accident)."""

    JKM = "jkm"
    JKK = "jkk"


class SchoolLevel(StrEnum):
    """School level of a child for the scholarship (beasiswa)."""

    TK = "tk"
    SD = "sd"
    SMP = "smp"
    SMA = "sma"
    PT = "pt"  # perguruan tinggi or vocational training


class HeirStatus(StrEnum):
    """Outcome of :func:`can_claim_now`."""

    CAN_CLAIM = "can_claim"
    ONLY_IF_NO_CLOSER_HEIR = "only_if_no_closer_heir"  # we do not know yet; ask
    CLOSER_HEIR_EXISTS = "closer_heir_exists"  # a closer heir must claim instead
    PROXY_FOR_HEIR = "proxy_for_heir"  # may file only with an heir's power of attorney


class DocumentCondition(StrEnum):
    """When a document is needed."""

    ALWAYS = "always"
    SPOUSE = "spouse"
    PROXY = "proxy"
    SCHOLARSHIP = "scholarship"
    JKK = "jkk"


class OfficeKind(StrEnum):
    """Kind of place where a claim can be filed or asked about."""

    BRANCH = "branch"
    SERVICE_COUNTER = "service_counter"
    LABOUR_OFFICE = "labour_office"


class Weekday(StrEnum):
    """Day codes used in the office data."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class BenefitCode(StrEnum):
    """Cash components of a death benefit."""

    LUMP_SUM = "lump_sum"
    PERIODIC = "periodic"
    FUNERAL = "funeral"


class ScholarshipReason(StrEnum):
    """Why a scholarship is or is not available."""

    ELIGIBLE = "eligible"
    NOT_ENOUGH_YEARS_PAID = "not_enough_years_paid"
    NO_CHILDREN = "no_children"


@dataclass(frozen=True, slots=True)
class BenefitComponent:
    """One cash component; ``installments`` is set for the periodic benefit."""

    code: BenefitCode
    label: str
    amount: int
    installments: int | None = None
    installment_amount: int | None = None


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Cash benefit split into components, with its regulation and confidence mark."""

    cause: DeathCause
    components: tuple[BenefitComponent, ...]
    regulation: str
    mark: Mark
    income_used: int | None = None  # JKK only: the declared income the lump sum is based on
    income_adjusted: bool = False  # JKK only: declared income was outside the BPU income range

    @property
    def total(self) -> int:
        """Sum of all components in rupiah."""
        return sum(c.amount for c in self.components)


@dataclass(frozen=True, slots=True)
class LevelRule:
    """Scholarship rule for one school level."""

    level: SchoolLevel
    label: str
    amount_per_year: int
    max_years: int


@dataclass(frozen=True, slots=True)
class ChildScholarship:
    """Scholarship figures for one child, from the child's current level."""

    child_index: int  # 0-based position in the input
    level: SchoolLevel
    amount_per_year: int  # at the current level
    max_years: int  # at the current level
    level_total: int  # amount_per_year × max_years
    max_total: int  # upper bound from the current level through the last level


@dataclass(frozen=True, slots=True)
class ScholarshipResult:
    """Outcome of :func:`scholarship`."""

    eligible: bool
    reason: ScholarshipReason
    required_years: int  # minimum years of iuran for this cause (0 = no condition)
    children: tuple[ChildScholarship, ...]  # counted children only (at most ``max_children``)
    children_not_counted: int
    max_children: int
    regulation: str
    mark: Mark

    @property
    def max_total(self) -> int:
        """Upper bound over all counted children (0 when not eligible)."""
        return sum(c.max_total for c in self.children) if self.eligible else 0


@dataclass(frozen=True, slots=True)
class HeirVerdict:
    """Outcome of :func:`can_claim_now`."""

    claimant: ClaimantType
    status: HeirStatus
    priority: int | None  # heir group 1..5; None for a proxy
    closer_claimants: tuple[ClaimantType, ...]  # who would take precedence (to ask about)

    @property
    def can_claim(self) -> bool:
        """True when this person can file the claim themselves right now."""
        return self.status is HeirStatus.CAN_CLAIM


@dataclass(frozen=True, slots=True)
class Document:
    """One document of the claim checklist; ``label``/``where_text``/``note_text`` are msgids."""

    code: str
    label: str
    where_text: str
    applies: DocumentCondition
    mark: Mark
    note_text: str | None = None
    note_mark: Mark | None = None


@dataclass(frozen=True, slots=True)
class Office:
    """A place to file or ask about a claim; empty fields mean "not known"."""

    code: str
    kind: OfficeKind
    name: str
    address: str
    days: tuple[Weekday, ...]
    hours: str | None
    phone: str | None
    mark: Mark  # confidence that the office offers this service
    details_mark: Mark  # confidence in address / days / hours / phone

    @property
    def needs_confirmation(self) -> bool:
        """True when the user should phone ahead before going."""
        return self.mark.needs_confirmation or self.details_mark.needs_confirmation


@dataclass(frozen=True, slots=True)
class MarkedFact(Generic[T]):
    """A single claim-process fact with its confidence mark."""

    value: T
    mark: Mark


@dataclass(frozen=True, slots=True)
class ProcessStep:
    """One step at the Lapak Asik kiosk; ``label`` is a msgid."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class ClaimProcess:
    """Facts about filing and following up a claim."""

    contact_centre: MarkedFact[str]
    payment_working_days: MarkedFact[int]
    has_deadline_if_active: MarkedFact[bool]
    tracking_with_kpj: MarkedFact[bool]
    tracking_site: str  # where claims are tracked (shares ``tracking_with_kpj``'s mark)
    fully_online_jkm: MarkedFact[bool | None]  # None = not known
    jkk_report_within_hours: MarkedFact[int]
    lapak_asik_steps: tuple[ProcessStep, ...]
    lapak_asik_mark: Mark


@dataclass(frozen=True, slots=True)
class ScholarshipTerms:
    """The conditions of the scholarship, for explaining them before asking about children."""

    max_children: int
    min_years: Mapping[DeathCause, int]  # minimum years of iuran per cause (0 = no condition)
    child_max_age_exclusive: int  # a child counts while younger than this (and not working)
    regulation: str
    mark: Mark


@dataclass(frozen=True, slots=True)
class _JkkRules:
    regulation: str
    mark: Mark
    income_multiplier: int
    income_base_min: int
    income_base_max: int
    funeral: int
    periodic_installments: int
    periodic_installment_amount: int
    lump_sum_label: str
    funeral_label: str
    periodic_label: str


@dataclass(frozen=True, slots=True)
class _ScholarshipRules:
    regulation: str
    mark: Mark
    max_children: int
    min_years: Mapping[DeathCause, int]
    levels: tuple[LevelRule, ...]
    child_max_age_exclusive: int


@dataclass(frozen=True, slots=True)
class _ClaimData:
    jkm: Breakdown
    jkm_effective_from: date
    jkk: _JkkRules
    scholarship: _ScholarshipRules
    heir_groups: tuple[tuple[int, tuple[ClaimantType, ...]], ...]
    documents: tuple[Document, ...]
    offices: tuple[Office, ...]
    process: ClaimProcess


def _component(raw: Mapping[str, Any]) -> BenefitComponent:
    if "installments" in raw:
        n, each = int(raw["installments"]), int(raw["installment_amount"])
        return BenefitComponent(BenefitCode(raw["code"]), raw["label"], n * each, n, each)
    return BenefitComponent(BenefitCode(raw["code"]), raw["label"], int(raw["amount"]))


def _optional_str(value: str) -> str | None:
    return value or None


def _tristate(value: str) -> bool | None:
    return {"yes": True, "no": False, "unknown": None}[value]


@functools.cache
def _data() -> _ClaimData:
    raw = load_toml(_DATA_FILE)
    jkm_raw, jkk_raw, sch_raw = raw["jkm"], raw["jkk_death"], raw["scholarship"]
    jkm = Breakdown(
        cause=DeathCause.JKM,
        components=tuple(_component(c) for c in jkm_raw["components"]),
        regulation=jkm_raw["regulation"],
        mark=Mark(jkm_raw["mark"]),
    )
    jkk = _JkkRules(
        regulation=jkk_raw["regulation"],
        mark=Mark(jkk_raw["mark"]),
        income_multiplier=jkk_raw["income_multiplier"],
        income_base_min=jkk_raw["income_base_min"],
        income_base_max=jkk_raw["income_base_max"],
        funeral=jkk_raw["funeral"],
        periodic_installments=jkk_raw["periodic_installments"],
        periodic_installment_amount=jkk_raw["periodic_installment_amount"],
        lump_sum_label=jkk_raw["lump_sum_label"],
        funeral_label=jkk_raw["funeral_label"],
        periodic_label=jkk_raw["periodic_label"],
    )
    levels = tuple(
        LevelRule(SchoolLevel(lv["code"]), lv["label"], lv["amount_per_year"], lv["max_years"])
        for lv in sch_raw["levels"]
    )
    if {lv.level for lv in levels} != set(SchoolLevel):
        raise ValueError(f"{_DATA_FILE}: scholarship.levels must list every SchoolLevel once")
    scholarship_rules = _ScholarshipRules(
        regulation=sch_raw["regulation"],
        mark=Mark(sch_raw["mark"]),
        max_children=sch_raw["max_children"],
        min_years=MappingProxyType(
            {
                DeathCause.JKM: sch_raw["jkm_min_years_paid"],
                DeathCause.JKK: sch_raw["jkk_min_years_paid"],
            }
        ),
        levels=levels,
        child_max_age_exclusive=sch_raw["child_max_age_exclusive"],
    )
    groups = tuple(
        (int(g["priority"]), tuple(ClaimantType(m) for m in g["members"]))
        for g in sorted(raw["heirs"]["groups"], key=lambda g: int(g["priority"]))
    )
    documents = tuple(
        Document(
            code=d["code"],
            label=d["label"],
            where_text=d["where_text"],
            applies=DocumentCondition(d["applies"]),
            mark=Mark(d["mark"]),
            note_text=d.get("note_text"),
            note_mark=Mark(d["note_mark"]) if "note_mark" in d else None,
        )
        for d in raw["documents"]
    )
    offices = tuple(
        Office(
            code=o["code"],
            kind=OfficeKind(o["kind"]),
            name=o["name"],
            address=o["address"],
            days=tuple(Weekday(d) for d in o["days"]),
            hours=_optional_str(o["hours"]),
            phone=_optional_str(o["phone"]),
            mark=Mark(o["mark"]),
            details_mark=Mark(o["details_mark"]),
        )
        for o in raw["offices"]
    )
    cp = raw["claim_process"]
    process = ClaimProcess(
        contact_centre=MarkedFact(cp["contact_centre"], Mark(cp["contact_centre_mark"])),
        payment_working_days=MarkedFact(cp["payment_working_days"], Mark(cp["payment_mark"])),
        has_deadline_if_active=MarkedFact(
            cp["deadline_if_active"] != "none", Mark(cp["deadline_mark"])
        ),
        tracking_with_kpj=MarkedFact(bool(cp["tracking_with_kpj"]), Mark(cp["tracking_mark"])),
        tracking_site=cp["tracking_site"],
        fully_online_jkm=MarkedFact(
            _tristate(cp["fully_online_jkm"]), Mark(cp["fully_online_mark"])
        ),
        jkk_report_within_hours=MarkedFact(
            jkk_raw["report_within_hours"], Mark(jkk_raw["report_mark"])
        ),
        lapak_asik_steps=tuple(ProcessStep(s["code"], s["label"]) for s in cp["lapak_asik_steps"]),
        lapak_asik_mark=Mark(cp["lapak_asik_mark"]),
    )
    return _ClaimData(
        jkm=jkm,
        jkm_effective_from=jkm_raw["effective_from"],
        jkk=jkk,
        scholarship=scholarship_rules,
        heir_groups=groups,
        documents=documents,
        offices=offices,
        process=process,
    )


def heir_priority(claimant: ClaimantType) -> int | None:
    """Return the heir group (1 = closest) of ``claimant``, or None for a proxy.

    Args:
        claimant: Relationship of the person to the deceased.

    Returns:
        The priority group number from the data file, or None if the type is not an heir.
    """
    for priority, members in _data().heir_groups:
        if claimant in members:
            return priority
    return None


def heir_groups() -> tuple[tuple[int, tuple[ClaimantType, ...]], ...]:
    """Return the heir order: ``(priority, members)`` pairs, closest group first."""
    return _data().heir_groups


def can_claim_now(claimant: ClaimantType, *, closer_heirs_exist: bool | None) -> HeirVerdict:
    """Decide whether ``claimant`` may file the claim now under the heir priority order.

    Args:
        claimant: Relationship of the person to the deceased.
        closer_heirs_exist: Whether anyone from a closer (lower-numbered) heir group is alive;
            None when not asked yet. Ignored for group 1 and for a proxy.

    Returns:
        The verdict with the priority group and the closer claimant types to ask about.
    """
    priority = heir_priority(claimant)
    if priority is None:
        return HeirVerdict(claimant, HeirStatus.PROXY_FOR_HEIR, None, ())
    closer = tuple(m for p, members in _data().heir_groups if p < priority for m in members)
    if not closer or closer_heirs_exist is False:
        status = HeirStatus.CAN_CLAIM
    elif closer_heirs_exist is None:
        status = HeirStatus.ONLY_IF_NO_CLOSER_HEIR
    else:
        status = HeirStatus.CLOSER_HEIR_EXISTS
    return HeirVerdict(claimant, status, priority, closer)


def jkm_benefit() -> Breakdown:
    """Return the JKM cash benefit (death not from a work accident), PP 82/2019.

    Returns:
        Lump sum, periodic and funeral components; ``total`` is their sum.
    """
    return _data().jkm


def jkm_effective_from() -> date:
    """Return the first date of death for which the current JKM amounts apply."""
    return _data().jkm_effective_from


def jkk_base_income() -> int:
    """Return the lowest BPU income base, on which the usual JKK death benefit is quoted."""
    return _data().jkk.income_base_min


def jkk_death_benefit(declared_income: int) -> Breakdown:
    """Return the cash benefit for a death from a work accident.

    The lump sum is ``income_multiplier`` × declared monthly income. A declared income outside
    the BPU income range is clamped to it (iuran is never computed on less than the lowest
    step), and ``income_adjusted`` is set so the handler can say the figure is an estimate.

    Args:
        declared_income: Declared monthly income in rupiah.

    Returns:
        Lump sum, funeral and periodic components (scholarship is separate).

    Raises:
        ValueError: If ``declared_income`` is negative.
    """
    if declared_income < 0:
        raise ValueError("declared_income must not be negative")
    rules = _data().jkk
    income = min(max(declared_income, rules.income_base_min), rules.income_base_max)
    periodic = rules.periodic_installments * rules.periodic_installment_amount
    components = (
        BenefitComponent(
            BenefitCode.LUMP_SUM, rules.lump_sum_label, rules.income_multiplier * income
        ),
        BenefitComponent(BenefitCode.FUNERAL, rules.funeral_label, rules.funeral),
        BenefitComponent(
            BenefitCode.PERIODIC,
            rules.periodic_label,
            periodic,
            rules.periodic_installments,
            rules.periodic_installment_amount,
        ),
    )
    return Breakdown(
        cause=DeathCause.JKK,
        components=components,
        regulation=rules.regulation,
        mark=rules.mark,
        income_used=income,
        income_adjusted=income != declared_income,
    )


def scholarship_levels() -> tuple[LevelRule, ...]:
    """Return the per-level scholarship table in school order."""
    return _data().scholarship.levels


def scholarship_terms() -> ScholarshipTerms:
    """Return the scholarship conditions (children counted, years of iuran, child age limit)."""
    rules = _data().scholarship
    return ScholarshipTerms(
        max_children=rules.max_children,
        min_years=rules.min_years,
        child_max_age_exclusive=rules.child_max_age_exclusive,
        regulation=rules.regulation,
        mark=rules.mark,
    )


def scholarship(
    levels: Sequence[SchoolLevel], years_paid: float, cause: DeathCause
) -> ScholarshipResult:
    """Work out the scholarship (beasiswa) for the deceased member's children.

    Args:
        levels: Current school level of each child who is in school, in the family's order
            (for example eldest first); only the first ``max_children`` are counted.
        years_paid: Years of iuran the member paid (only matters for JKM).
        cause: Whether the death was from a work accident (no minimum years) or not.

    Returns:
        Eligibility with the reason and, when eligible, per-child figures: amount per year and
        maximum years at the current level, and the upper bound from that level onwards.
    """
    rules = _data().scholarship
    required = rules.min_years[cause]
    order = [lv.level for lv in rules.levels]
    counted = []
    for index, level in enumerate(levels[: rules.max_children]):
        rule = rules.levels[order.index(level)]
        remaining = rules.levels[order.index(level) :]
        counted.append(
            ChildScholarship(
                child_index=index,
                level=level,
                amount_per_year=rule.amount_per_year,
                max_years=rule.max_years,
                level_total=rule.amount_per_year * rule.max_years,
                max_total=sum(r.amount_per_year * r.max_years for r in remaining),
            )
        )
    if years_paid < required:
        reason = ScholarshipReason.NOT_ENOUGH_YEARS_PAID
    elif not counted:
        reason = ScholarshipReason.NO_CHILDREN
    else:
        reason = ScholarshipReason.ELIGIBLE
    eligible = reason is ScholarshipReason.ELIGIBLE
    return ScholarshipResult(
        eligible=eligible,
        reason=reason,
        required_years=required,
        children=tuple(counted) if eligible else (),
        children_not_counted=max(0, len(levels) - rules.max_children),
        max_children=rules.max_children,
        regulation=rules.regulation,
        mark=rules.mark,
    )


def document_checklist(
    *, claimant: ClaimantType, proxy: bool, scholarship: bool, cause: DeathCause
) -> list[Document]:
    """Return the documents to bring, in the data file's stable order.

    Args:
        claimant: The heir the claim is for (``PROXY`` when the heir is not known yet).
        proxy: True when someone else files on the heir's behalf.
        scholarship: True when the scholarship for children is requested too.
        cause: JKK adds the work-accident papers.

    Returns:
        The applicable documents; each carries ``label`` / ``where_text`` msgids and a mark.
    """
    wanted = {
        DocumentCondition.ALWAYS: True,
        DocumentCondition.SPOUSE: claimant is ClaimantType.SPOUSE,
        DocumentCondition.PROXY: proxy or claimant is ClaimantType.PROXY,
        DocumentCondition.SCHOLARSHIP: scholarship,
        DocumentCondition.JKK: cause is DeathCause.JKK,
    }
    return [d for d in _data().documents if wanted[d.applies]]


def offices() -> list[Office]:
    """Return the places where heirs can file or ask, in the data file's order."""
    return list(_data().offices)


def claim_process() -> ClaimProcess:
    """Return the claim-process facts (contact centre, payment time, deadline, Lapak Asik)."""
    return _data().process
