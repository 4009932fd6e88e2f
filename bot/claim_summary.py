"""What the claim guide tells a family, as plain text lines, and the summary they keep.

The guide's answers (a ``ClaimCase`` row) are resolved into a :class:`CaseView` with the domain
rules of :mod:`bot.domain.claims`. The line builders here turn a view into translated plain-text
lines that both the chat messages (escaped, as HTML) and the PDF summary (shown at the office
counter) use, so the two can never disagree.

The PDF uses the standard Helvetica font: its Latin-1 character set covers Indonesian (and
English) completely, and a standard font needs no font file at run time. Any character outside
Latin-1 (a typographic dash or bullet in a translation) is replaced by its plain equivalent.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.domain.claims import (
    Breakdown,
    ClaimantType,
    DeathCause,
    Document,
    HeirStatus,
    HeirVerdict,
    Mark,
    Office,
    OfficeKind,
    ScholarshipReason,
    ScholarshipResult,
    SchoolLevel,
    Weekday,
    can_claim_now,
    claim_process,
    document_checklist,
    heir_groups,
    jkk_base_income,
    jkk_death_benefit,
    jkm_benefit,
    offices,
    scholarship,
    scholarship_levels,
    scholarship_terms,
)
from bot.i18n import N_
from storage.models.claims import ClaimCase, CloserHeirs, Membership, YearsPaid

if TYPE_CHECKING:
    from bot.i18n import Translator

# --- labels (msgids) -------------------------------------------------------------------------

CLAIMANT_LABELS: dict[ClaimantType, str] = {
    ClaimantType.SPOUSE: N_("Wife or husband"),
    ClaimantType.CHILD: N_("Child"),
    ClaimantType.PARENT: N_("Father or mother"),
    ClaimantType.GRANDCHILD: N_("Grandchild"),
    ClaimantType.GRANDPARENT: N_("Grandfather or grandmother"),
    ClaimantType.SIBLING: N_("Brother or sister"),
    ClaimantType.PARENT_IN_LAW: N_("Father- or mother-in-law"),
    ClaimantType.WILL: N_("Person named in a will"),
    ClaimantType.PROXY: N_("I file for an heir (proxy)"),
}

MEMBERSHIP_LABELS: dict[Membership, str] = {
    Membership.ACTIVE: N_("active"),
    Membership.NONAKTIF: N_("not registered or nonaktif"),
    Membership.UNKNOWN: N_("not known yet; the office checks it"),
}

CAUSE_LABELS: dict[DeathCause, str] = {
    DeathCause.JKM: N_("illness or another cause (JKM)"),
    DeathCause.JKK: N_("work accident (JKK)"),
}

OFFICE_KIND_LABELS: dict[OfficeKind, str] = {
    OfficeKind.BRANCH: N_("Branch office"),
    OfficeKind.SERVICE_COUNTER: N_("Service counter in Balangan"),
    OfficeKind.LABOUR_OFFICE: N_("Regency labour office (for workers paid by the regency)"),
}

CONFIRM = N_("please confirm with the office")
_WEEKDAYS = tuple(Weekday)


# --- the answers, resolved -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseView:
    """A claim case with its answers turned into domain results.

    Attributes:
        membership: The family's (or the coverage data's) answer; None before it is given.
        membership_checked: True when the answer came from the coverage data.
        nik_masked: The deceased's masked NIK, or None when not given.
        cause: JKM or JKK (JKM until answered).
        claimant: Who talks to the bot (``PROXY`` for someone filing for an heir).
        verdict: Whether the heir can claim now, from the heir order.
        breakdown: The cash benefit.
        scholarship: The scholarship outcome, None when no child in school was mentioned.
        years_unknown: The family does not know whether iuran was paid long enough.
        documents: The tailored checklist.
        ticked: Codes of the documents already collected.
    """

    membership: Membership | None
    membership_checked: bool
    nik_masked: str | None
    cause: DeathCause
    claimant: ClaimantType
    verdict: HeirVerdict
    breakdown: Breakdown
    scholarship: ScholarshipResult | None
    years_unknown: bool
    documents: tuple[Document, ...]
    ticked: frozenset[str]

    @property
    def proxy(self) -> bool:
        """True when someone files for the heir (or must, because a closer heir exists)."""
        return (
            self.claimant is ClaimantType.PROXY
            or self.verdict.status is HeirStatus.CLOSER_HEIR_EXISTS
        )

    @property
    def ticked_count(self) -> int:
        """How many documents of the checklist are collected."""
        return sum(1 for d in self.documents if d.code in self.ticked)


def case_view(case: ClaimCase) -> CaseView:
    """Resolve the stored answers of ``case`` with the domain rules.

    Args:
        case: The claim case; unanswered questions take neutral defaults (JKM, a child heir...)
            so a partly answered case can still be shown.

    Returns:
        The resolved view.
    """
    cause = DeathCause(case.cause) if case.cause else DeathCause.JKM
    claimant = ClaimantType(case.claimant) if case.claimant else ClaimantType.CHILD
    heir = ClaimantType(case.heir) if case.heir else claimant
    closer = {CloserHeirs.YES.value: True, CloserHeirs.NO.value: False}.get(
        case.closer_heirs or ""
    )
    verdict = can_claim_now(heir, closer_heirs_exist=closer)
    breakdown = jkk_death_benefit(jkk_base_income()) if cause is DeathCause.JKK else jkm_benefit()
    terms = scholarship_terms()
    result: ScholarshipResult | None = None
    if case.school_children:
        years = {
            YearsPaid.UNDER.value: 0.0,
            YearsPaid.ENOUGH.value: float(terms.min_years[cause]),
            # Not known: show what the scholarship would be; the office checks the years.
            YearsPaid.UNKNOWN.value: float(terms.min_years[cause]),
        }.get(case.years_paid or "", 0.0)
        levels = [SchoolLevel(code) for code in case.child_levels]
        result = scholarship(levels, years, cause)
    years_unknown = case.years_paid == YearsPaid.UNKNOWN.value and terms.min_years[cause] > 0
    wants_scholarship = result is not None and result.eligible
    documents = document_checklist(
        claimant=ClaimantType.PROXY if verdict.status is HeirStatus.CLOSER_HEIR_EXISTS else heir,
        proxy=claimant is ClaimantType.PROXY,
        scholarship=wants_scholarship,
        cause=cause,
    )
    return CaseView(
        membership=Membership(case.membership) if case.membership else None,
        membership_checked=case.membership_checked,
        nik_masked=case.deceased_nik_masked or None,
        cause=cause,
        claimant=claimant,
        verdict=verdict,
        breakdown=breakdown,
        scholarship=result,
        years_unknown=years_unknown,
        documents=tuple(documents),
        ticked=frozenset(case.ticked),
    )


# --- plain-text line builders ----------------------------------------------------------------


def _u(translated: str) -> str:
    """Plain text from a translation: ``t(...)`` HTML-escapes the values it fills in, but these
    lines are escaped again (chat) or not at all (PDF)."""
    return html.unescape(translated)


def _confirm(t: Translator, text: str, mark: Mark | None) -> str:
    """Append "(please confirm ...)" to a fact that is not confirmed by two sources."""
    if mark is None or not mark.needs_confirmation:
        return text
    return f"{text} ({_u(t(CONFIRM))})"


def claimant_label(t: Translator, claimant: ClaimantType) -> str:
    """The translated relationship."""
    return _u(t(CLAIMANT_LABELS[claimant]))


def closer_list(t: Translator, verdict: HeirVerdict) -> str:
    """The closer heirs of a verdict, as "wife or husband, child, ..." (lower case)."""
    return ", ".join(claimant_label(t, c).lower() for c in verdict.closer_claimants)


def verdict_line(t: Translator, view: CaseView) -> str:
    """One sentence: can this person claim now?"""
    verdict = view.verdict
    who = claimant_label(t, verdict.claimant).lower()
    if verdict.status is HeirStatus.CLOSER_HEIR_EXISTS:
        return _u(
            t(
                "The claim belongs to the closer heir ({closer}). They can sign a power of "
                "attorney (surat kuasa) so that someone files for them.",
                closer=closer_list(t, verdict),
            )
        )
    if verdict.status is HeirStatus.ONLY_IF_NO_CLOSER_HEIR:
        return _u(
            t(
                "Can claim only if none of these is alive: {closer}. The heir statement letter "
                "from the village head and the camat settles who the heirs are.",
                closer=closer_list(t, verdict),
            )
        )
    if view.claimant is ClaimantType.PROXY:
        return _u(
            t(
                "Can file for the heir ({who}) with a power of attorney (surat kuasa) signed "
                "by that heir.",
                who=who,
            )
        )
    return _u(t("As {who} of the deceased, can claim now.", who=who))


def heir_order_lines(t: Translator) -> list[str]:
    """The heir order, one line per group: "1. Wife or husband, child"."""
    lines = []
    for priority, members in heir_groups():
        names = ", ".join(claimant_label(t, m) for m in members)
        lines.append(f"{priority}. {names}")
    return lines


def benefit_lines(t: Translator, view: CaseView) -> list[str]:
    """The cash components, the total and (for JKK) the income it assumes."""
    lines = [f"{_u(t(c.label))}: {t.money(c.amount)}" for c in view.breakdown.components]
    lines.append(_u(t("Total: {amount}", amount=t.money(view.breakdown.total))))
    if view.cause is DeathCause.JKK and view.breakdown.income_used is not None:
        lines.append(
            _u(
                t(
                    "At the base income of {income} a month; a higher registered income gives more.",
                    income=t.money(view.breakdown.income_used),
                )
            )
        )
    lines.append(
        _confirm(t, _u(t("Rules: {rules}", rules=view.breakdown.regulation)), view.breakdown.mark)
    )
    return lines


def level_label(t: Translator, level: SchoolLevel) -> str:
    """The translated school level."""
    rule = next(r for r in scholarship_levels() if r.level is level)
    return _u(t(rule.label))


def level_table_lines(t: Translator) -> list[str]:
    """The scholarship per level: "SD: Rp1.500.000 a year, at most 6 years"."""
    return [
        _u(
            t(
                "{level}: {amount} a year, at most {years} years",
                level=_u(t(r.label)),
                amount=t.money(r.amount_per_year),
                years=r.max_years,
            )
        )
        for r in scholarship_levels()
    ]


def scholarship_lines(t: Translator, view: CaseView) -> list[str]:
    """The scholarship outcome: per child, the total, and its condition; empty without one."""
    result = view.scholarship
    if result is None:
        return []
    if result.reason is ScholarshipReason.NOT_ENOUGH_YEARS_PAID:
        return [
            _u(
                t(
                    "No scholarship: it needs at least {years} years of contributions.",
                    years=result.required_years,
                )
            )
        ]
    if not result.eligible:
        return []
    lines = [
        _u(
            t(
                "Child {number} ({level}): {amount} a year, up to {level_total} at this level; "
                "up to {max_total} if they study on to university.",
                number=child.child_index + 1,
                level=level_label(t, child.level),
                amount=t.money(child.amount_per_year),
                level_total=t.money(child.level_total),
                max_total=t.money(child.max_total),
            )
        )
        for child in result.children
    ]
    lines.append(_u(t("Scholarship in total: up to {amount}", amount=t.money(result.max_total))))
    if view.years_unknown:
        lines.append(
            _u(
                t(
                    "Only if contributions were paid for at least {years} years: the office checks "
                    "this.",
                    years=result.required_years,
                )
            )
        )
    return lines


def document_line(t: Translator, number: int, document: Document, ticked: bool) -> str:
    """One checklist line with its tick: "✅ 3. Family card (Kartu Keluarga)"."""
    box = "✅" if ticked else "⬜"
    return f"{box} {number}. {_confirm(t, _u(t(document.label)), document.mark)}"


def document_detail(t: Translator, document: Document) -> str:
    """Where to obtain a document, with its note (e.g. a digital card may do)."""
    text = _u(t(document.where_text))
    if document.note_text:
        # The note itself says what to confirm (it is only there because it is unsure).
        text += " " + _u(t(document.note_text))
    return text


def _days(t: Translator, days: Sequence[Weekday]) -> str:
    names = t.locale.days["format"]["wide"]
    return ", ".join(str(names[_WEEKDAYS.index(d)]) for d in days)


def office_lines(t: Translator, office: Office) -> list[str]:
    """Name, kind, address, days/hours and phone of one office, honest about what is unknown."""
    lines = [
        office.name,
        _u(t(OFFICE_KIND_LABELS[office.kind])) + " · " + office.address,
    ]
    if office.days:
        days = _days(t, office.days)
        if office.hours:
            lines.append(_u(t("Open: {days}, {hours}", days=days, hours=office.hours)))
        else:
            lines.append(_u(t("Open: {days} (hours not known yet)", days=days)))
    else:
        lines.append(_u(t("Opening days and hours: not known yet.")))
    if office.phone:
        lines.append(_u(t("Phone: {phone}", phone=office.phone)))
    if office.needs_confirmation:
        lines.append(_u(t("Not all of this is confirmed: please phone before you go.")))
    return lines


def office_summary_line(t: Translator, office: Office) -> str:
    """One line per office for the summary: "Name (kind): Wednesday, Thursday"."""
    days = _days(t, office.days) if office.days else _u(t("days not known yet"))
    text = f"{office.name} ({_u(t(OFFICE_KIND_LABELS[office.kind]))}): {days}"
    if office.hours:
        text += f", {office.hours}"
    if office.phone:
        text += f", {office.phone}"
    return _confirm(t, text, Mark.U if office.needs_confirmation else office.mark)


def payment_line(t: Translator) -> str:
    """When the benefit is paid."""
    fact = claim_process().payment_working_days
    text = _u(
        t(
            "Payment: about {days} working days after the documents are complete.",
            days=fact.value,
        )
    )
    return _confirm(t, text, fact.mark)


def contact_line(t: Translator) -> str:
    """The BPJS Ketenagakerjaan contact centre."""
    fact = claim_process().contact_centre
    return _confirm(
        t, _u(t("BPJS Ketenagakerjaan contact centre: {phone}", phone=fact.value)), fact.mark
    )


def process_lines(t: Translator) -> list[str]:
    """After filing: payment time, tracking, contact centre, deadline, online claims."""
    process = claim_process()
    lines = [payment_line(t)]
    if process.tracking_with_kpj.value:
        text = _u(
            t(
                "Follow the claim on {site} with the KPJ membership number.",
                site=process.tracking_site,
            )
        )
        lines.append(_confirm(t, text, process.tracking_with_kpj.mark))
    lines.append(contact_line(t))
    deadline = process.has_deadline_if_active
    text = (
        _u(t("There is a deadline for the claim: ask the office."))
        if deadline.value
        else _u(
            t(
                "There is no deadline as long as the membership was active at death; still, "
                "file soon."
            )
        )
    )
    lines.append(_confirm(t, text, deadline.mark))
    online = process.fully_online_jkm
    if online.value is None:
        lines.append(_u(t("Whether the whole claim can be done online is not known yet.")))
    elif online.value:
        lines.append(_confirm(t, _u(t("The claim can also be done online.")), online.mark))
    return lines


def lapak_asik_lines(t: Translator) -> list[str]:
    """The Lapak Asik steps at the branch office, numbered."""
    process = claim_process()
    return [
        _confirm(t, f"{n}. {_u(t(step.label))}", process.lapak_asik_mark)
        for n, step in enumerate(process.lapak_asik_steps, start=1)
    ]


# --- the summary document --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """A line of the summary; ``checked`` is set for checklist lines (drawn as a box)."""

    text: str
    checked: bool | None = None
    detail: str | None = None  # small print under the line (the PDF only)
    strong: bool = False  # printed in bold (totals)


@dataclass(frozen=True, slots=True)
class SummarySection:
    """A heading and its lines."""

    heading: str
    lines: tuple[SummaryLine, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the family keeps, in their language, as plain text."""

    title: str
    subtitle: str
    sections: tuple[SummarySection, ...]
    footer: str


