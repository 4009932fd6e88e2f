"""The admin console: admins, the audit log, review, BPJS matching, exports and statistics.

Every command and button here is for the admin role only (``roles=ADMIN``; the dispatcher checks
the role again when an old button is pressed), and every action that reads personal data or
changes anything writes an audit entry (:class:`~handlers.admin_states.AuditAction`).

* ``/admin`` — the menu and the list of admins; ``/admin tambah <id>`` / ``/admin hapus <id>``
  (the last admin cannot be removed). ``/id`` tells anyone their Telegram id, so they can be added.
* ``/audit`` — the audit log, newest first, ten entries a page.
* ``/tinjau`` — waiting registrations one at a time, with every field (NIK in full) and warnings;
  "Verifikasi", "Tolak" (a reason from ``review.toml`` or typed), "Lewati". The person and the
  facilitator who entered it are told the outcome in their own language.
* ``/cocokkan`` — the verified batch as a file for BPJS Ketenagakerjaan / Disdukcapil, and the
  same file read back with a result per row (registered with KPJ number, or invalid).
* ``/ekspor`` — registrations, roster or facilitator activity as CSV/XLSX, filtered by kecamatan,
  desa, status and dates; written in the background and sent as a document.
* ``/statistik`` — a short text, then two charts (per kecamatan, monthly trend).

Files are written and read in background jobs (``ctx.later``) after the update's transaction, so
the database is never held while a large file is produced or downloaded.

Scratch keys: review — ``sub`` (shown submission id), ``after`` (cursor: submitted_at, id),
``skipped``, ``viewed``; export — ``kind``, ``fmt``, ``f`` (filters; the choice lists are
edits of one message and need no key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot import keyboards
from bot.context import Ctx, Reply
from bot.domain import wilayah
from bot.domain.dates import age_on, regency_date
from bot.domain.income import income_range
from bot.domain.occupations import occupation
from bot.domain.tariffs import Payer
from bot.exporting import (
    COVERAGE_STATE_LABELS,
    DATE_FIELD_LABELS,
    KIND_LABELS,
    PAYER_LABELS,
    PRESET_LABELS,
    SEX_LABELS,
    STATUS_CHOICES,
    SUBMISSION_STATUS_LABELS,
    DatePreset,
    ExportFilters,
    ExportFormat,
    ExportKind,
    export_match_batch,
    export_to_file,
    parse_date_range,
    preset_range,
)
from bot.i18n import N_, Translator
from bot.review import (
    Candidate,
    MatchFileProblem,
    MatchOutcome,
    MatchProblem,
    MatchReader,
    MatchResult,
    Person,
    ReviewWarning,
    TypedReasonInvalid,
    default_invalid_reason,
    match_max_bytes,
    parse_typed_reason,
    rejection_reason,
    rejection_reasons,
    review_warnings,
)
from bot.router import Router
from bot.statistics import (
    ELSEWHERE,
    AreaFigures,
    Overview,
    area_chart,
    build_overview,
    local_midnight,
    month_starts,
    protected_from,
    regency_zone,
    trend_chart,
    trend_months,
    utc_offset_minutes,
)
from handlers.admin_states import (
    MATCH_APPLIED_ERRORS,
    MATCH_FILE_ERRORS,
    MATCH_ROW_ERRORS,
    TYPED_REASON_ERRORS,
    AuditAction,
    Export,
    Match,
    Outcome,
    Review,
    area_line,
    audit_line,
    match_report,
    month_label,
    outcome_text,
    stats_text,
    warning_text,
)
from storage.models import Role, Submission, SubmissionStatus
from storage.models.registration import EntryRole
from storage.repos.admin import CoverageWindow, MatchApplied
from storage.repositories import Repositories

if TYPE_CHECKING:
    from bot.i18n import Catalogs
    from bot.services import Services

log = logging.getLogger(__name__)

router = Router("admin")
ADMIN = [Role.ADMIN.value]
router.menu_entry(N_("Admin"), "adm", order=80, roles=ADMIN)

AUDIT_PAGE_SIZE = 10
#: Matching results applied per transaction.
MATCH_BATCH = 200
#: Problem rows listed in the report of a matching file (the rest are only counted).
MATCH_PROBLEMS_SHOWN = 10
#: Telegram refuses documents above 50 MB from bots (Bot API ``sendDocument``).
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024
DESA_PER_PAGE = 12

MSG_USE_BUTTONS = N_("Please use the buttons above.")
MSG_STALE = N_("This button is no longer active.")


def _t_for(catalogs: Catalogs, language: str | None) -> Translator:
    return catalogs.get(language)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(regency_zone())


def _arg_id(text: str) -> int | None:
    raw = text.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63 else None


# --- menu and admins ---------------------------------------------------------------------------------


def _menu_markup(ctx: Ctx) -> InlineKeyboardMarkup:
    t = ctx.t
    return keyboards.column(
        [
            keyboards.button(t("Review registrations"), "adm:rev"),
            keyboards.button(t("Matching with BPJS"), "adm:mat"),
            keyboards.button(t("Export data"), "adm:exp"),
            keyboards.button(t("Statistics"), "adm:sta"),
            keyboards.button(t("Audit log"), "adm:aud"),
            keyboards.button(t("Admins"), "adm:who"),
        ]
    )


@router.command("admin", roles=ADMIN)
async def admin_command(ctx: Ctx) -> None:
    """``/admin``: the menu; ``/admin tambah <id>`` and ``/admin hapus <id>`` manage admins."""
    verb, _, rest = ctx.args.partition(" ")
    verb = verb.lower()
    if verb in {"tambah", "add"}:
        await _add_admin(ctx, rest)
    elif verb in {"hapus", "remove"}:
        await _remove_admin(ctx, rest)
    elif verb:
        ctx.say(_admin_usage(ctx))
    else:
        ctx.say(ctx.t("<b>Admin menu</b>\nChoose what to do:"), _menu_markup(ctx))


@router.callback("adm", roles=ADMIN)
async def admin_menu(ctx: Ctx) -> None:
    """The "Admin" main-menu button."""
    ctx.say(ctx.t("<b>Admin menu</b>\nChoose what to do:"), _menu_markup(ctx))


@router.callback("adm:who", roles=ADMIN)
async def admins_button(ctx: Ctx) -> None:
    """List the admins and how to change them."""
    ids = await ctx.repo.admin.admin_ids()
    bootstrap = ctx.services.settings.admin_ids
    lines = [ctx.t("<b>Admins</b>")]
    for admin_id in ids:
        if admin_id in bootstrap:
            lines.append(ctx.t("• {id} (from ADMIN_IDS)", id=admin_id))
        else:
            lines.append(ctx.t("• {id}", id=admin_id))
    lines.append("")
    lines.append(_admin_usage(ctx))
    ctx.say("\n".join(lines))


def _admin_usage(ctx: Ctx) -> str:
    return ctx.t(
        "To add an admin: <code>/admin tambah ID</code>\n"
        "To remove one: <code>/admin hapus ID</code>\n"
        "A person finds their ID by sending /id to this bot."
    )


@router.command("id")
async def my_id(ctx: Ctx) -> None:
    """Tell anyone their Telegram id (so an admin can add them)."""
    ctx.say(ctx.t("Your Telegram ID: <code>{id}</code>", id=ctx.user_id))


async def _add_admin(ctx: Ctx, raw: str) -> None:
    target = _arg_id(raw)
    if target is None:
        ctx.say(_admin_usage(ctx))
        return
    existing = await ctx.repo.users.get(target)
    if existing is not None and existing.role == Role.ADMIN.value:
        ctx.say(ctx.t("{id} is already an admin.", id=target))
        return
    previous = existing.role if existing is not None else None
    await ctx.repo.users.set_role(user_id=target, role=Role.ADMIN)
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=AuditAction.ADMIN_ADD,
        target=f"user:{target}",
        details={"previous_role": previous or "none"},
    )
    ctx.say(ctx.t("{id} is now an admin.", id=target))
    if existing is not None:
        t = _t_for(ctx.services.catalogs, existing.language)
        ctx.send_to(
            target, t("You are now an admin of this bot. Type /admin to see what you can do.")
        )


async def _remove_admin(ctx: Ctx, raw: str) -> None:
    target = _arg_id(raw)
    if target is None:
        ctx.say(_admin_usage(ctx))
        return
    admins = await ctx.repo.admin.admin_ids(lock=True)
    if target not in admins:
        ctx.say(ctx.t("{id} is not an admin.", id=target))
        return
    if len(admins) <= 1:
        ctx.say(
            ctx.t(
                "{id} is the last admin and cannot be removed. Add another admin first.",
                id=target,
            )
        )
        return
    await ctx.repo.users.set_role(user_id=target, role=Role.WORKER)
    await ctx.repo.audit.record(
        actor_id=ctx.user_id, action=AuditAction.ADMIN_REMOVE, target=f"user:{target}"
    )
    text = ctx.t("{id} is no longer an admin.", id=target)
    if target in ctx.services.settings.admin_ids:
        text += "\n" + ctx.t(
            "Note: this ID is in ADMIN_IDS, so it becomes admin again when the bot restarts. "
            "Remove it from ADMIN_IDS too."
        )
    ctx.say(text)
    if target == ctx.user_id:
        ctx.user.role = Role.WORKER.value
        ctx.end()
        return
    removed = await ctx.repo.users.get(target)
    t = _t_for(ctx.services.catalogs, removed.language if removed is not None else None)
    ctx.send_to(target, t("You are no longer an admin of this bot."))


# --- audit log -----------------------------------------------------------------------------------------


@router.command("audit", roles=ADMIN)
async def audit_command(ctx: Ctx) -> None:
    """``/audit [page]``: the audit log, newest first."""
    raw = ctx.args.strip()
    page = int(raw) - 1 if raw.isascii() and raw.isdigit() and int(raw) > 0 else 0
    await _show_audit(ctx, page, edit=False)


@router.callback("adm:aud", roles=ADMIN)
async def audit_button(ctx: Ctx) -> None:
    """Audit log pages (``adm:aud:<page>``)."""
    raw = (ctx.callback_data or "").split(":")[2:]
    page = int(raw[0]) if raw and raw[0].isdigit() else 0
    await _show_audit(ctx, page, edit=bool(raw))


async def _show_audit(ctx: Ctx, page: int, *, edit: bool) -> None:
    total = await ctx.repo.audit.count()
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    entries = await ctx.repo.audit.latest(limit=AUDIT_PAGE_SIZE, offset=page * AUDIT_PAGE_SIZE)
    lines = [ctx.t("<b>Audit log</b> — page {page} of {pages}", page=page + 1, pages=pages)]
    if not entries:
        lines.append(ctx.t("Nothing recorded yet."))
    lines.extend(audit_line(ctx.t, entry) for entry in entries)
    nav = []
    if page > 0:
        nav.append(keyboards.button(ctx.t("◀ Newer"), f"adm:aud:{page - 1}"))
    if page < pages - 1:
        nav.append(keyboards.button(ctx.t("Older ▶"), f"adm:aud:{page + 1}"))
    markup = keyboards.inline([nav])
    text = "\n\n".join(lines)
    if edit:
        ctx.edit(text, markup)
    else:
        ctx.say(text, markup)


# --- review ------------------------------------------------------------------------------------------


@router.command("tinjau", roles=ADMIN)
async def review_command(ctx: Ctx) -> None:
    """``/tinjau``: start reviewing waiting registrations, oldest first."""
    _start_review(ctx)


@router.callback("adm:rev", roles=ADMIN)
async def review_button(ctx: Ctx) -> None:
    """The "Review registrations" button."""
    _start_review(ctx)


def _start_review(ctx: Ctx) -> None:
    ctx.data = {"skipped": 0}
    ctx.goto(Review.DECIDE)


def _cursor(ctx: Ctx) -> tuple[datetime, int] | None:
    raw = ctx.data.get("after")
    if isinstance(raw, list) and len(raw) == 2:
        with contextlib.suppress(TypeError, ValueError):
            return datetime.fromisoformat(str(raw[0])), int(raw[1])
    return None


async def _current(ctx: Ctx) -> Submission | None:
    sub_id = ctx.data.get("sub")
    if isinstance(sub_id, int):
        shown = await ctx.repo.registration.get(sub_id)
        if shown is not None and shown.status == SubmissionStatus.SUBMITTED.value:
            return shown
    return await ctx.repo.admin.next_waiting(after=_cursor(ctx))


@router.prompt(Review.DECIDE)
async def show_waiting(ctx: Ctx) -> None:
    """Show the current (or next) waiting registration with its buttons, or finish."""
    submission = await _current(ctx)
    if submission is None or submission.id is None:
        skipped = int(ctx.data.get("skipped") or 0)
        text = ctx.t("No more registrations to review right now.")
        if skipped:
            text += "\n" + ctx.t.n(
                "{count} skipped registration will show again next time (/tinjau).",
                "{count} skipped registrations will show again next time (/tinjau).",
                skipped,
            )
        ctx.end()
        ctx.say(text)
        return
    ctx.data["sub"] = submission.id
    if submission.submitted_at is not None:
        ctx.data["after"] = [submission.submitted_at.isoformat(), submission.id]
    if ctx.data.get("viewed") != submission.id:
        ctx.data["viewed"] = submission.id
        await ctx.repo.audit.record(
            actor_id=ctx.user_id,
            action=AuditAction.REVIEW_VIEW,
            target=f"submission:{submission.reference}",
        )
    ctx.say(await _card(ctx, submission), _decide_markup(ctx, submission.id))


@router.step(Review.DECIDE)
async def review_typed(ctx: Ctx) -> None:
    """A message while a registration is shown: point at the buttons."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.goto(Review.DECIDE)


