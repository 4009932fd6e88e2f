"""States, audit action codes and wording of the admin console.

Conversation states (``"<flow>.<step>"``): ``review.*`` (``/tinjau``), ``match.*`` (reading a
matching result file back), ``export.*`` (``/ekspor``). Every other admin screen is one message
with buttons and needs no state.

The text builders here take the reader's :class:`~bot.i18n.Translator`: messages to a worker or a
facilitator are built in *their* language, not the admin's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from babel.dates import format_date

from bot.domain.dates import DatePart
from bot.domain.nik import mask_nik
from bot.domain.occupations import occupation
from bot.exporting import COVERAGE_STATE_LABELS, PAYER_LABELS
from bot.i18n import N_, Translator
from bot.review import (
    MatchFileError,
    MatchRowError,
    ReviewWarning,
    TypedReasonError,
    WarningCode,
)
from bot.statistics import AreaFigures, Overview, regency_zone
from storage.models import Submission, SubmissionStatus
from storage.models.core import AuditEntry
from storage.repos.admin import MatchApplied

#: Occupations named in the statistics text (the rest are in the export).
TOP_OCCUPATIONS = 5
#: Months of the trend named in the statistics text (all of them are in the chart).
TREND_IN_TEXT = 3


class Review(StrEnum):
    """Reviewing waiting submissions one at a time."""

    DECIDE = "review.decide"
    REASON = "review.reason"


class Match(StrEnum):
    """Waiting for the matching result file."""

    UPLOAD = "match.upload"


class Export(StrEnum):
    """Choosing what to export."""

    MENU = "export.menu"
    DATE = "export.date"


class AuditAction(StrEnum):
    """Audit log action codes written by the admin console (never renamed)."""

    ADMIN_ADD = "admin.add"
    ADMIN_REMOVE = "admin.remove"
    REVIEW_VIEW = "review.view"
    REVIEW_VERIFY = "review.verify"
    REVIEW_REJECT = "review.reject"
    MATCH_EXPORT = "match.export"
    MATCH_IMPORT = "match.import"
    MATCH_REGISTERED = "match.registered"
    MATCH_INVALID = "match.invalid"
    EXPORT = "export"
    STATS_VIEW = "stats.view"


#: How ``/audit`` names actions; codes of other features are shown as stored when not listed.
AUDIT_LABELS: Mapping[str, str] = MappingProxyType(
    {
        AuditAction.ADMIN_ADD: N_("Made someone an admin"),
        AuditAction.ADMIN_REMOVE: N_("Removed an admin"),
        AuditAction.REVIEW_VIEW: N_("Opened a registration"),
        AuditAction.REVIEW_VERIFY: N_("Verified a registration"),
        AuditAction.REVIEW_REJECT: N_("Rejected a registration"),
        AuditAction.MATCH_EXPORT: N_("Downloaded the matching batch"),
        AuditAction.MATCH_IMPORT: N_("Loaded matching results"),
        AuditAction.MATCH_REGISTERED: N_("Registration registered with BPJS"),
        AuditAction.MATCH_INVALID: N_("Registration found invalid"),
        AuditAction.EXPORT: N_("Exported data"),
        AuditAction.STATS_VIEW: N_("Viewed statistics"),
        "roster_import": N_("Loaded the participant roster"),
    }
)

WARNING_LABELS: Mapping[WarningCode, str] = MappingProxyType(
    {
        WarningCode.ON_ROSTER: N_("This NIK is already on the participant roster."),
        WarningCode.POSSIBLE_DUPLICATE: N_(
            "Possible double registration: same name and birth date as {others}."
        ),
        WarningCode.NIK_INVALID: N_("The NIK is not valid."),
        WarningCode.DATE_MISMATCH: N_("The birth date differs from the NIK ({parts})."),
        WarningCode.SEX_MISMATCH: N_("The sex differs from the NIK."),
        WarningCode.NIK_OUTSIDE: N_(
            "The NIK was issued outside Balangan (allowed; check the address)."
        ),
        WarningCode.DOMICILE_OUTSIDE: N_("The village is not a village of Balangan."),
    }
)
DATE_PART_LABELS: Mapping[DatePart, str] = MappingProxyType(
    {DatePart.DAY: N_("day"), DatePart.MONTH: N_("month"), DatePart.YEAR: N_("year")}
)
TYPED_REASON_ERRORS: Mapping[TypedReasonError, str] = MappingProxyType(
    {
        TypedReasonError.TOO_SHORT: N_(
            "That reason is too short. Please write at least {limit} letters."
        ),
        TypedReasonError.TOO_LONG: N_(
            "That reason is too long. Please keep it under {limit} letters."
        ),
    }
)
MATCH_FILE_ERRORS: Mapping[MatchFileError, str] = MappingProxyType(
    {
        MatchFileError.UNREADABLE: N_(
            "I could not read this file. Please send a CSV or XLSX file."
        ),
        MatchFileError.EMPTY: N_("This file is empty."),
        MatchFileError.MISSING_COLUMNS: N_(
            "This file lacks the columns {columns}. Use the file from the matching batch."
        ),
    }
)
MATCH_ROW_ERRORS: Mapping[MatchRowError, str] = MappingProxyType(
    {
        MatchRowError.NO_REFERENCE: N_("no reference number"),
        MatchRowError.UNKNOWN_RESULT: N_("unknown result “{value}”"),
        MatchRowError.BAD_KPJ: N_("registered without a valid KPJ number"),
    }
)
MATCH_APPLIED_ERRORS: Mapping[MatchApplied, str] = MappingProxyType(
    {
        MatchApplied.NOT_FOUND: N_("no registration with this number"),
        MatchApplied.NIK_MISMATCH: N_("the NIK differs from the registration"),
        MatchApplied.NOT_VERIFIED: N_("the registration is not waiting for BPJS"),
    }
)


class Outcome(StrEnum):
    """What the person (and their facilitator) is told."""

    VERIFIED = "verified"
    """The regency checked it; it goes on to BPJS Ketenagakerjaan."""
    REJECTED = "rejected"
    """The regency did not accept it."""
    REGISTERED = "registered"
    """BPJS Ketenagakerjaan registered the person (with a KPJ number)."""
    INVALID = "invalid"
    """The data did not match the population register."""


def outcome_text(
    t: Translator,
    sub: Submission,
    outcome: Outcome,
    *,
    own: bool,
    reason: str | None = None,
    kpj: str | None = None,
) -> str:
    """The message telling one person (``own``) or their facilitator about an outcome.

    Args:
        t: The reader's translator.
        sub: The submission.
        outcome: What happened.
        own: The reader is the person; else the facilitator who entered it (NIK masked).
        reason: Why it was not accepted (a msgid from ``review.toml`` or typed text).
        kpj: The KPJ number of a registered person (masked for the facilitator).
    """
    why = t.raw(reason) if reason else ""
    help_line = t("For help, ask your village facilitator or the regency office.")
    if outcome is Outcome.VERIFIED:
        if own:
            return t(
                "Good news! Your registration <b>{reference}</b> has been checked by the regency "
                "and sent on to BPJS Ketenagakerjaan. We will tell you when it is done.",
                reference=sub.reference,
            )
        return t(
            "Registration <b>{reference}</b> of {name} (NIK {nik}) has been checked by the "
            "regency and sent on to BPJS Ketenagakerjaan.",
            reference=sub.reference,
            name=sub.full_name or "",
            nik=mask_nik(sub.nik or ""),
        )
    if outcome is Outcome.REGISTERED:
        if own:
            return t(
                "Good news! You are now registered with BPJS Ketenagakerjaan (registration "
                "<b>{reference}</b>).\nYour participant number (KPJ): <b>{kpj}</b>. "
                "Keep it safe: you need it for a claim.",
                reference=sub.reference,
                kpj=kpj or "",
            )
        return t(
            "{name} (NIK {nik}) is now registered with BPJS Ketenagakerjaan "
            "(registration <b>{reference}</b>, KPJ {kpj}).",
            reference=sub.reference,
            name=sub.full_name or "",
            nik=mask_nik(sub.nik or ""),
            kpj=mask_nik(kpj or ""),
        )
    if outcome is Outcome.REJECTED:
        if own:
            return t(
                "Sorry, your registration <b>{reference}</b> was not accepted.\n"
                "Reason: {reason}\n{help}",
                reference=sub.reference,
                reason=why,
                help=help_line,
            )
        return t(
            "Registration <b>{reference}</b> of {name} (NIK {nik}) was not accepted.\n"
            "Reason: {reason}",
            reference=sub.reference,
            name=sub.full_name or "",
            nik=mask_nik(sub.nik or ""),
            reason=why,
        )
    if own:
        return t(
            "Sorry, your registration <b>{reference}</b> could not be completed: the data did "
            "not match.\nReason: {reason}\n{help}",
            reference=sub.reference,
            reason=why,
            help=help_line,
        )
    return t(
        "Registration <b>{reference}</b> of {name} (NIK {nik}) could not be completed: the "
        "data did not match.\nReason: {reason}",
        reference=sub.reference,
        name=sub.full_name or "",
        nik=mask_nik(sub.nik or ""),
        reason=why,
    )


def audit_details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        shown = mask_nik(str(value)) if key in {"kpj", "nik"} else value
        parts.append(f"{key}: {shown}")
    return ", ".join(parts)


def audit_line(t: Translator, entry: AuditEntry) -> str:
    label = AUDIT_LABELS.get(entry.action)
    action = t(label) if label else entry.action
    details = audit_details(entry.details or {})
    return t(
        "<b>{when}</b> · {actor}\n{action} {target}\n<i>{details}</i>",
        when=t.datetime(entry.at.astimezone(regency_zone())),
        actor=entry.actor_id if entry.actor_id is not None else "—",
        action=action,
        target=entry.target or "",
        details=details,
    ).replace("\n<i></i>", "")


def warning_text(t: Translator, warning: ReviewWarning) -> str:
    msgid = WARNING_LABELS[warning.code]
    if warning.code is WarningCode.DATE_MISMATCH:
        return t(msgid, parts=", ".join(t(DATE_PART_LABELS[p]) for p in warning.parts))
    if warning.code is WarningCode.POSSIBLE_DUPLICATE:
        others = list(warning.references)
        if warning.on_roster:
            others.append(
                t.n("{count} roster participant", "{count} roster participants", warning.on_roster)
            )
        return t(msgid, others=", ".join(others))
    return t(msgid)


def area_line(t: Translator, area: AreaFigures, name: str) -> str:
    target = t.number(area.target) if area.target else "–"
    line = t(
        "{name}: {registrations} / {covered} / {target}",
        name=name,
        registrations=t.number(area.registrations),
        covered=t.number(area.covered),
        target=target,
    )
    if area.percent is not None:
        line += f" ({area.percent}%)"
    return line


def stats_text(t: Translator, ov: Overview) -> str:
    """The short statistics message."""
    statuses = ov.statuses
    lines = [
        t("<b>Statistics — {date}</b>", date=t.date(ov.today)),
        t(
            "Registrations: <b>{total}</b> (waiting {waiting} · verified {verified} · "
            "registered {registered}); not accepted {rejected}; drafts {drafts}",
            total=t.number(ov.registrations),
            waiting=t.number(statuses.get(SubmissionStatus.SUBMITTED.value, 0)),
            verified=t.number(statuses.get(SubmissionStatus.VERIFIED.value, 0)),
            registered=t.number(statuses.get(SubmissionStatus.REGISTERED.value, 0)),
            rejected=t.number(statuses.get(SubmissionStatus.REJECTED.value, 0)),
            drafts=t.number(statuses.get(SubmissionStatus.DRAFT.value, 0)),
        ),
    ]
    if ov.regency.target:
        lines.append(
            t(
                "Protected participants: <b>{covered}</b> of the target {target} ({percent}%)",
                covered=t.number(ov.covered),
                target=t.number(ov.regency.target),
                percent=ov.regency.percent or 0,
            )
        )
    else:
        lines.append(t("Protected participants: <b>{covered}</b>", covered=t.number(ov.covered)))
    lines.append(
        " · ".join(
            t("{state} {count}", state=t(COVERAGE_STATE_LABELS[state]), count=t.number(n))
            for state, n in sorted(ov.coverage.items())
            if state in COVERAGE_STATE_LABELS
        )
    )
    lines.append("")
    lines.append(t("<b>Per kecamatan</b> (registrations / protected / target)"))
    lines.extend(area_line(t, area, area.name) for area in ov.kecamatan)
    if ov.elsewhere.registrations or ov.elsewhere.covered:
        lines.append(area_line(t, ov.elsewhere, t("Outside Balangan or unknown")))
    if ov.payers:
        lines.append("")
        lines.append(t("<b>By payer</b> (registrations / protected)"))
        lines.extend(
            t(
                "{payer}: {registrations} / {covered}",
                payer=t(PAYER_LABELS[p.payer]) if p.payer in PAYER_LABELS else p.payer,
                registrations=t.number(p.registrations),
                covered=t.number(p.covered),
            )
            for p in ov.payers
        )
    if ov.occupations:
        top = []
        for code, n in ov.occupations[:TOP_OCCUPATIONS]:
            job = occupation(code or "")
            top.append(f"{t(job.label) if job else (code or '—')} {t.number(n)}")
        lines.append("")
        lines.append(t("<b>Top occupations</b>: {list}", list=" · ".join(top)))
    recent = ov.trend[-TREND_IN_TEXT:]
    lines.append(
        t(
            "<b>Sent per month</b>: {list}",
            list=" · ".join(f"{month_label(t, p.month)} {t.number(p.count)}" for p in recent),
        )
    )
    budget = ov.budget
    lines.append("")
    lines.append(
        t(
            "<b>APBD budget, next {months} months</b>: {participants} participants × {monthly} "
            "× {months} = <b>{total}</b>",
            months=len(budget.months),
            participants=t.number(budget.participants),
            monthly=t.money(budget.monthly),
            total=t.money(budget.total),
        )
    )
    if budget.pending:
        lines.append(
            t(
                "With the {pending} waiting registrations that expect the regency to pay: {total}",
                pending=t.number(budget.pending),
                total=t.money(budget.total_with_pending),
            )
        )
    if budget.estimate:
        lines.append(t("(estimate)"))
    return "\n".join(lines)


def month_label(t: Translator, month: Any) -> str:
    return format_date(month, "MMM yy", locale=t.locale)


def match_report(t: Translator, counts: Counter[str], problems: Sequence[str]) -> str:
    lines = [
        t("<b>Matching results read</b>"),
        t("Registered with BPJS: {count}", count=counts["registered"]),
        t("Invalid: {count}", count=counts["invalid"]),
        t("Already done before: {count}", count=counts["already"]),
        t("Without a result yet: {count}", count=counts["pending"]),
        t("Not applied: {count}", count=counts["problems"]),
    ]
    if problems:
        lines.append("")
        lines.extend(problems)
    if counts["registered"] or counts["invalid"]:
        lines.append("")
        lines.append(t("The people concerned (and their facilitators) have been told."))
    return "\n".join(lines)