def _section(heading: str, lines: Iterable[str | SummaryLine]) -> SummarySection:
    return SummarySection(
        heading,
        tuple(line if isinstance(line, SummaryLine) else SummaryLine(line) for line in lines),
    )


def build_summary(t: Translator, view: CaseView, *, today: date) -> Summary:
    """Assemble the summary of a claim case.

    Args:
        t: The family's translator.
        view: The resolved case.
        today: The date printed on the summary (regency date).

    Returns:
        The summary; render it with :func:`render_html` or :func:`render_pdf`.
    """
    membership = (
        _u(t(MEMBERSHIP_LABELS[view.membership]))
        if view.membership is not None
        else _u(t("not answered"))
    )
    if view.membership_checked:
        membership = _u(t("{status} (from the coverage data)", status=membership))
    deceased = [
        _u(t("NIK: {nik}", nik=view.nik_masked)) if view.nik_masked else _u(t("NIK: not given")),
        _u(t("Membership on the day of death: {status}", status=membership)),
        _u(t("Cause of death: {cause}", cause=_u(t(CAUSE_LABELS[view.cause])))),
    ]
    if view.claimant is ClaimantType.PROXY:
        who = _u(
            t(
                "Filed by a proxy for: {who}",
                who=claimant_label(t, view.verdict.claimant).lower(),
            )
        )
    else:
        who = _u(t("Relationship to the deceased: {who}", who=claimant_label(t, view.claimant)))
    total_line = _u(t("Total: {amount}", amount=t.money(view.breakdown.total)))
    benefit = [
        SummaryLine(line, strong=line == total_line)
        for line in benefit_lines(t, view) + scholarship_lines(t, view)
    ]
    documents = [
        SummaryLine(
            text=f"{number}. {_confirm(t, _u(t(d.label)), d.mark)}",
            checked=d.code in view.ticked,
            detail=document_detail(t, d),
        )
        for number, d in enumerate(view.documents, start=1)
    ]
    places = [office_summary_line(t, office) for office in offices()]
    places.extend([payment_line(t), contact_line(t)])
    title = (
        _u(t("Death benefit claim (work accident, JKK)"))
        if view.cause is DeathCause.JKK
        else _u(t("JKM death benefit claim"))
    )
    return Summary(
        title=title,
        subtitle=_u(
            t("Summary made on {date} by the Jamsostek Balangan bot.", date=t.date(today))
        ),
        sections=(
            _section(_u(t("The deceased")), deceased),
            _section(_u(t("The heir")), [who, verdict_line(t, view)]),
            _section(_u(t("Benefit")), benefit),
            _section(
                _u(
                    t(
                        "Documents ({done} of {total} ready)",
                        done=view.ticked_count,
                        total=len(view.documents),
                    )
                ),
                documents,
            ),
            _section(_u(t("Where to file")), places),
        ),
        footer=_u(
            t(
                'BPJS Ketenagakerjaan decides on the claim. Facts marked "please confirm" are '
                "not certain yet: ask the office or the contact centre.",
            )
        ),
    )