def _decide_markup(ctx: Ctx, sub_id: int) -> InlineKeyboardMarkup:
    t = ctx.t
    return keyboards.inline(
        [
            [
                keyboards.button(t("✅ Verify"), f"rev:ok:{sub_id}"),
                keyboards.button(t("❌ Reject"), f"rev:no:{sub_id}"),
            ],
            [
                keyboards.button(t("⏭ Skip"), f"rev:skip:{sub_id}"),
                keyboards.button(t("Stop reviewing"), "rev:end"),
            ],
        ]
    )


async def _card(ctx: Ctx, sub: Submission) -> str:
    """Every field of a submission (NIK in full: admins only) and its warnings."""
    t = ctx.t
    today = regency_date(ctx.now())
    waiting = await ctx.repo.admin.count_waiting()
    lines = [
        t(
            "<b>Registration {reference}</b> ({waiting} waiting)",
            reference=sub.reference,
            waiting=t.number(waiting),
        )
    ]
    if sub.submitted_at is not None:
        lines.append(t("Sent: {when}", when=t.datetime(_local(sub.submitted_at))))
    lines.append(t("NIK: <code>{nik}</code>", nik=sub.nik or "—"))
    lines.append(t("Name: <b>{name}</b>", name=sub.full_name or "—"))
    if sub.birth_date is not None:
        lines.append(
            t(
                "Date of birth: {date} (age {age})",
                date=t.date(sub.birth_date),
                age=age_on(sub.birth_date, today),
            )
        )
    if sub.sex is not None and sub.sex in SEX_LABELS:
        lines.append(t("Sex: {sex}", sex=t(SEX_LABELS[sub.sex])))
    lines.append(t("Mobile number: {phone}", phone=sub.phone or "—"))
    desa = wilayah.desa_by_code(sub.desa_code or "")
    kecamatan = wilayah.kecamatan_by_code(sub.kecamatan_code or "")
    lines.append(
        t(
            "Lives in: {desa}, Kec. {kecamatan}",
            desa=desa.name if desa else (sub.desa_code or "—"),
            kecamatan=kecamatan.name if kecamatan else (sub.kecamatan_code or "—"),
        )
    )
    job = occupation(sub.occupation_code or "")
    if job is not None:
        work = sub.occupation_text if job.free_text and sub.occupation_text else t(job.label)
        lines.append(t("Work: {work}", work=work))
    income = income_range(sub.income_code or "")
    if income is not None:
        lines.append(t("Income: {income}", income=t(income.label)))
    if sub.payer is not None and sub.payer in PAYER_LABELS:
        lines.append(t("Expects to be paid by: {payer}", payer=t(PAYER_LABELS[sub.payer])))
    if sub.rentan_candidate is not None:
        lines.append(
            t(
                "Pekerja Rentan candidate: {answer}",
                answer=t("Yes") if sub.rentan_candidate else t("No"),
            )
        )
    if sub.contribution_total is not None:
        lines.append(
            t(
                "Contribution: {amount} per month, JHT: {jht}",
                amount=t.money(sub.contribution_total),
                jht=t("Yes") if sub.with_jht else t("No"),
            )
        )
    if sub.entered_by_role == EntryRole.FACILITATOR.value:
        lines.append(t("Entered by facilitator {id}", id=sub.entered_by_user_id))
    else:
        lines.append(t("Entered by the person themselves"))
    warnings = await _warnings(ctx.repo, sub, today)
    lines.append("")
    if warnings:
        lines.append(t("⚠️ <b>Check before verifying:</b>"))
        lines.extend("• " + warning_text(t, w) for w in warnings)
    else:
        lines.append(t("✅ No warnings."))
    return "\n".join(lines)


