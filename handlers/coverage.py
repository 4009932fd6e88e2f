"""Coverage: /cek (own status at once, anyone else by NIK + birth date), /pengingat (reminders on or
off), and the admin's roster upload (a CSV or XLSX document sent outside any conversation).

The answers are built in :mod:`bot.coverage_texts`; the facts behind them come from
:mod:`bot.coverage_lookup` (status, rate-limited lookup), :mod:`bot.roster_import` (the import)
and :mod:`bot.reminder_sender` (the reminder loop registered here as a background service).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import keyboards
from bot.context import Ctx, Reply
from bot.coverage_lookup import (
    LookupLimited,
    LookupNoMatch,
    PersonStatus,
    checked_lookup,
    lookup_blocked_until,
    own_statuses,
    regency_date,
)
from bot.coverage_texts import (
    import_progress_text,
    import_report,
    local_time,
    status_message,
)
from bot.domain.dates import DateError, DateInvalid, parse_birth_date
from bot.domain.nik import NikError, NikInvalid, parse_nik
from bot.domain.reminders import reminder_rules
from bot.i18n import N_, Html, Translator
from bot.reminder_sender import plan_entry, reminder_loop
from bot.roster_import import DEFAULT_BATCH_SIZE, ImportProgress, import_roster
from bot.router import Router
from storage.models import Role
from storage.models.coverage import ImportVia

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

router = Router("coverage")
router.menu_entry(N_("Check coverage"), "cek", order=20)
router.service(reminder_loop)

#: Rows per import transaction (tests lower it to see several progress edits).
IMPORT_BATCH_SIZE = DEFAULT_BATCH_SIZE
#: The progress message is edited at most this often.
PROGRESS_EDIT_SECONDS = 1.0
#: Telegram lets bots download files up to 20 MB (getFile); larger rosters go through the CLI.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
ROSTER_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".xlsx", ".xlsm"})
#: Oldest age accepted when typing someone else's birth date (a parent may be very old).
LOOKUP_MAX_AGE = 130


class Cek(StrEnum):
    """Steps of the NIK + birth-date lookup."""

    NIK = "cek.nik"
    BIRTH = "cek.birth"
    SELF = "cek.self"  # "is this you?" after a match, to link the roster row


def _today(ctx: Ctx) -> date:
    return regency_date(ctx.now())


def _limit(ctx: Ctx) -> int:
    return int(ctx.settings.lookup_failures_per_hour)


def _limited_text(ctx: Ctx, until_text: str) -> str:
    return ctx.t(
        "You have typed a wrong NIK or birth date too often. For safety, please wait: you can "
        "try again after {time}.",
        time=Html(until_text),
    )


def _after_check_keyboard(ctx: Ctx) -> keyboards.InlineKeyboardMarkup:
    return keyboards.column(
        [
            keyboards.button(ctx.t("Check someone else"), "cek:other"),
            keyboards.button(ctx.t("Main menu"), "menu"),
        ]
    )


# --- /cek -----------------------------------------------------------------------------------------


@router.command("cek", description=N_("Check coverage"), order=20)
async def cek_command(ctx: Ctx) -> None:
    """Show the user's own status at once, else start the NIK + birth-date lookup."""
    await _check(ctx)


@router.callback("cek")
async def cek_button(ctx: Ctx) -> None:
    """The "Cek kepesertaan" menu button."""
    await _check(ctx)


async def _check(ctx: Ctx) -> None:
    statuses = await own_statuses(ctx.repo, user_id=ctx.user_id, today=_today(ctx))
    if statuses:
        for status in statuses:
            await _link_own_registration(ctx, status)
            ctx.say(status_message(ctx.t, status))
        ctx.say(
            ctx.t(
                "To check someone else (a parent, a husband or wife), you need their NIK and "
                "birth date."
            ),
            _after_check_keyboard(ctx),
        )
        return
    if await ctx.repo.registration.own_draft(user_id=ctx.user_id) is not None:
        ctx.say(ctx.t("You started a registration but have not sent it. Continue with /daftar."))
    await _start_lookup(ctx)


async def _link_own_registration(ctx: Ctx, status: PersonStatus) -> None:
    """The user's own registration is on the roster but not linked yet: link it (reminders)."""
    submission, roster = status.submission, status.roster
    if (
        roster is None
        or roster.linked_user_id is not None
        or submission is None
        or submission.owner_user_id != ctx.user_id
    ):
        return
    if await ctx.repo.coverage.link_entry(nik=status.nik, user_id=ctx.user_id, now=ctx.now()):
        entry = await ctx.repo.coverage.get_entry(status.nik)
        if entry is not None:
            await plan_entry(ctx.repo, entry, now=ctx.now())


