"""Catalog texts of the coverage feature, shared by /cek (``handlers/coverage.py``), the reminder
sender and the roster import report (chat and command line).

Every function takes the reader's :class:`~bot.i18n.Translator` and returns HTML for Telegram's
HTML parse mode; values are escaped by the translator. NIK and KPJ numbers only ever appear masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.coverage_lookup import PersonStatus, regency_zone
from bot.domain.claims import claim_process, offices
from bot.domain.coverage import CoverageState, Payer, payment_facts
from bot.domain.nik import NikError
from bot.domain.reminders import ReminderKind
from bot.domain.roster import (
    Field,
    HeaderProblem,
    HeaderProblemCode,
    Programme,
    RosterFormatErrorCode,
    RowError,
    RowErrorCode,
    expected_headers,
)
from bot.domain.tariffs import Contribution
from bot.i18n import Html, Translator, escape
from storage.models.coverage import ImportStatus
from storage.models.registration import SubmissionStatus

if TYPE_CHECKING:
    from bot.roster_import import ImportProgress, ImportResult


def _join(lines: Iterable[str | None]) -> str:
    """Lines joined by new lines; None is left out, "" is kept as an empty line."""
    return "\n".join(line for line in lines if line is not None)


# --- small pieces ------------------------------------------------------------------------------


def payer_label(t: Translator, payer: Payer) -> str:
    """Who pays, in words."""
    match payer:
        case Payer.APBD:
            return t("the Balangan regency (APBD)")
        case Payer.SELF:
            return t("the member (mandiri)")
        case Payer.OTHER:
            return t("another party")


def programme_label(t: Translator, programme: Programme) -> str:
    """A programme code with what it covers."""
    match programme:
        case Programme.JKK:
            return t("JKK (work accident)")
        case Programme.JKM:
            return t("JKM (death)")
        case Programme.JHT:
            return t("JHT (old-age savings)")


def programmes_text(t: Translator, programmes: Iterable[Programme]) -> str:
    """Programmes in a fixed order (JKK, JKM, JHT), comma-separated."""
    order = list(Programme)
    return ", ".join(programme_label(t, p) for p in sorted(programmes, key=order.index))


def _office_names(codes: Iterable[str]) -> list[str]:
    known = {office.code: office for office in offices()}
    return [known[code].name for code in codes if code in known]


def pay_places(t: Translator) -> str:
    """Where to pay or ask (offices from the data files), as a bulleted list."""
    names = _office_names(payment_facts().places)
    return "\n".join(f"• {escape(name)}" for name in names) or t(
        "the nearest BPJS Ketenagakerjaan office"
    )


def apbd_office() -> str:
    """The office pemda-paid participants ask about a renewal."""
    names = _office_names([payment_facts().apbd_contact])
    return names[0] if names else ""


def official_record(t: Translator) -> str:
    """The honest pointer to the official record."""
    return t(
        "This bot's data may be behind. For the official record, use the JMO app or call the "
        "BPJS Ketenagakerjaan contact centre on {phone}.",
        phone=claim_process().contact_centre.value,
    )


def local_time(t: Translator, moment: datetime, *, today: date) -> str:
    """A moment in WITA: "11.20 WITA", or with its date when it is not today."""
    local = moment.astimezone(regency_zone())
    if local.date() == today:
        return t("{time} WITA", time=t.time(local))
    return t("{date}, {time} WITA", date=t.date(local.date()), time=t.time(local))


# --- contribution -------------------------------------------------------------------------------


def contribution_parts(t: Translator, amount: Contribution) -> str:
    """The parts of a contribution: JKK Rp10.000 + JKM Rp6.800 (+ JHT)."""
    if amount.jht:
        return t(
            "JKK {jkk} + JKM {jkm} + JHT {jht}",
            jkk=t.money(amount.jkk),
            jkm=t.money(amount.jkm),
            jht=t.money(amount.jht),
        )
    return t("JKK {jkk} + JKM {jkm}", jkk=t.money(amount.jkk), jkm=t.money(amount.jkm))


def _contribution_lines(t: Translator, status: PersonStatus) -> list[str]:
    amount = status.contribution
    if amount is None:
        return []
    payer = status.roster.payer if status.roster is not None else None
    if payer is Payer.APBD:
        return [
            t(
                "💵 Contribution: {amount} a month, paid by the regency. You pay nothing.",
                amount=t.money(amount.total),
            )
        ]
    lines = [
        t(
            "💵 Contribution: <b>{amount}</b> a month ({parts}).",
            amount=t.money(amount.total),
            parts=Html(contribution_parts(t, amount)),
        )
    ]
    if amount.discount is not None:
        lines.append(
            t(
                "Includes a {percent}% discount ({regulation}) until {date}.",
                percent=amount.discount.percent,
                regulation=amount.discount.regulation,
                date=t.date(amount.discount.valid_until),
            )
        )
    if not status.contribution_from_submission:
        lines.append(t("(The amount for an income of {base} a month.)", base=t.money(amount.base)))
    elif amount.estimate:
        lines.append(t("This amount is an estimate; the office confirms it."))
    return lines


# --- status --------------------------------------------------------------------------------------


def _state_lines(t: Translator, status: PersonStatus) -> list[str]:
    coverage, roster = status.coverage, status.roster
    assert coverage is not None
    assert roster is not None
    apbd = roster.payer is Payer.APBD
    paid = coverage.paid_until
    match coverage.state:
        case CoverageState.ACTIVE:
            assert paid is not None
            return [
                t("🟢 Status: <b>ACTIVE</b>, protected."),
                t("Paid by the regency until: {date}", date=t.date(paid))
                if apbd
                else t("Paid until: {date}", date=t.date(paid)),
            ]
        case CoverageState.GRACE:
            assert paid is not None
            assert coverage.protected_until is not None
            return [
                t.n(
                    "🟡 Status: <b>ACTIVE, but payment is late</b> ({count} month unpaid).",
                    "🟡 Status: <b>ACTIVE, but payment is late</b> ({count} months unpaid).",
                    coverage.unpaid_months,
                ),
                t("Paid until: {date}", date=t.date(paid)),
                t("Still protected until: <b>{date}</b>", date=t.date(coverage.protected_until)),
            ]
        case CoverageState.NONAKTIF:
            assert paid is not None
            assert coverage.nonaktif_from is not None
            return [
                t(
                    "🔴 Status: <b>NONAKTIF</b> since {date}. An accident or death now is "
                    "<b>not covered</b>.",
                    date=t.date(coverage.nonaktif_from),
                ),
                t("Paid until: {date}", date=t.date(paid)),
            ]
        case CoverageState.NO_PAYMENT:
            return [t("⚪ Status: <b>not protected yet</b>: no payment is recorded.")]
        case CoverageState.NOT_STARTED:
            return [
                t(
                    "⚪ Status: <b>not protected yet</b>: protection starts on {date}.",
                    date=t.date(roster.coverage_start),
                )
            ]


def _lapse_line(t: Translator, status: PersonStatus) -> str | None:
    coverage = status.coverage
    if coverage is None or coverage.nonaktif_from is None or coverage.protected_until is None:
        return None
    if coverage.state not in (CoverageState.ACTIVE, CoverageState.NOT_STARTED):
        return None
    return t(
        "Without a new payment, protection lasts until {protected_until}; from {nonaktif_from} "
        "the membership becomes NONAKTIF.",
        protected_until=t.date(coverage.protected_until),
        nonaktif_from=t.date(coverage.nonaktif_from),
    )


def _pay_how(t: Translator) -> list[str]:
    facts = payment_facts()
    lines = []
    ahead = [m for m in facts.months_ahead if m > 1]
    if ahead:
        lines.append(
            t(
                "You can pay monthly, or {months} months at once.",
                months=", ".join(str(m) for m in ahead),
            )
        )
    if not facts.late_fine:
        lines.append(t("There is no fine for paying late."))
    lines.append(t("Where to pay or ask:") + "\n" + pay_places(t))
    return lines


def _next_steps(t: Translator, status: PersonStatus) -> list[str]:
    coverage, roster = status.coverage, status.roster
    assert coverage is not None
    assert roster is not None
    state = coverage.state
    if roster.payer is Payer.APBD:
        if state is CoverageState.ACTIVE:
            return [t("👉 Nothing to pay now: the regency pays the contribution.")]
        if state is CoverageState.NOT_STARTED:
            return [t("👉 Nothing to do now. Protection starts on the date above.")]
        lines = [
            t(
                "👉 The regency's payment has not been renewed in our data. Ask at {office} or "
                "at your village office whether it will be renewed.",
                office=apbd_office(),
            )
        ]
        if state is CoverageState.GRACE and coverage.nonaktif_from is not None:
            lines.append(
                t(
                    "Without renewal, the membership becomes NONAKTIF from {date}.",
                    date=t.date(coverage.nonaktif_from),
                )
            )
        return lines
    match state:
        case CoverageState.ACTIVE:
            assert coverage.paid_until is not None
            first = t(
                "👉 Pay the next month by {date} to stay protected.",
                date=t.date(coverage.paid_until),
            )
        case CoverageState.GRACE:
            assert coverage.nonaktif_from is not None
            first = t(
                "👉 Pay now, before {date}, so you stay protected.",
                date=t.date(coverage.nonaktif_from),
            )
        case CoverageState.NONAKTIF:
            first = t(
                "👉 Pay again to be protected again. Whether earlier months still count is not "
                "certain: ask at the office."
            )
        case CoverageState.NOT_STARTED if coverage.paid_until is not None:
            return [t("👉 Nothing to do now. Protection starts on the date above.")]
        case _:
            first = t("👉 Pay the first month's contribution so protection can start.")
    return [first, *_pay_how(t)]


def _submission_lines(t: Translator, status: PersonStatus) -> list[str]:
    submission = status.submission
    if submission is None:
        return []
    sent = (
        t.date(submission.submitted_at.astimezone(regency_zone()).date())
        if (submission.submitted_at is not None)
        else "-"
    )
    match submission.status:
        case SubmissionStatus.SUBMITTED:
            return [
                t(
                    "📝 Registration no. {reference} was sent on {date}. The regency is "
                    "checking it. Not protected yet: we will send a message.",
                    reference=submission.reference,
                    date=sent,
                )
            ]
        case SubmissionStatus.VERIFIED:
            return [
                t(
                    "📝 Registration no. {reference} was checked by the regency and passed to "
                    "BPJS Ketenagakerjaan. Not protected yet: we will send a message.",
                    reference=submission.reference,
                )
            ]
        case SubmissionStatus.REJECTED:
            lines = [
                t(
                    "❌ Registration no. {reference} was not accepted.",
                    reference=submission.reference,
                )
            ]
            if submission.rejection_reason:
                lines.append(t("Reason: {reason}", reason=submission.rejection_reason))
            lines.append(t("You can register again with /daftar."))
            return lines
        case SubmissionStatus.REGISTERED if status.roster is None:
            return [
                t(
                    "Registration no. {reference} is done. Until when and who pays will show "
                    "here once the regency loads its next participant list.",
                    reference=submission.reference,
                )
            ]
        case _:
            return []


def status_message(t: Translator, status: PersonStatus) -> str:
    """The whole /cek answer for one person.

    It says: registered or not; active or nonaktif and until when; who pays; which programmes;
    the contribution and the nonaktif date; what to do next; where the data comes from and how
    fresh it is; and where the official record is. NIK and KPJ are masked.
    """
    lines: list[str | None] = [t("<b>BPJS Ketenagakerjaan status</b>")]
    if status.name:
        lines.append(t("Name: {name}", name=status.name))
    lines.append(t("NIK: {nik}", nik=status.masked_nik))
    roster = status.roster
    if roster is not None:
        kpj = roster.masked_kpj
        lines.append(t("KPJ number: {kpj}", kpj=kpj) if kpj else t("KPJ number: not issued yet"))
    lines.append("")
    if status.registered:
        lines.append(t("✅ Registered with BPJS Ketenagakerjaan."))
    else:
        lines.append(t("⚪ Not registered with BPJS Ketenagakerjaan yet."))
    if roster is not None:
        lines.extend(_state_lines(t, status))
        lines.append(t("Programmes: {list}", list=Html(programmes_text(t, roster.programmes))))
        lines.append(t("Paid by: {payer}", payer=Html(payer_label(t, roster.payer))))
    sub_lines = _submission_lines(t, status)
    lines.extend(sub_lines)
    if roster is not None:
        lines.append("")
        lines.extend(_contribution_lines(t, status))
        lines.append(_lapse_line(t, status))
        lines.append("")
        lines.extend(_next_steps(t, status))
    lines.append("")
    if roster is not None and status.data_as_of is not None:
        lines.append(
            t(
                "Data as of {date}, from the participant list of the regency and "
                "BPJS Ketenagakerjaan.",
                date=t.date(status.data_as_of),
            )
        )
    elif roster is None:
        lines.append(t("Source: registrations received by this bot."))
    lines.append(official_record(t))
    text = _join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


# --- reminders -------------------------------------------------------------------------------------


def reminder_message(
    t: Translator,
    *,
    kind: ReminderKind,
    offset: int,
    status: PersonStatus,
    paid_until: date,
    nonaktif_from: date,
    today: date,
) -> str:
    """The text of one payment reminder."""
    lines: list[str | None]
    amount = status.contribution
    if kind is ReminderKind.DUE_SOON:
        days = max(0, (paid_until - today).days)
        lines = [
            t("⏰ <b>Contribution reminder</b>"),
            t.n(
                "Your BPJS Ketenagakerjaan contribution is paid until {date}: {count} day left.",
                "Your BPJS Ketenagakerjaan contribution is paid until {date}: {count} days left.",
                days,
                date=t.date(paid_until),
            ),
            t("Pay {amount} a month before then to stay protected.", amount=t.money(amount.total))
            if amount is not None
            else t("Pay before then to stay protected."),
            t("Where to pay or ask:") + "\n" + pay_places(t),
        ]
    elif kind is ReminderKind.UNPAID_MONTH:
        protected_until = nonaktif_from - timedelta(days=1)
        lines = [
            t("⚠️ <b>Contribution not paid</b>"),
            t.n(
                "{count} month is unpaid (paid until {date}). You are still protected until "
                "{protected_until}.",
                "{count} months are unpaid (paid until {date}). You are still protected until "
                "{protected_until}.",
                offset,
                date=t.date(paid_until),
                protected_until=t.date(protected_until),
            ),
            t(
                "Pay before {date}. After that the membership becomes NONAKTIF: an accident or "
                "death is not covered.",
                date=t.date(nonaktif_from),
            ),
            t("Contribution: {amount} a month.", amount=t.money(amount.total))
            if amount is not None
            else None,
            t("Where to pay or ask:") + "\n" + pay_places(t),
        ]
    else:
        lines = [
            t("ℹ️ <b>The regency's payment period has ended</b>"),
            t(
                "The regency paid your contribution until {date}. We have no record of a "
                "renewal yet.",
                date=t.date(paid_until),
            ),
            t(
                "Ask at {office} or at your village office whether it will be renewed. Without "
                "renewal, the membership becomes NONAKTIF from {nonaktif_from}.",
                office=apbd_office(),
                nonaktif_from=t.date(nonaktif_from),
            ),
        ]
    lines.append("")
    lines.append(official_record(t))
    lines.append(t("Turn reminders off: /pengingat"))
    return _join(lines)


# --- roster import report ----------------------------------------------------------------------


def field_label(fld: Field | None) -> str:
    """A roster column, named by its expected header."""
    if fld is None:
        return "-"
    return expected_headers().get(fld, fld.value)


def nik_problem(t: Translator, detail: str | None) -> str:
    """Why a roster NIK was refused, briefly (the NIK itself is never repeated)."""
    if detail == NikError.WRONG_LENGTH:
        return t("not 16 digits")
    if detail == NikError.NOT_DIGITS:
        return t("has letters or symbols")
    if detail == NikError.EMPTY:
        return t("empty")
    return t("impossible digits (province, date or serial)")


def row_error_text(t: Translator, error: RowError) -> str:
    """The reason a roster row was rejected."""
    column = field_label(error.field)
    match error.code:
        case RowErrorCode.BAD_NIK:
            return t("NIK is not valid: {problem}", problem=Html(nik_problem(t, error.detail)))
        case RowErrorCode.MISSING_NAME:
            return t("the name is empty")
        case RowErrorCode.MISSING_VALUE:
            return t("column {column} is empty", column=column)
        case RowErrorCode.BAD_KPJ:
            return t("the KPJ number must be digits only")
        case RowErrorCode.UNKNOWN_PROGRAMME:
            return t('unknown programme "{value}" (use JKK, JKM, JHT)', value=error.value or "")
        case RowErrorCode.UNKNOWN_PAYER:
            return t(
                'unknown payer "{value}" (use APBD, mandiri or lainnya)', value=error.value or ""
            )
        case RowErrorCode.BAD_DATE:
            return t(
                'column {column}: "{value}" is not a date (write 31-12-2025)',
                column=column,
                value=error.value or "",
            )
        case RowErrorCode.START_AFTER_PAID_UNTIL:
            return t("the start date is after the paid-until date")
        case RowErrorCode.BAD_ENCODING:
            return t("the line is not readable text (save the file as CSV UTF-8)")
        case RowErrorCode.DUPLICATE_NIK:
            return t("this NIK is already on an earlier line (that line was kept)")


def import_progress_text(t: Translator, file_name: str, progress: ImportProgress | None) -> str:
    """The progress message edited while an import runs."""
    head = t("⏳ Importing <b>{file}</b>…", file=file_name)
    if progress is None:
        return head
    read = progress.counts.rows_read
    total = progress.total_estimate
    if total:
        percent = min(99, read * 100 // total)
        return (
            head
            + "\n"
            + t("{count} rows read (about {percent}%).", count=t.number(read), percent=percent)
        )
    return head + "\n" + t("{count} rows read.", count=t.number(read))


def _header_problem_text(t: Translator, problem: HeaderProblem) -> str:
    if problem.code is HeaderProblemCode.EMPTY_FILE:
        return t("The file is empty.")
    return t("Column missing: {column}", column=field_label(problem.column))


def import_report(t: Translator, file_name: str, result: ImportResult) -> str:
    """The final report of an import: counts and the first bad rows with line numbers."""
    counts = result.counts
    if result.status is not ImportStatus.DONE:
        lines = [t("❌ <b>Roster not imported</b>: {file}", file=file_name)]
        if result.format_error == RosterFormatErrorCode.UNSUPPORTED_TYPE:
            lines.append(t("This file type cannot be read. Send a CSV or XLSX file."))
        elif result.format_error == RosterFormatErrorCode.UNREADABLE_XLSX:
            lines.append(t("The XLSX file could not be opened. Save it again as .xlsx or as CSV."))
        lines.extend(_header_problem_text(t, p) for p in result.header_problems)
        if any(p.code is HeaderProblemCode.MISSING_COLUMN for p in result.header_problems):
            headers = ", ".join(expected_headers().values())
            lines.append(t("Expected headers: {headers}", headers=headers))
        if not result.header_problems and result.format_error is None:
            lines.append(t("The import stopped because of an error. Nothing more was changed."))
        return "\n".join(lines)
    lines = [
        t("✅ <b>Roster imported</b>: {file}", file=file_name),
        t("Rows read: {count}", count=t.number(counts.rows_read)),
        t("New: {count}", count=t.number(counts.inserted)),
        t("Updated: {count}", count=t.number(counts.updated)),
        t("Unchanged: {count}", count=t.number(counts.unchanged)),
        t("Rejected: {count}", count=t.number(counts.bad)),
    ]
    if result.data_date is not None:
        lines.append(t("Data as of {date}.", date=t.date(result.data_date)))
    if result.bad_rows:
        lines.append("")
        lines.append(t("<b>Rejected rows</b> (first {count}):", count=len(result.bad_rows)))
        lines.extend(
            t(
                "• Line {line}: {reason}",
                line=bad.line_no,
                reason=Html(row_error_text(t, bad.error)),
            )
            for bad in result.bad_rows
        )
        more = counts.bad - len(result.bad_rows)
        if more > 0:
            lines.append(t("…and {count} more.", count=t.number(more)))
    return "\n".join(lines)