async def _warnings(repo: Repositories, sub: Submission, today: Any) -> tuple[ReviewWarning, ...]:
    candidates: list[Candidate] = []
    if sub.birth_date is not None:
        candidates = [
            Candidate(reference, name, nik)
            for reference, name, nik in await repo.admin.born_on(sub.birth_date, exclude_id=sub.id)
        ]
    person = Person(
        nik=sub.nik,
        full_name=sub.full_name,
        birth_date=sub.birth_date,
        sex=sub.sex,
        kecamatan_code=sub.kecamatan_code,
        desa_code=sub.desa_code,
    )
    on_roster = bool(sub.nik) and await repo.admin.on_roster(sub.nik or "")
    return review_warnings(person, today=today, candidates=candidates, on_roster=on_roster)


def _button_id(ctx: Ctx, position: int = 2) -> int | None:
    parts = (ctx.callback_data or "").split(":")
    if len(parts) > position and parts[position].isdigit():
        return int(parts[position])
    return None


def _is_shown(ctx: Ctx, sub_id: int | None) -> bool:
    """True when the pressed button belongs to the registration on screen."""
    if sub_id is not None and sub_id == ctx.data.get("sub"):
        return True
    ctx.toast(ctx.t(MSG_STALE))
    ctx.ask_next = True
    return False


@router.callback("rev:ok", roles=ADMIN, states=[Review.DECIDE])
async def verify_button(ctx: Ctx) -> None:
    """Verify the registration on screen."""
    sub_id = _button_id(ctx)
    if not _is_shown(ctx, sub_id) or sub_id is None:
        return
    decided = await ctx.repo.admin.decide(
        submission_id=sub_id, status=SubmissionStatus.VERIFIED, reason=None, now=ctx.now()
    )
    if decided is None:
        _decided_elsewhere(ctx)
        return
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=AuditAction.REVIEW_VERIFY,
        target=f"submission:{decided.reference}",
    )
    await _notify(ctx, decided, Outcome.VERIFIED)
    ctx.edit(
        ctx.t(
            "✅ <b>{reference}</b> ({name}) verified.",
            reference=decided.reference,
            name=decided.full_name or "",
        )
    )
    ctx.toast(ctx.t("Verified."))
    _next(ctx)


def _decided_elsewhere(ctx: Ctx) -> None:
    ctx.toast(ctx.t("Another admin has already decided this registration."), alert=True)
    ctx.clear_buttons()
    _next(ctx)


def _next(ctx: Ctx) -> None:
    ctx.data["sub"] = None
    ctx.goto(Review.DECIDE)


@router.callback("rev:skip", roles=ADMIN, states=[Review.DECIDE])
async def skip_button(ctx: Ctx) -> None:
    """Leave the registration on screen for later."""
    sub_id = _button_id(ctx)
    if not _is_shown(ctx, sub_id):
        return
    ctx.data["skipped"] = int(ctx.data.get("skipped") or 0) + 1
    ctx.clear_buttons()
    ctx.toast(ctx.t("Skipped."))
    _next(ctx)