@router.callback("cek:other")
async def cek_other(ctx: Ctx) -> None:
    """Start (or restart) the lookup of someone else."""
    await _start_lookup(ctx)


async def _start_lookup(ctx: Ctx) -> None:
    until = await lookup_blocked_until(
        ctx.repo, user_id=ctx.user_id, now=ctx.now(), limit=_limit(ctx)
    )
    if until is not None:
        ctx.say(_limited_text(ctx, local_time(ctx.t, until, today=_today(ctx))), ctx.menu())
        return
    if ctx.state is not None:
        ctx.end()  # leave any other conversation; a registration keeps its saved draft
    ctx.say(
        ctx.t(
            "To check whether someone is protected, I need their NIK <b>and</b> their birth "
            "date. The NIK alone shows nothing."
        )
    )
    ctx.goto(Cek.NIK)


def _stop_keyboard(ctx: Ctx) -> keyboards.InlineKeyboardMarkup:
    return keyboards.column([keyboards.button(ctx.t("Cancel"), "cek:stop")])


@router.callback("cek:stop", states=[Cek.NIK, Cek.BIRTH])
async def cek_stop(ctx: Ctx) -> None:
    """Leave the lookup."""
    ctx.end()
    ctx.clear_buttons()
    ctx.say(ctx.t("Stopped.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())


@router.prompt(Cek.NIK)
async def ask_nik(ctx: Ctx) -> None:
    """Ask the NIK of the person to check."""
    ctx.say(
        ctx.t("Type the NIK (16 digits on the KTP) of the person to check:"), _stop_keyboard(ctx)
    )


def nik_error_text(t: Translator, invalid: NikInvalid) -> str:
    """A short explanation of why a typed NIK is wrong."""
    match invalid.error:
        case NikError.EMPTY:
            return t("Please type the NIK: 16 digits.")
        case NikError.NOT_DIGITS:
            return t(
                "A NIK has only digits. These are not digits: {chars}", chars=invalid.part or ""
            )
        case NikError.WRONG_LENGTH:
            return t("A NIK has 16 digits; you typed {got}.", got=invalid.got or 0)
        case _:
            return t("This is not a valid NIK. Please check it against the KTP.")


@router.step(Cek.NIK)
async def got_nik(ctx: Ctx) -> None:
    """Read the NIK; on a mistake say why and ask again."""
    if ctx.text is None:
        ctx.say(ctx.t("Please type the NIK as digits."))
        ctx.goto(Cek.NIK)
        return
    parsed = parse_nik(ctx.text, today=_today(ctx))
    if isinstance(parsed, NikInvalid):
        ctx.say(nik_error_text(ctx.t, parsed))
        ctx.goto(Cek.NIK)
        return
    ctx.data["nik"] = parsed.digits
    ctx.goto(Cek.BIRTH)


@router.prompt(Cek.BIRTH)
async def ask_birth(ctx: Ctx) -> None:
    """Ask the birth date of the person to check."""
    ctx.say(ctx.t("Now type their birth date, for example 17-08-1985:"), _stop_keyboard(ctx))


def date_error_text(t: Translator, invalid: DateInvalid) -> str:
    """A short explanation of why a typed birth date is wrong."""
    if invalid.error is DateError.IN_FUTURE:
        return t("That date is in the future. Please type the birth date, e.g. 17-08-1985.")
    if invalid.error is DateError.IMPOSSIBLE_DATE:
        return t("That date does not exist. Please check it, e.g. 17-08-1985.")
    return t("I could not read that date. Please type it like 17-08-1985.")


@router.step(Cek.BIRTH)
async def got_birth(ctx: Ctx) -> None:
    """Read the birth date, then look the person up (behind the failed-lookup limit)."""
    nik = ctx.data.get("nik")
    if not isinstance(nik, str):
        ctx.goto(Cek.NIK)
        return
    if ctx.text is None:
        ctx.say(ctx.t("Please type the birth date as text, e.g. 17-08-1985."))
        ctx.goto(Cek.BIRTH)
        return
    today = _today(ctx)
    parsed = parse_birth_date(ctx.text, today=today, min_age=0, max_age=LOOKUP_MAX_AGE)
    if isinstance(parsed, DateInvalid):
        ctx.say(date_error_text(ctx.t, parsed))
        ctx.goto(Cek.BIRTH)
        return
    outcome = await checked_lookup(
        ctx.repo,
        user_id=ctx.user_id,
        nik=nik,
        birth_date=parsed,
        now=ctx.now(),
        limit=_limit(ctx),
    )
    if isinstance(outcome, LookupLimited):
        ctx.end()
        ctx.say(_limited_text(ctx, local_time(ctx.t, outcome.until, today=today)), ctx.menu())
        return
    if isinstance(outcome, LookupNoMatch):
        ctx.end()
        _say_no_match(ctx, outcome, today)
        return
    ctx.say(status_message(ctx.t, outcome))
    roster = outcome.roster
    if roster is not None and roster.linked_user_id is None:
        ctx.data = {"nik": nik}
        ctx.goto(Cek.SELF)
        return
    ctx.end()
    ctx.say(ctx.t("Anything else?"), _after_check_keyboard(ctx))


def _say_no_match(ctx: Ctx, outcome: LookupNoMatch, today: date) -> None:
    text = ctx.t(
        "I found no participant with this NIK and birth date. Check both numbers on the KTP. "
        "A person who registered very recently may not be on the list yet."
    )
    if outcome.blocked_until is not None:
        until = local_time(ctx.t, outcome.blocked_until, today=today)
        ctx.say(text + "\n\n" + _limited_text(ctx, until), ctx.menu())
        return
    text += "\n\n" + ctx.t.n(
        "You can try {count} more time this hour.",
        "You can try {count} more times this hour.",
        outcome.attempts_left,
    )
    ctx.say(
        text,
        keyboards.column(
            [
                keyboards.button(ctx.t("Try again"), "cek:other"),
                keyboards.button(ctx.t("Main menu"), "menu"),
            ]
        ),
    )


@router.prompt(Cek.SELF)
async def ask_is_self(ctx: Ctx) -> None:
    """After a match: is this the user's own data? (Linking enables reminders.)"""
    ctx.say(
        ctx.t(
            "Is this your own data? If yes, I link it to your Telegram account: /cek then "
            "shows it at once, and I remind you before the contribution is due."
        ),
        keyboards.column(
            [
                keyboards.button(ctx.t("Yes, this is me"), "cek:me"),
                keyboards.button(ctx.t("No, someone else"), "cek:notme"),
            ]
        ),
    )


@router.step(Cek.SELF)
async def is_self_typed(ctx: Ctx) -> None:
    """Anything typed instead of pressing a button: ask again."""
    ctx.say(ctx.t("Please press one of the buttons."))
    ctx.goto(Cek.SELF)


@router.callback("cek:me", states=[Cek.SELF])
async def link_me(ctx: Ctx) -> None:
    """Link the matched roster row to this account and plan its reminders."""
    nik = ctx.data.get("nik")
    ctx.end()
    if not isinstance(nik, str):
        ctx.edit(ctx.t("Choose a menu below:"), ctx.menu())
        return
    now = ctx.now()
    if not await ctx.repo.coverage.link_entry(nik=nik, user_id=ctx.user_id, now=now):
        ctx.edit(
            ctx.t(
                "This data is already linked to another Telegram account. If that is wrong, "
                "please ask at the office."
            )
        )
        return
    entry = await ctx.repo.coverage.get_entry(nik)
    if entry is not None:
        await plan_entry(ctx.repo, entry, now=now)
    ctx.edit(
        ctx.t(
            "Done: this data is linked to your account. /cek now shows it at once. "
            "Reminders on or off: /pengingat"
        )
    )


@router.callback("cek:notme", states=[Cek.SELF])
async def link_not_me(ctx: Ctx) -> None:
    """Not the user's own data: link nothing."""
    ctx.end()
    ctx.edit(ctx.t("All right, nothing was linked."))
    ctx.say(ctx.t("Anything else?"), _after_check_keyboard(ctx))


# --- /pengingat ------------------------------------------------------------------------------------


def _window_text(t: Translator) -> str:
    rules = reminder_rules()
    return t(
        "{start}–{end} WITA",
        start=rules.window_start.strftime("%H.%M"),
        end=rules.window_end.strftime("%H.%M"),
    )


async def _reminder_settings(ctx: Ctx) -> tuple[str, keyboards.InlineKeyboardMarkup]:
    rules = reminder_rules()
    enabled = ctx.user.reminders_enabled
    days = " & ".join(str(d) for d in rules.days_before)
    lines = [
        ctx.t("🔔 Payment reminders are <b>ON</b>.")
        if enabled
        else ctx.t("🔕 Payment reminders are <b>OFF</b>."),
        ctx.t(
            "I send a message {days} days before your contribution runs out, and each month "
            "it is unpaid before the membership becomes nonaktif; pemda-paid members hear when "
            "the regency's period ends. Only between {window}.",
            days=days,
            window=_window_text(ctx.t),
        ),
    ]
    if not await ctx.repo.coverage.entries_linked_to(ctx.user_id):
        lines.append(
            ctx.t(
                "No participant data is linked to your account yet, so there is nothing to "
                "remind you of. Link it with /cek."
            )
        )
    elif enabled:
        upcoming = await ctx.repo.reminders.next_pending(ctx.user_id)
        if upcoming is not None:
            day = max(regency_date(upcoming.due_at), _today(ctx))
            lines.append(ctx.t("Next reminder: {date}.", date=ctx.t.date(day)))
    button = (
        keyboards.button(ctx.t("Turn reminders off"), "rem:off")
        if enabled
        else keyboards.button(ctx.t("Turn reminders on"), "rem:on")
    )
    return "\n\n".join(lines), keyboards.column([button])


@router.command("pengingat", description=N_("Payment reminders on or off"), order=60)
async def reminders_command(ctx: Ctx) -> None:
    """Show whether reminders are on, with a button to switch."""
    text, markup = await _reminder_settings(ctx)
    ctx.say(text, markup)


@router.callback("rem")
async def reminders_switch(ctx: Ctx) -> None:
    """``rem:on`` / ``rem:off``: switch reminders and show the new state."""
    wanted = (ctx.callback_data or "").partition(":")[2]
    if wanted in {"on", "off"}:
        enabled = wanted == "on"
        await ctx.repo.reminders.set_reminders_enabled(user_id=ctx.user_id, enabled=enabled)
        ctx.user.reminders_enabled = enabled
        ctx.toast(ctx.t("Reminders are on.") if enabled else ctx.t("Reminders are off."))
    text, markup = await _reminder_settings(ctx)
    ctx.edit(text, markup)


# --- roster upload (admins) ------------------------------------------------------------------------


@router.document(roles=[Role.ADMIN.value])
async def roster_upload(ctx: Ctx) -> None:
    """An admin sent a file: import it as the roster in the background, with progress."""
    document = ctx.document
    if document is None:
        return
    name = document.file_name or "roster"
    if Path(name).suffix.lower() not in ROSTER_SUFFIXES:
        ctx.say(ctx.t("To load the participant list, send it as a CSV or XLSX file."))
        return
    if document.file_size is not None and document.file_size > MAX_DOWNLOAD_BYTES:
        ctx.say(
            ctx.t(
                "This file is too big for Telegram (bots can download 20 MB). Import it on the "
                "server with: python -m bot import-roster FILE"
            )
        )
        return
    chat_id, language, actor_id, file_id = (
        ctx.chat_id,
        ctx.user.language,
        ctx.user_id,
        (document.file_id),
    )

    async def job(services: Services) -> None:
        await run_chat_import(
            services,
            chat_id=chat_id,
            language=language,
            actor_id=actor_id,
            file_id=file_id,
            file_name=name,
        )

    ctx.later(job)


async def run_chat_import(
    services: Services,
    *,
    chat_id: int,
    language: str,
    actor_id: int,
    file_id: str,
    file_name: str,
) -> None:
    """Download an uploaded roster, import it, edit a progress message, then report.

    Args:
        services: The running application's services.
        chat_id: The admin's chat.
        language: The admin's language.
        actor_id: The admin's Telegram id (recorded on the import).
        file_id: Telegram's id of the uploaded document.
        file_name: Its name as sent.
    """
    t = services.catalogs.get(language)
    bot = services.require_bot()
    message_id: int | None = None
    try:
        sent = await bot.send_message(
            chat_id, import_progress_text(t, file_name, None), parse_mode=ParseMode.HTML
        )
        message_id = sent.message_id
    except TelegramError as exc:
        log.warning("could not send the import progress message: %s", exc)
    last_edit = time.monotonic()

    async def edit(text: str) -> None:
        if message_id is None:
            return
        with contextlib.suppress(TelegramError):
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML
            )

    async def on_progress(progress: ImportProgress) -> None:
        nonlocal last_edit
        if time.monotonic() - last_edit < PROGRESS_EDIT_SECONDS:
            return
        last_edit = time.monotonic()
        await edit(import_progress_text(t, file_name, progress))

    suffix = Path(file_name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="roster-") as folder:
        path = Path(folder) / f"upload{suffix}"
        try:
            telegram_file = await bot.get_file(file_id)
            await telegram_file.download_to_drive(path)
        except TelegramError as exc:
            log.warning("could not download an uploaded roster: %s", exc)
            report = t("I could not download the file from Telegram. Please send it again.")
        else:
            try:
                result = await import_roster(
                    services.db,
                    path,
                    file_name=file_name,
                    actor_id=actor_id,
                    via=ImportVia.CHAT,
                    clock=services.clock,
                    progress=on_progress,
                    batch_size=IMPORT_BATCH_SIZE,
                )
            except Exception:
                log.exception("roster import crashed")
                report = t(
                    "The import stopped because of an error. Rows already saved stay saved; "
                    "send the file again to finish."
                )
            else:
                report = import_report(t, file_name, result)
    await edit(t("Import finished: {file}", file=file_name))
    await services.require_delivery().send(Reply("sendMessage", chat_id, text=report))