def render_html(summary: Summary) -> str:
    """The summary as one Telegram HTML message (small print left out to keep it short)."""
    parts = [f"<b>{html.escape(summary.title)}</b>", html.escape(summary.subtitle)]
    for section in summary.sections:
        lines = [f"\n<b>{html.escape(section.heading)}</b>"]
        for line in section.lines:
            box = "" if line.checked is None else ("✅ " if line.checked else "⬜ ")
            text = html.escape(line.text)
            lines.append(box + (f"<b>{text}</b>" if line.strong else text))
        parts.append("\n".join(lines))
    parts.append(f"\n<i>{html.escape(summary.footer)}</i>")
    return "\n".join(parts)


# --- PDF -------------------------------------------------------------------------------------

_PLAIN_EQUIVALENTS = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "•": "-",
        "…": "...",
        "✅": "",
        "⬜": "",
        "⚠": "!",
        "\u00a0": " ",
    }
)
_FONT = "helvetica"
_TICK_FONT = "zapfdingbats"
_TICK = "4"  # ZapfDingbats: a check mark
_MARGIN = 15.0
_LINE = 5.5


def latin1(text: str) -> str:
    """``text`` limited to Latin-1, the character set of the standard PDF fonts.

    Typographic punctuation becomes its plain form, accents that Latin-1 lacks are dropped
    ("ş" → "s"), and anything else (emoji) becomes "?"; Indonesian needs none of this, but a
    translation or a place name must never break the document.
    """
    text = text.translate(_PLAIN_EQUIVALENTS)
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char)
        kept = "".join(c for c in base if ord(c) < 256 and not unicodedata.combining(c))
        out.append(kept or "?")
    return "".join(out).strip()