@router.callback("rev:end", roles=ADMIN, states=[Review.DECIDE, Review.REASON])
async def end_review(ctx: Ctx) -> None:
    """Stop reviewing."""
    ctx.clear_buttons()
    ctx.end()
    waiting = await ctx.repo.admin.count_waiting()
    ctx.say(
        ctx.t.n(
            "Review stopped. {count} registration is waiting.",
            "Review stopped. {count} registrations are waiting.",
            waiting,
        )
    )


@router.callback("rev:no", roles=ADMIN, states=[Review.DECIDE])
async def reject_button(ctx: Ctx) -> None:
    """Ask why the registration on screen is rejected."""
    sub_id = _button_id(ctx)
    if not _is_shown(ctx, sub_id) or sub_id is None:
        return
    shown = await ctx.repo.registration.get(sub_id)
    if shown is None or shown.status != SubmissionStatus.SUBMITTED.value:
        _decided_elsewhere(ctx)
        return
    ctx.clear_buttons()
    ctx.goto(Review.REASON)


@router.prompt(Review.REASON)
async def ask_reason(ctx: Ctx) -> None:
    """Offer the reasons of ``review.toml`` as buttons; any typed text is a reason too."""
    submission = await _current(ctx)
    if submission is None or submission.id is None or submission.id != ctx.data.get("sub"):
        ctx.say(ctx.t("Another admin has already decided this registration."))
        _next(ctx)
        return
    rows = [
        [keyboards.button(ctx.t(reason.label), f"rev:why:{submission.id}:{reason.code}")]
        for reason in rejection_reasons()
    ]
    rows.append([keyboards.button(ctx.t("◀ Back"), f"rev:back:{submission.id}")])
    ctx.say(
        ctx.t(
            "Why is <b>{reference}</b> not accepted? Choose a reason, or type it. "
            "The person will read it.",
            reference=submission.reference,
        ),
        keyboards.inline(rows),
    )


@router.step(Review.REASON)
async def typed_reason(ctx: Ctx) -> None:
    """A typed rejection reason."""
    if ctx.text is None:
        ctx.say(ctx.t("Please type the reason, or choose one above."))
        ctx.goto(Review.REASON)
        return
    parsed = parse_typed_reason(ctx.text)
    if isinstance(parsed, TypedReasonInvalid):
        ctx.say(ctx.t(TYPED_REASON_ERRORS[parsed.error], limit=parsed.limit))
        ctx.goto(Review.REASON)
        return
    sub_id = ctx.data.get("sub")
    if not isinstance(sub_id, int):
        _next(ctx)  # nothing on screen any more: show what is waiting now
        return
    await _reject(ctx, sub_id, parsed, code=None)


@router.callback("rev:why", roles=ADMIN, states=[Review.REASON])
async def reason_button(ctx: Ctx) -> None:
    """A reason chosen with a button (``rev:why:<id>:<code>``)."""
    sub_id = _button_id(ctx)
    code = (ctx.callback_data or "").split(":")[-1]
    reason = rejection_reason(code)
    if not _is_shown(ctx, sub_id) or sub_id is None:
        return
    if reason is None:
        ctx.toast(ctx.t(MSG_STALE))
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    # The msgid is stored, so each reader sees the reason in their own language.
    await _reject(ctx, sub_id, reason.label, code=reason.code)


@router.callback("rev:back", roles=ADMIN, states=[Review.REASON])
async def reason_back(ctx: Ctx) -> None:
    """Back to the registration without rejecting."""
    ctx.clear_buttons()
    ctx.goto(Review.DECIDE)


async def _reject(ctx: Ctx, sub_id: int, reason: str, *, code: str | None) -> None:
    decided = await ctx.repo.admin.decide(
        submission_id=sub_id, status=SubmissionStatus.REJECTED, reason=reason, now=ctx.now()
    )
    if decided is None:
        ctx.say(ctx.t("Another admin has already decided this registration."))
        _next(ctx)
        return
    details = {"reason_code": code} if code else {"reason": reason}
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=AuditAction.REVIEW_REJECT,
        target=f"submission:{decided.reference}",
        details=details,
    )
    await _notify(ctx, decided, Outcome.REJECTED, reason=reason)
    ctx.say(
        ctx.t(
            "❌ <b>{reference}</b> ({name}) not accepted: {reason}",
            reference=decided.reference,
            name=decided.full_name or "",
            reason=ctx.t.raw(reason),
        )
    )
    _next(ctx)


# --- telling the person and the facilitator ---------------------------------------------------------


def _recipients(sub: Submission) -> list[tuple[int, bool]]:
    """``(user id, is the person themselves)`` of everyone told about an outcome."""
    found: list[tuple[int, bool]] = []
    if sub.owner_user_id is not None:
        found.append((sub.owner_user_id, True))
    if (
        sub.entered_by_role == EntryRole.FACILITATOR.value
        and sub.entered_by_user_id != sub.owner_user_id
    ):
        found.append((sub.entered_by_user_id, False))
    return found


async def outcome_replies(
    repo: Repositories,
    catalogs: Catalogs,
    sub: Submission,
    outcome: Outcome,
    *,
    reason: str | None = None,
    kpj: str | None = None,
) -> list[Reply]:
    """One message per person to tell, each in that person's language."""
    replies = []
    for user_id, own in _recipients(sub):
        user = await repo.users.get(user_id)
        t = _t_for(catalogs, user.language if user is not None else None)
        text = outcome_text(t, sub, outcome, own=own, reason=reason, kpj=kpj)
        replies.append(Reply("sendMessage", user_id, text=text))
    return replies


async def _notify(
    ctx: Ctx, sub: Submission, outcome: Outcome, *, reason: str | None = None
) -> None:
    for reply in await outcome_replies(
        ctx.repo, ctx.services.catalogs, sub, outcome, reason=reason
    ):
        ctx.send_to(reply.chat_id, reply.text or "")


# --- matching with BPJS Ketenagakerjaan / Disdukcapil ----------------------------------------------


@router.command("cocokkan", roles=ADMIN)
async def match_command(ctx: Ctx) -> None:
    """``/cocokkan``: download the verified batch, or send the results back."""
    await _match_screen(ctx)


@router.callback("adm:mat", roles=ADMIN)
async def match_button(ctx: Ctx) -> None:
    """The "Matching with BPJS" button."""
    await _match_screen(ctx)


async def _match_screen(ctx: Ctx) -> None:
    verified = await ctx.repo.admin.count_verified()
    ctx.say(
        ctx.t(
            "<b>Matching with BPJS Ketenagakerjaan / Disdukcapil</b>\n"
            "Verified registrations waiting: <b>{count}</b>\n\n"
            "1. Download the batch file and send it to BPJS Ketenagakerjaan or Disdukcapil.\n"
            "2. When it comes back, fill in the columns <code>hasil</code> (terdaftar / "
            "tidak valid), <code>kpj</code> and <code>alasan</code>, then send the file here "
            "with “Send results”.",
            count=ctx.t.number(verified),
        ),
        keyboards.column(
            [
                keyboards.button(ctx.t("Download batch (XLSX)"), "mat:dl:xlsx"),
                keyboards.button(ctx.t("Download batch (CSV)"), "mat:dl:csv"),
                keyboards.button(ctx.t("Send results"), "mat:up"),
            ]
        ),
    )


@router.callback("mat:dl", roles=ADMIN)
async def match_download(ctx: Ctx) -> None:
    """Write the verified batch in the background and send it."""
    raw = (ctx.callback_data or "").split(":")[-1]
    fmt = ExportFormat(raw) if raw in ExportFormat._value2member_map_ else ExportFormat.XLSX
    ctx.toast(ctx.t("Preparing the file…"))
    chat_id, language, actor_id = ctx.chat_id, ctx.user.language, ctx.user_id

    async def job(services: Services) -> None:
        await _send_match_batch(
            services, chat_id=chat_id, language=language, actor_id=actor_id, fmt=fmt
        )

    ctx.later(job)


async def _send_match_batch(
    services: Services, *, chat_id: int, language: str, actor_id: int, fmt: ExportFormat
) -> None:
    t = _t_for(services.catalogs, language)
    delivery = services.require_delivery()
    today = regency_date(services.clock())
    with tempfile.TemporaryDirectory(prefix="match-") as folder:
        try:
            result = await export_match_batch(
                services.db, fmt=fmt, today=today, t=t, folder=Path(folder)
            )
        except Exception:
            log.exception("matching batch export failed")
            await delivery.send(Reply("sendMessage", chat_id, text=t(MSG_JOB_FAILED)))
            return
        async with services.db.transaction() as repo:
            await repo.audit.record(
                actor_id=actor_id,
                action=AuditAction.MATCH_EXPORT,
                details={"format": fmt.value, "rows": result.rows},
            )
        if result.rows == 0:
            await delivery.send(
                Reply("sendMessage", chat_id, text=t("No verified registrations are waiting."))
            )
            return
        caption = t.n(
            "{count} verified registration for matching.",
            "{count} verified registrations for matching.",
            result.rows,
        )
        await _send_file(services, chat_id, result.path, result.file_name, caption, t)


MSG_JOB_FAILED = N_("Sorry, that did not work because of an error on our side. Please try again.")


async def _send_file(
    services: Services, chat_id: int, path: Path, name: str, caption: str, t: Translator
) -> bool:
    delivery = services.require_delivery()
    size = (await asyncio.to_thread(path.stat)).st_size
    if size > TELEGRAM_UPLOAD_LIMIT:
        await delivery.send(
            Reply(
                "sendMessage",
                chat_id,
                text=t(
                    "The file is too big for Telegram ({size} MB). Please choose fewer rows "
                    "with the filters, or XLSX, which is smaller.",
                    size=round(size / 1_048_576),
                ),
            )
        )
        return False
    data = await asyncio.to_thread(path.read_bytes)
    await delivery.send(Reply("sendDocument", chat_id, text=caption, file=data, filename=name))
    return True


@router.callback("mat:up", roles=ADMIN)
async def match_upload_button(ctx: Ctx) -> None:
    """Wait for the result file."""
    ctx.data = {}
    ctx.goto(Match.UPLOAD)


@router.prompt(Match.UPLOAD)
async def ask_match_file(ctx: Ctx) -> None:
    """Ask for the result file."""
    ctx.say(
        ctx.t(
            "Send the result file now (CSV or XLSX), as a document. Rows without a "
            "<code>hasil</code> are left as they are."
        ),
        keyboards.column([keyboards.button(ctx.t("Cancel"), "mat:stop")]),
    )


@router.callback("mat:stop", roles=ADMIN, states=[Match.UPLOAD])
async def match_upload_stop(ctx: Ctx) -> None:
    """Stop waiting for the file."""
    ctx.clear_buttons()
    ctx.end()
    ctx.say(ctx.t("Stopped."))


@router.step(Match.UPLOAD)
async def match_file(ctx: Ctx) -> None:
    """The result file: read it in the background."""
    document = ctx.document
    if document is None:
        ctx.say(ctx.t("Please send the file as a document (CSV or XLSX)."))
        ctx.goto(Match.UPLOAD)
        return
    if document.file_size is not None and document.file_size > match_max_bytes():
        ctx.say(ctx.t("This file is too big. A result file is usually small: please check it."))
        ctx.goto(Match.UPLOAD)
        return
    ctx.end()
    ctx.say(ctx.t("Reading the results…"))
    chat_id, language, actor_id = ctx.chat_id, ctx.user.language, ctx.user_id
    file_id, file_name = document.file_id, document.file_name or "hasil"

    async def job(services: Services) -> None:
        await run_match_import(
            services,
            chat_id=chat_id,
            language=language,
            actor_id=actor_id,
            file_id=file_id,
            file_name=file_name,
        )

    ctx.later(job)


def _take(
    rows: Iterator[MatchResult | MatchProblem], size: int
) -> list[MatchResult | MatchProblem]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            break
    return batch


async def run_match_import(
    services: Services,
    *,
    chat_id: int,
    language: str,
    actor_id: int,
    file_id: str,
    file_name: str,
) -> None:
    """Download a returned matching file, apply its results, tell everyone concerned, report.

    Results are applied ``MATCH_BATCH`` rows per transaction; every applied row has its own audit
    entry (the KPJ number is kept there) and the file as a whole one more.
    """
    t = _t_for(services.catalogs, language)
    delivery = services.require_delivery()
    counts: Counter[str] = Counter()
    problems: list[str] = []
    notices: list[Reply] = []
    suffix = Path(file_name).suffix.lower() or ".csv"
    with tempfile.TemporaryDirectory(prefix="match-") as folder:
        path = Path(folder) / f"results{suffix}"
        try:
            telegram_file = await services.require_bot().get_file(file_id)
            await telegram_file.download_to_drive(path)
        except TelegramError as exc:
            log.warning("could not download a matching file: %s", exc)
            text = t("I could not download the file from Telegram. Please send it again.")
            await delivery.send(Reply("sendMessage", chat_id, text=text))
            return
        try:
            reader = await asyncio.to_thread(MatchReader, path)
        except MatchFileProblem as problem:
            columns = ", ".join(c.value for c in problem.missing)
            text = t(MATCH_FILE_ERRORS[problem.error], columns=columns)
            await delivery.send(Reply("sendMessage", chat_id, text=text))
            return
        failed = False
        with reader:
            rows = iter(reader)
            try:
                while batch := await asyncio.to_thread(_take, rows, MATCH_BATCH):
                    await _apply_batch(services, batch, actor_id, t, counts, problems, notices)
            except Exception:
                # Batches already committed stay applied (and their people are told below);
                # sending the file again applies the rest and skips what is done.
                log.exception("matching import stopped")
                failed = True
            counts["pending"] = reader.pending
    async with services.db.transaction() as repo:
        await repo.audit.record(
            actor_id=actor_id,
            action=AuditAction.MATCH_IMPORT,
            target=file_name[:128],
            details={**counts, "stopped": failed} if failed else dict(counts),
        )
    await delivery.send_all(notices)
    report = match_report(t, counts, problems)
    if failed:
        report = t(MSG_JOB_FAILED) + "\n\n" + report
    await delivery.send(Reply("sendMessage", chat_id, text=report))