def render_pdf(summary: Summary) -> bytes:
    """The summary as an A4 PDF: large title, clear headings, boxes for the documents.

    Returns:
        The PDF file's bytes.
    """
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_MARGIN)
    pdf.set_title(latin1(summary.title))
    pdf.set_creator("jamsostek-bot")
    pdf.add_page()
    pdf.set_font(_FONT, "B", 16)
    pdf.multi_cell(0, 8, latin1(summary.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
    pdf.set_font(_FONT, "", 10)
    pdf.multi_cell(
        0, _LINE, latin1(summary.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
    )
    for section in summary.sections:
        pdf.ln(3)
        if pdf.will_page_break(4 * _LINE):
            pdf.add_page()  # never leave a heading alone at the bottom of a page
        pdf.set_font(_FONT, "B", 13)
        pdf.multi_cell(
            0, 7, latin1(section.heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
        )
        for line in section.lines:
            _pdf_line(pdf, line)
    pdf.ln(4)
    pdf.set_font(_FONT, "I", 9)
    pdf.multi_cell(
        0, _LINE, latin1(summary.footer), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
    )
    return bytes(pdf.output())


def _pdf_line(pdf: FPDF, line: SummaryLine) -> None:
    indent = 0.0
    if line.checked is not None:
        if pdf.will_page_break(3 * _LINE):
            pdf.add_page()  # keep a box with its text and small print
        x, y = pdf.get_x(), pdf.get_y()
        pdf.rect(x, y + 0.8, 4, 4)
        if line.checked:
            pdf.set_font(_TICK_FONT, "", 10)
            pdf.set_xy(x + 0.2, y + 0.6)
            pdf.cell(4, 4, _TICK)
        pdf.set_xy(x + 6, y)
        indent = 6.0
    pdf.set_font(_FONT, "B" if line.strong else "", 11)
    pdf.multi_cell(
        0, _LINE + 0.5, latin1(line.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
    )
    if line.detail:
        pdf.set_x(pdf.l_margin + indent)
        pdf.set_font(_FONT, "", 9)
        pdf.multi_cell(
            0, _LINE - 1, latin1(line.detail), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
        )
        pdf.ln(1)