async def _apply_batch(
    services: Services,
    batch: Sequence[MatchResult | MatchProblem],
    actor_id: int,
    t: Translator,
    counts: Counter[str],
    problems: list[str],
    notices: list[Reply],
) -> None:
    now = services.clock()
    async with services.db.transaction() as repo:
        for item in batch:
            if isinstance(item, MatchProblem):
                counts["problems"] += 1
                _keep_problem(
                    t, problems, item.line_no, t(MATCH_ROW_ERRORS[item.error], value=item.value)
                )
                continue
            registered = item.outcome is MatchOutcome.REGISTERED
            reason = None if registered else (item.reason or default_invalid_reason())
            applied = await repo.admin.apply_match(
                reference=item.reference,
                nik=item.nik,
                registered=registered,
                reason=reason,
                now=now,
                kpj=item.kpj if registered else None,
            )
            if applied.applied is MatchApplied.ALREADY:
                counts["already"] += 1
                continue
            if applied.applied is not MatchApplied.APPLIED or applied.submission is None:
                counts["problems"] += 1
                _keep_problem(t, problems, item.line_no, t(MATCH_APPLIED_ERRORS[applied.applied]))
                continue
            sub = applied.submission
            counts["registered" if registered else "invalid"] += 1
            await repo.audit.record(
                actor_id=actor_id,
                action=AuditAction.MATCH_REGISTERED if registered else AuditAction.MATCH_INVALID,
                target=f"submission:{sub.reference}",
                details={"kpj": item.kpj} if registered else {"reason": reason},
            )
            notices.extend(
                await outcome_replies(
                    repo,
                    services.catalogs,
                    sub,
                    Outcome.REGISTERED if registered else Outcome.INVALID,
                    reason=reason,
                    kpj=item.kpj,
                )
            )


def _keep_problem(t: Translator, problems: list[str], line_no: int, what: str) -> None:
    if len(problems) < MATCH_PROBLEMS_SHOWN:
        problems.append(t("Line {line}: {problem}", line=line_no, problem=what))


# --- export ------------------------------------------------------------------------------------------


@router.command("ekspor", roles=ADMIN)
async def export_command(ctx: Ctx) -> None:
    """``/ekspor``: choose what to export, then get the file."""
    _start_export(ctx)


@router.callback("adm:exp", roles=ADMIN)
async def export_button(ctx: Ctx) -> None:
    """The "Export data" button."""
    _start_export(ctx)


def _start_export(ctx: Ctx) -> None:
    ctx.data = {"kind": ExportKind.SUBMISSIONS.value, "fmt": ExportFormat.XLSX.value, "f": {}}
    ctx.goto(Export.MENU)


def _export_kind(ctx: Ctx) -> ExportKind:
    raw = ctx.data.get("kind")
    return ExportKind(str(raw)) if raw in ExportKind._value2member_map_ else ExportKind.SUBMISSIONS


def _export_format(ctx: Ctx) -> ExportFormat:
    raw = ctx.data.get("fmt")
    return ExportFormat(str(raw)) if raw in ExportFormat._value2member_map_ else ExportFormat.XLSX


def _filters(ctx: Ctx) -> ExportFilters:
    raw = ctx.data.get("f")
    return ExportFilters.from_json(raw if isinstance(raw, dict) else {})


def _set_filters(ctx: Ctx, filters: ExportFilters) -> None:
    ctx.data["f"] = filters.to_json()


def _status_label(kind: ExportKind, code: str) -> str:
    labels = COVERAGE_STATE_LABELS if kind is ExportKind.ROSTER else SUBMISSION_STATUS_LABELS
    return labels.get(code, code)


def _export_summary(ctx: Ctx) -> str:
    t = ctx.t
    kind, filters = _export_kind(ctx), _filters(ctx)
    everything = t("all")
    kecamatan = wilayah.kecamatan_by_code(filters.kecamatan_code or "")
    desa = wilayah.desa_by_code(filters.desa_code or "")
    if filters.date_from and filters.date_to:
        dates = t(
            "{first} – {last}",
            first=t.short_date(filters.date_from),
            last=t.short_date(filters.date_to),
        )
    else:
        dates = everything
    return "\n".join(
        [
            t("<b>Export</b>"),
            t("Data: <b>{kind}</b>", kind=t(KIND_LABELS[kind])),
            t("Kecamatan: {value}", value=kecamatan.name if kecamatan else everything),
            t("Desa: {value}", value=desa.name if desa else everything),
            t(
                "Status: {value}",
                value=t(_status_label(kind, filters.status)) if filters.status else everything,
            ),
            t("Dates ({field}): {value}", field=t(DATE_FIELD_LABELS[kind]), value=dates),
            t("Format: {value}", value=_export_format(ctx).value.upper()),
        ]
    )


def _export_main(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    t = ctx.t
    filters = _filters(ctx)
    other = ExportFormat.CSV if _export_format(ctx) is ExportFormat.XLSX else ExportFormat.XLSX
    rows: list[list[InlineKeyboardButton]] = [
        [keyboards.button(t("Data"), "exp:v:kind"), keyboards.button(t("Kecamatan"), "exp:v:kec")],
        [keyboards.button(t("Status"), "exp:v:st"), keyboards.button(t("Dates"), "exp:v:dt")],
    ]
    if filters.kecamatan_code:
        rows[1].insert(0, keyboards.button(t("Desa"), "exp:v:desa"))
    rows.append(
        [keyboards.button(t("Use {format}", format=other.value.upper()), f"exp:fmt:{other}")]
    )
    rows.append(
        [
            keyboards.button(t("📄 Make the file"), "exp:go"),
            keyboards.button(t("Cancel"), "exp:stop"),
        ]
    )
    return _export_summary(ctx), keyboards.inline(rows)


def _choices(
    ctx: Ctx, prefix: str, options: Sequence[tuple[str, str]], *, extra: Sequence[Any] = ()
) -> InlineKeyboardMarkup:
    buttons = [keyboards.button(label, f"{prefix}:{code}") for code, label in options]
    rows = keyboards.grid(buttons, 2)
    rows.extend([list(row) for row in extra])
    rows.append([keyboards.button(ctx.t("◀ Back"), "exp:v:main")])
    return keyboards.inline(rows)


def _export_view(ctx: Ctx, view: str, page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    t = ctx.t
    kind, filters = _export_kind(ctx), _filters(ctx)
    summary = _export_summary(ctx)
    everything = ("all", t("All"))
    if view == "kind":
        options = [(k.value, t(KIND_LABELS[k])) for k in ExportKind]
        return summary + "\n\n" + t("Which data?"), _choices(ctx, "exp:kind", options)
    if view == "kec":
        options = [everything] + [(k.code, k.name) for k in wilayah.kecamatan_list()]
        return summary + "\n\n" + t("Which kecamatan?"), _choices(ctx, "exp:kec", options)
    if view == "desa" and filters.kecamatan_code:
        shown, has_prev, has_next = wilayah.page(
            wilayah.desa_list(filters.kecamatan_code), page, DESA_PER_PAGE
        )
        options = ([everything] if page == 0 else []) + [(d.code, d.name) for d in shown]
        nav = []
        if has_prev:
            nav.append(keyboards.button(t("◀ Previous"), f"exp:v:desa:{page - 1}"))
        if has_next:
            nav.append(keyboards.button(t("Next ▶"), f"exp:v:desa:{page + 1}"))
        return summary + "\n\n" + t("Which desa?"), _choices(
            ctx, "exp:desa", options, extra=[nav] if nav else []
        )
    if view == "st":
        options = [everything] + [
            (code, t(_status_label(kind, code))) for code in STATUS_CHOICES[kind]
        ]
        return summary + "\n\n" + t("Which status?"), _choices(ctx, "exp:st", options)
    if view == "dt":
        options = [everything] + [(p.value, t(PRESET_LABELS[p])) for p in DatePreset]
        options.append(("type", t("Type the dates")))
        return summary + "\n\n" + t("Which dates?"), _choices(ctx, "exp:dt", options)
    return _export_main(ctx)


@router.prompt(Export.MENU)
async def show_export_menu(ctx: Ctx) -> None:
    """The export choices as a new message."""
    ctx.say(*_export_main(ctx))


@router.step(Export.MENU)
async def export_typed(ctx: Ctx) -> None:
    """A message while choosing: point at the buttons."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.goto(Export.MENU)


def _choice(ctx: Ctx) -> str:
    return (ctx.callback_data or "").split(":", 2)[-1]


@router.callback("exp:v", roles=ADMIN, states=[Export.MENU])
async def export_view(ctx: Ctx) -> None:
    """Open one of the choice lists (``exp:v:<view>[:<page>]``)."""
    parts = (ctx.callback_data or "").split(":")
    view = parts[2] if len(parts) > 2 else "main"
    page = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0
    ctx.edit(*_export_view(ctx, view, page))


@router.callback("exp:kind", roles=ADMIN, states=[Export.MENU])
async def export_kind(ctx: Ctx) -> None:
    """Choose the data; a status of another kind is dropped."""
    choice = _choice(ctx)
    if choice in ExportKind._value2member_map_:
        ctx.data["kind"] = choice
        filters = _filters(ctx)
        if filters.status and filters.status not in STATUS_CHOICES[ExportKind(choice)]:
            _set_filters(ctx, ExportFilters.from_json({**filters.to_json(), "status": None}))
    ctx.edit(*_export_main(ctx))


@router.callback("exp:kec", roles=ADMIN, states=[Export.MENU])
async def export_kecamatan(ctx: Ctx) -> None:
    """Choose the kecamatan (the desa is reset)."""
    choice = _choice(ctx)
    data = {k: v for k, v in _filters(ctx).to_json().items() if k not in {"kecamatan", "desa"}}
    kecamatan = wilayah.kecamatan_by_code(choice) if choice != "all" else None
    if kecamatan is not None:
        data["kecamatan"] = kecamatan.code
    _set_filters(ctx, ExportFilters.from_json(data))
    ctx.edit(*_export_main(ctx))


@router.callback("exp:desa", roles=ADMIN, states=[Export.MENU])
async def export_desa(ctx: Ctx) -> None:
    """Choose the desa within the chosen kecamatan."""
    choice = _choice(ctx)
    data = {k: v for k, v in _filters(ctx).to_json().items() if k != "desa"}
    desa = wilayah.desa_by_code(choice) if choice != "all" else None
    if desa is not None and desa.kecamatan_code == data.get("kecamatan"):
        data["desa"] = desa.code
    _set_filters(ctx, ExportFilters.from_json(data))
    ctx.edit(*_export_main(ctx))


@router.callback("exp:st", roles=ADMIN, states=[Export.MENU])
async def export_status(ctx: Ctx) -> None:
    """Choose the status (or coverage state for the roster)."""
    choice = _choice(ctx)
    data = {k: v for k, v in _filters(ctx).to_json().items() if k != "status"}
    if choice in STATUS_CHOICES[_export_kind(ctx)]:
        data["status"] = choice
    _set_filters(ctx, ExportFilters.from_json(data))
    ctx.edit(*_export_main(ctx))


@router.callback("exp:dt", roles=ADMIN, states=[Export.MENU])
async def export_dates(ctx: Ctx) -> None:
    """Choose a preset range, all dates, or type them."""
    choice = _choice(ctx)
    if choice == "type":
        ctx.clear_buttons()
        ctx.goto(Export.DATE)
        return
    data = {k: v for k, v in _filters(ctx).to_json().items() if k not in {"from", "to"}}
    if choice in DatePreset._value2member_map_:
        first, last = preset_range(DatePreset(choice), regency_date(ctx.now()))
        data.update({"from": first.isoformat(), "to": last.isoformat()})
    _set_filters(ctx, ExportFilters.from_json(data))
    ctx.edit(*_export_main(ctx))


@router.callback("exp:fmt", roles=ADMIN, states=[Export.MENU])
async def export_format(ctx: Ctx) -> None:
    """Switch between CSV and XLSX."""
    choice = _choice(ctx)
    if choice in ExportFormat._value2member_map_:
        ctx.data["fmt"] = choice
    ctx.edit(*_export_main(ctx))


@router.callback("exp:stop", roles=ADMIN, states=[Export.MENU, Export.DATE])
async def export_stop(ctx: Ctx) -> None:
    """Leave the export."""
    ctx.clear_buttons()
    ctx.end()
    ctx.say(ctx.t("Stopped."))


@router.prompt(Export.DATE)
async def ask_export_dates(ctx: Ctx) -> None:
    """Ask for a typed date range."""
    ctx.say(
        ctx.t(
            "Type the first and last day, for example <code>1-1-2026 sampai 31-3-2026</code>. "
            "One date means that day only."
        ),
        keyboards.column([keyboards.button(ctx.t("◀ Back"), "exp:back")]),
    )


@router.callback("exp:back", roles=ADMIN, states=[Export.DATE])
async def export_dates_back(ctx: Ctx) -> None:
    """Back to the export choices."""
    ctx.clear_buttons()
    ctx.goto(Export.MENU)


@router.step(Export.DATE)
async def export_typed_dates(ctx: Ctx) -> None:
    """Read the typed range."""
    found = parse_date_range(ctx.text or "", today=regency_date(ctx.now())) if ctx.text else None
    if found is None:
        ctx.say(ctx.t("I could not read those dates."))
        ctx.goto(Export.DATE)
        return
    first, last = found
    data = {k: v for k, v in _filters(ctx).to_json().items() if k not in {"from", "to"}}
    data.update({"from": first.isoformat(), "to": last.isoformat()})
    _set_filters(ctx, ExportFilters.from_json(data))
    ctx.goto(Export.MENU)


@router.callback("exp:go", roles=ADMIN, states=[Export.MENU])
async def export_go(ctx: Ctx) -> None:
    """Make the file in the background and send it."""
    kind, fmt, filters = _export_kind(ctx), _export_format(ctx), _filters(ctx)
    ctx.edit(_export_summary(ctx) + "\n\n" + ctx.t("⏳ Making the file…"))
    ctx.end()
    chat_id, language, actor_id = ctx.chat_id, ctx.user.language, ctx.user_id

    async def job(services: Services) -> None:
        await run_export(
            services,
            chat_id=chat_id,
            language=language,
            actor_id=actor_id,
            kind=kind,
            fmt=fmt,
            filters=filters,
        )

    ctx.later(job)


async def run_export(
    services: Services,
    *,
    chat_id: int,
    language: str,
    actor_id: int,
    kind: ExportKind,
    fmt: ExportFormat,
    filters: ExportFilters,
) -> None:
    """Write an export to a temporary file, record it in the audit log and send it."""
    t = _t_for(services.catalogs, language)
    delivery = services.require_delivery()
    today = regency_date(services.clock())
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        try:
            result = await export_to_file(
                services.db,
                kind=kind,
                fmt=fmt,
                filters=filters,
                today=today,
                t=t,
                folder=Path(folder),
            )
        except Exception:
            log.exception("export failed")
            await delivery.send(Reply("sendMessage", chat_id, text=t(MSG_JOB_FAILED)))
            return
        async with services.db.transaction() as repo:
            await repo.audit.record(
                actor_id=actor_id,
                action=AuditAction.EXPORT,
                target=result.file_name,
                details={
                    "kind": kind.value,
                    "format": fmt.value,
                    "rows": result.rows,
                    "bytes": result.size,
                    **filters.to_json(),
                },
            )
        caption = t.n("{count} row.", "{count} rows.", result.rows)
        await _send_file(services, chat_id, result.path, result.file_name, caption, t)


# --- statistics --------------------------------------------------------------------------------------


@router.command("statistik", roles=ADMIN)
async def stats_command(ctx: Ctx) -> None:
    """``/statistik``: the figures as text, then two charts."""
    await _stats(ctx)


@router.callback("adm:sta", roles=ADMIN)
async def stats_button(ctx: Ctx) -> None:
    """The "Statistics" button."""
    await _stats(ctx)


async def load_overview(repo: Repositories, today: Any) -> Overview:
    """Run the aggregate queries and fold them into an :class:`Overview`."""
    window = CoverageWindow(today=today, protected_from=protected_from(today))
    first_month = month_starts(today, trend_months())[0]
    admin = repo.admin
    return build_overview(
        today=today,
        by_area_status=await admin.submissions_by_area_and_status(),
        coverage_rows=await admin.coverage_by_area(window),
        occupation_rows=await admin.registrations_by("occupation_code"),
        payer_rows=await admin.registrations_by("payer"),
        month_rows=await admin.registrations_by_month(
            since=local_midnight(first_month).astimezone(UTC),
            utc_offset_minutes=utc_offset_minutes(today),
        ),
        pending_apbd=await admin.count_pending_for_payer(Payer.APBD.value),
    )


async def _stats(ctx: Ctx) -> None:
    today = regency_date(ctx.now())
    overview = await load_overview(ctx.repo, today)
    await ctx.repo.audit.record(actor_id=ctx.user_id, action=AuditAction.STATS_VIEW)
    ctx.say(
        stats_text(ctx.t, overview),
        keyboards.column([keyboards.button(ctx.t("Per desa"), "sta:kecs")]),
    )
    chat_id, language = ctx.chat_id, ctx.user.language

    async def job(services: Services) -> None:
        await send_charts(services, chat_id=chat_id, language=language, overview=overview)

    ctx.later(job)


async def send_charts(
    services: Services, *, chat_id: int, language: str, overview: Overview
) -> None:
    """Draw the two charts in a worker thread and send them."""
    t = _t_for(services.catalogs, language)
    delivery = services.require_delivery()
    areas = list(overview.kecamatan)
    if overview.elsewhere.registrations or overview.elsewhere.covered:
        areas.append(
            AreaFigures(
                ELSEWHERE,
                t("Outside / unknown"),
                overview.elsewhere.registrations,
                overview.elsewhere.covered,
                None,
            )
        )
    try:
        bars = await asyncio.to_thread(
            area_chart,
            areas,
            title=t("Per kecamatan — {date}", date=t.short_date(overview.today)),
            registrations_label=t("Registrations"),
            covered_label=t("Protected"),
            target_label=t("Target"),
            number=t.number,
        )
        trend = await asyncio.to_thread(
            trend_chart,
            overview.trend,
            title=t("Registrations sent per month"),
            month_labels=[month_label(t, p.month) for p in overview.trend],
            number=t.number,
        )
    except Exception:
        log.exception("statistics charts failed")
        return
    await delivery.send(Reply("sendPhoto", chat_id, file=bars, filename="kecamatan.png"))
    await delivery.send(Reply("sendPhoto", chat_id, file=trend, filename="trend.png"))


@router.callback("sta:kecs", roles=ADMIN)
async def stats_kecamatan_list(ctx: Ctx) -> None:
    """Which kecamatan's desa figures to show."""
    buttons = [keyboards.button(k.name, f"sta:kec:{k.code}") for k in wilayah.kecamatan_list()]
    ctx.say(ctx.t("Which kecamatan?"), keyboards.inline(keyboards.grid(buttons, 2)))


@router.callback("sta:kec", roles=ADMIN)
async def stats_desa(ctx: Ctx) -> None:
    """Registrations / protected / target per desa of one kecamatan."""
    kecamatan = wilayah.kecamatan_by_code((ctx.callback_data or "").split(":")[-1])
    if kecamatan is None:
        ctx.toast(ctx.t(MSG_STALE))
        return
    overview = await load_overview(ctx.repo, regency_date(ctx.now()))
    rows = overview.desa.get(kecamatan.code, ())
    lines = [
        ctx.t(
            "<b>Kec. {name}</b> (registrations / protected / target)",
            name=kecamatan.name,
        )
    ]
    lines.extend(area_line(ctx.t, area, area.name) for area in rows)
    if not rows:
        lines.append(ctx.t("No registrations or participants yet."))
    ctx.say("\n".join(lines))
