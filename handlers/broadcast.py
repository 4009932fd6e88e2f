"""``/siaran``: an admin composes a broadcast, picks the audience, previews, and sends or schedules it.

The conversation: the message (text, or a photo or file with a caption, formatting kept) → announcement
or reminder → audience (everyone, a kecamatan, a desa, a registration status, pemda-paid, self-paying,
coverage ending within N days, facilitators) → a preview exactly as recipients will see it with the
number of recipients → send now, or schedule a date and time in WITA (quiet hours 20:00-08:00 are
respected unless the admin allows them). The sending itself is :mod:`bot.broadcast_sender`, started
with the application; the pause, resume and cancel buttons of its progress message are answered here.

Every command and button requires the admin role (checked by the dispatcher when pressed); typed
answers are checked here too, so an admin demoted mid-way cannot finish a broadcast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode

from bot import keyboards
from bot.broadcast import (
    HEADER_ALLOWANCE,
    MAX_CAPTION_CHARS,
    MAX_TEXT_CHARS,
    Audience,
    ScheduleError,
    parse_days,
    parse_schedule,
    quiet_until,
    regency_zone,
)
from bot.broadcast_sender import broadcast_loop, render_message
from bot.context import BackgroundJob, Ctx, Reply
from bot.dispatch import MSG_NOT_ALLOWED
from bot.domain import wilayah
from bot.domain.dates import regency_date
from bot.i18n import N_
from bot.router import Router
from storage.models import Role
from storage.models.broadcast import AudienceKind, BroadcastStatus, MediaKind
from storage.models.registration import SubmissionStatus
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.services import Services

router = Router("broadcast")
router.service(broadcast_loop)

ADMIN = [Role.ADMIN.value]
FLOW = "bc"
DESA_PER_PAGE = 14
DAY_CHOICES = (7, 14, 30, 60)


class Bc(StrEnum):
    """Conversation states of ``/siaran``."""

    COMPOSE = "bc.compose"
    KIND = "bc.kind"
    AUDIENCE = "bc.audience"
    KECAMATAN = "bc.kecamatan"
    DESA = "bc.desa"
    STATUS = "bc.status"
    DAYS = "bc.days"
    CONFIRM = "bc.confirm"
    SCHEDULE = "bc.schedule"


ALL_STATES = list(Bc)

AUDIENCE_BUTTONS: tuple[tuple[str, str], ...] = (
    (N_("Everyone"), AudienceKind.EVERYONE),
    (N_("One kecamatan"), AudienceKind.KECAMATAN),
    (N_("One desa"), AudienceKind.DESA),
    (N_("By registration status"), AudienceKind.STATUS),
    (N_("Paid by the regency (APBD)"), AudienceKind.PEMDA_PAID),
    (N_("Paying for themselves"), AudienceKind.SELF_PAYING),
    (N_("Coverage ending soon"), AudienceKind.ENDING),
    (N_("Facilitators only"), AudienceKind.FACILITATORS),
)
STATUS_LABELS: dict[str, str] = {
    SubmissionStatus.DRAFT: N_("Started, not sent yet"),
    SubmissionStatus.SUBMITTED: N_("Waiting for verification"),
    SubmissionStatus.VERIFIED: N_("Verified, waiting for BPJS"),
    SubmissionStatus.REJECTED: N_("Not accepted"),
    SubmissionStatus.REGISTERED: N_("Registered with BPJS"),
}
SCHEDULE_ERRORS: dict[ScheduleError, str] = {
    ScheduleError.FORMAT: N_(
        "I could not read that. Please type the date and time like {example}."
    ),
    ScheduleError.PAST: N_("That time has already passed. Please choose a later time."),
    ScheduleError.TOO_FAR: N_(
        "That is too far ahead (at most 90 days). Please choose an earlier date."
    ),
}


# --- helpers -------------------------------------------------------------------------------------


def _is_admin(ctx: Ctx) -> bool:
    """Typed answers have no route roles: an admin demoted mid-way is stopped here."""
    if ctx.role == Role.ADMIN.value:
        return True
    ctx.end()
    ctx.say(ctx.t(MSG_NOT_ALLOWED))
    return False


def _stop_row(ctx: Ctx) -> list[InlineKeyboardButton]:
    return [keyboards.button("✖ " + ctx.t("Stop"), "bc:stop")]


def _audience(ctx: Ctx) -> Audience | None:
    return Audience.from_json(ctx.data.get("audience"))


def _audience_label(ctx: Ctx, audience: Audience) -> str:
    t = ctx.t
    match audience.kind:
        case AudienceKind.KECAMATAN:
            kecamatan = wilayah.kecamatan_by_code(audience.code or "")
            return t("Kecamatan {name}", name=kecamatan.name if kecamatan else "")
        case AudienceKind.DESA:
            desa = wilayah.desa_by_code(audience.code or "")
            if desa is None:
                return ""
            kecamatan = wilayah.kecamatan_by_code(desa.kecamatan_code)
            return t(
                "Desa {name} (Kecamatan {kecamatan})",
                name=desa.name,
                kecamatan=kecamatan.name if kecamatan else "",
            )
        case AudienceKind.STATUS:
            return t(
                "Registration status: {status}",
                status=t(STATUS_LABELS.get(audience.code or "", "")),
            )
        case AudienceKind.ENDING:
            return t.n(
                "Coverage ending within {count} day",
                "Coverage ending within {count} days",
                audience.days or 0,
            )
    labels = {kind: label for label, kind in AUDIENCE_BUTTONS}
    return t(labels.get(audience.kind, ""))


def _preview_text(ctx: Ctx) -> str:
    return render_message(
        ctx.t, body_html=str(ctx.data.get("body", "")), is_reminder=bool(ctx.data.get("reminder"))
    )


def _set_audience(ctx: Ctx, audience: Audience) -> None:
    ctx.data["audience"] = audience.to_json()
    ctx.goto(Bc.CONFIRM)


# --- /siaran and composing -----------------------------------------------------------------------


@router.command("siaran", "broadcast", roles=ADMIN)
async def siaran(ctx: Ctx) -> None:
    """Start composing a broadcast (a draft in progress is dropped)."""
    ctx.data = {}
    ctx.goto(Bc.COMPOSE)


@router.callback("bc:new", roles=ADMIN)
async def new_button(ctx: Ctx) -> None:
    """The same as /siaran, for a menu button."""
    ctx.clear_buttons()
    ctx.data = {}
    ctx.goto(Bc.COMPOSE)


@router.on_cancel(FLOW)
async def cancel_flow(ctx: Ctx) -> None:
    """/batal inside the flow: nothing was stored, nothing is sent."""
    _stop(ctx)


@router.callback("bc:stop", roles=ADMIN, states=ALL_STATES)
async def stop_button(ctx: Ctx) -> None:
    """The "Stop" button of every step."""
    ctx.clear_buttons()
    _stop(ctx)


def _stop(ctx: Ctx) -> None:
    ctx.end()
    ctx.say(ctx.t("The broadcast was discarded. Nothing was sent."))


@router.prompt(Bc.COMPOSE)
async def ask_message(ctx: Ctx) -> None:
    """Ask for the message."""
    ctx.say(
        ctx.t(
            "<b>New broadcast</b>\n"
            "Send the message now: text, or a photo or a file with a caption. "
            "Bold and italic formatting is kept."
        ),
        keyboards.inline([_stop_row(ctx)]),
    )


@router.step(Bc.COMPOSE)
async def got_message(ctx: Ctx) -> None:
    """Text, a photo or a document becomes the broadcast; anything else is asked again."""
    if not _is_admin(ctx):
        return
    message = ctx.message
    if message is None:
        ctx.ask_next = True
        return
    body, length, limit, media, file_id = _content_of(message)
    if media is None:
        ctx.say(ctx.t("Please send text, a photo or a file."))
        ctx.ask_next = True
        return
    if length > limit - HEADER_ALLOWANCE:
        ctx.say(
            ctx.t(
                "That is too long: {length} characters. Please keep it under {limit}.",
                length=length,
                limit=limit - HEADER_ALLOWANCE,
            )
        )
        ctx.ask_next = True
        return
    ctx.data.update(body=body, media=media.value, file_id=file_id)
    ctx.goto(Bc.KIND)


def _content_of(message: Message) -> tuple[str, int, int, MediaKind | None, str | None]:
    """``(body html, plain length, Telegram's limit, media kind, file id)`` of the admin's message."""
    if message.photo:
        caption = message.caption or ""
        html = message.caption_html if caption else ""
        return html, len(caption), MAX_CAPTION_CHARS, MediaKind.PHOTO, message.photo[-1].file_id
    if message.document is not None:
        caption = message.caption or ""
        html = message.caption_html if caption else ""
        return html, len(caption), MAX_CAPTION_CHARS, MediaKind.DOCUMENT, message.document.file_id
    if message.text:
        return message.text_html, len(message.text), MAX_TEXT_CHARS, MediaKind.TEXT, None
    return "", 0, MAX_TEXT_CHARS, None, None


@router.prompt(Bc.KIND)
async def ask_kind(ctx: Ctx) -> None:
    """Announcement or reminder."""
    ctx.say(
        ctx.t(
            "Is this a reminder?\n"
            "📢 <b>Announcement</b>: everyone in the group gets it.\n"
            "🔔 <b>Reminder</b>: people who turned reminders off do not get it."
        ),
        keyboards.inline(
            [
                [keyboards.button("📢 " + ctx.t("Announcement"), "bc:kind:ann")],
                [keyboards.button("🔔 " + ctx.t("Reminder"), "bc:kind:rem")],
                _stop_row(ctx),
            ]
        ),
    )


@router.callback("bc:kind", roles=ADMIN, states=[Bc.KIND])
async def kind_button(ctx: Ctx) -> None:
    """Store the kind and ask for the audience."""
    choice = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if choice not in {"ann", "rem"}:
        ctx.ask_next = True
        return
    ctx.data["reminder"] = choice == "rem"
    ctx.clear_buttons()
    ctx.goto(Bc.AUDIENCE)


# --- audience ------------------------------------------------------------------------------------


@router.prompt(Bc.AUDIENCE)
async def ask_audience(ctx: Ctx) -> None:
    """The audiences as buttons."""
    rows = [[keyboards.button(ctx.t(label), f"bc:aud:{kind}")] for label, kind in AUDIENCE_BUTTONS]
    rows.append(_stop_row(ctx))
    ctx.say(ctx.t("Who should get it?"), keyboards.inline(rows))


@router.callback("bc:aud", roles=ADMIN, states=[Bc.AUDIENCE])
async def audience_button(ctx: Ctx) -> None:
    """An audience; some need one more choice (place, status, days)."""
    try:
        kind = AudienceKind((ctx.callback_data or "").rsplit(":", 1)[-1])
    except ValueError:
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    match kind:
        case AudienceKind.KECAMATAN | AudienceKind.DESA:
            ctx.data["pick"] = kind.value
            ctx.goto(Bc.KECAMATAN)
        case AudienceKind.STATUS:
            ctx.goto(Bc.STATUS)
        case AudienceKind.ENDING:
            ctx.goto(Bc.DAYS)
        case _:
            _set_audience(ctx, Audience(kind))


@router.prompt(Bc.KECAMATAN)
async def ask_kecamatan(ctx: Ctx) -> None:
    """The kecamatan as buttons."""
    buttons = [keyboards.button(k.name, f"bc:kec:{k.code}") for k in wilayah.kecamatan_list()]
    rows = [*keyboards.grid(buttons, 2), _stop_row(ctx)]
    question = (
        ctx.t("In which kecamatan is the desa?")
        if ctx.data.get("pick") == AudienceKind.DESA.value
        else ctx.t("Which kecamatan?")
    )
    ctx.say(question, keyboards.inline(rows))


@router.callback("bc:kec", roles=ADMIN, states=[Bc.KECAMATAN])
async def kecamatan_button(ctx: Ctx) -> None:
    """A kecamatan: the audience itself, or the way to its desa list."""
    found = wilayah.kecamatan_by_code((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    if ctx.data.get("pick") == AudienceKind.DESA.value:
        ctx.data.update(kec=found.code, page=0)
        ctx.goto(Bc.DESA)
        return
    _set_audience(ctx, Audience(AudienceKind.KECAMATAN, found.code))


def _desa_view(ctx: Ctx, page_no: int) -> tuple[str, InlineKeyboardMarkup]:
    kecamatan = wilayah.kecamatan_by_code(str(ctx.data.get("kec", "")))
    items = wilayah.desa_list(kecamatan.code) if kecamatan else ()
    shown, has_prev, has_next = wilayah.page(items, page_no, DESA_PER_PAGE)
    rows = keyboards.grid([keyboards.button(d.name, f"bc:desa:{d.code}") for d in shown], 2)
    nav = []
    if has_prev:
        nav.append(keyboards.button("‹ " + ctx.t("Previous"), f"bc:dpage:{page_no - 1}"))
    if has_next:
        nav.append(keyboards.button(ctx.t("Next") + " ›", f"bc:dpage:{page_no + 1}"))
    rows.extend([nav, _stop_row(ctx)])
    text = ctx.t("Which desa in Kecamatan {name}?", name=kecamatan.name if kecamatan else "")
    return text, keyboards.inline(rows)


@router.prompt(Bc.DESA)
async def ask_desa(ctx: Ctx) -> None:
    """The desa of the chosen kecamatan, paged."""
    page_no = ctx.data.get("page", 0)
    ctx.say(*_desa_view(ctx, page_no if isinstance(page_no, int) else 0))


@router.callback("bc:dpage", roles=ADMIN, states=[Bc.DESA])
async def desa_page(ctx: Ctx) -> None:
    """Turn the page of the desa list."""
    raw = (ctx.callback_data or "").rsplit(":", 1)[-1]
    page_no = int(raw) if raw.isdigit() else 0
    ctx.data["page"] = page_no
    ctx.edit(*_desa_view(ctx, page_no))


@router.callback("bc:desa", roles=ADMIN, states=[Bc.DESA])
async def desa_button(ctx: Ctx) -> None:
    """A desa: the audience."""
    found = wilayah.desa_by_code((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    _set_audience(ctx, Audience(AudienceKind.DESA, found.code))


@router.prompt(Bc.STATUS)
async def ask_status(ctx: Ctx) -> None:
    """Registration statuses as buttons."""
    rows = [
        [keyboards.button(ctx.t(label), f"bc:st:{status}")]
        for status, label in STATUS_LABELS.items()
    ]
    rows.append(_stop_row(ctx))
    ctx.say(ctx.t("People whose registration is:"), keyboards.inline(rows))


@router.callback("bc:st", roles=ADMIN, states=[Bc.STATUS])
async def status_button(ctx: Ctx) -> None:
    """A status: the audience."""
    audience = Audience(AudienceKind.STATUS, (ctx.callback_data or "").rsplit(":", 1)[-1])
    if not audience.is_valid():
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    _set_audience(ctx, audience)


@router.prompt(Bc.DAYS)
async def ask_days(ctx: Ctx) -> None:
    """How many days ahead (buttons, or type a number)."""
    buttons = [
        keyboards.button(ctx.t.n("{count} day", "{count} days", days), f"bc:days:{days}")
        for days in DAY_CHOICES
    ]
    rows = [*keyboards.grid(buttons, 2), _stop_row(ctx)]
    ctx.say(
        ctx.t("Coverage (paid period) ending within how many days? Choose, or type a number."),
        keyboards.inline(rows),
    )


@router.callback("bc:days", roles=ADMIN, states=[Bc.DAYS])
async def days_button(ctx: Ctx) -> None:
    """A number of days from the buttons."""
    days = parse_days((ctx.callback_data or "").rsplit(":", 1)[-1])
    if days is None:
        ctx.ask_next = True
        return
    ctx.clear_buttons()
    _set_audience(ctx, Audience(AudienceKind.ENDING, days=days))


# --- steps that expect a button ------------------------------------------------------------------


@router.step(Bc.KIND, Bc.AUDIENCE, Bc.KECAMATAN, Bc.DESA, Bc.STATUS, Bc.CONFIRM)
async def buttons_only(ctx: Ctx) -> None:
    """Typed text where a button is expected: say so, and show the buttons again."""
    if not _is_admin(ctx):
        return
    ctx.say(ctx.t("Please choose one of the buttons."))
    ctx.ask_next = True


@router.step(Bc.DAYS)
async def typed_days(ctx: Ctx) -> None:
    """A typed number of days."""
    if not _is_admin(ctx):
        return
    days = parse_days(ctx.text or "")
    if days is None:
        ctx.say(ctx.t("Please type a number of days, for example 30."))
        ctx.ask_next = True
        return
    _set_audience(ctx, Audience(AudienceKind.ENDING, days=days))


# --- preview and confirmation --------------------------------------------------------------------


async def _summary(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup] | None:
    audience = _audience(ctx)
    if audience is None:
        return None
    is_reminder = bool(ctx.data.get("reminder"))
    count = await ctx.repo.broadcasts.count_audience(
        kind=audience.kind,
        code=audience.code,
        days=audience.days,
        today=regency_date(ctx.now()),
    )
    receive = count.will_receive(is_reminder=is_reminder)
    t = ctx.t
    lines = [
        t("<b>Check the message above</b>: this is exactly what people will see."),
        "",
        t("Kind: {kind}", kind=t("Reminder") if is_reminder else t("Announcement")),
        t("To: {audience}", audience=_audience_label(ctx, audience)),
        t("<b>Recipients: {count}</b>", count=t.number(receive)),
    ]
    if count.unreachable:
        lines.append(
            t.n(
                "{count} person blocked the bot earlier and is skipped.",
                "{count} people blocked the bot earlier and are skipped.",
                count.unreachable,
            )
        )
    if is_reminder and count.reminders_off:
        lines.append(
            t.n(
                "{count} person turned reminders off and is skipped.",
                "{count} people turned reminders off and are skipped.",
                count.reminders_off,
            )
        )
    override = bool(ctx.data.get("quiet"))
    resumes = quiet_until(ctx.now())
    if resumes is not None and not override:
        lines.append(
            t(
                "🌙 It is quiet time now (20:00–08:00 WITA): sending starts at {time} WITA.",
                time=t.time(resumes.astimezone(regency_zone())),
            )
        )
    rows: list[list[InlineKeyboardButton]] = []
    if receive:
        rows.append(
            [
                keyboards.button("✅ " + t("Send now"), "bc:go"),
                keyboards.button("🕘 " + t("Schedule"), "bc:sched"),
            ]
        )
    else:
        lines.append(t("Nobody in this group can get it. Please choose another group."))
    rows.append([keyboards.button("👥 " + t("Change the group"), "bc:chg")])
    quiet_label = (
        t("🌙 Quiet hours: send anyway (urgent)")
        if override
        else t("🌙 Quiet hours: wait until 08:00")
    )
    rows.append([keyboards.button(quiet_label, "bc:quiet")])
    rows.append(_stop_row(ctx))
    return "\n".join(lines), keyboards.inline(rows)


@router.prompt(Bc.CONFIRM)
async def ask_confirm(ctx: Ctx) -> None:
    """The preview exactly as recipients will see it, then the summary with the choices."""
    summary = await _summary(ctx)
    if summary is None:
        ctx.goto(Bc.AUDIENCE)
        return
    text, markup = summary
    media = MediaKind(str(ctx.data.get("media", MediaKind.TEXT.value)))
    file_id = ctx.data.get("file_id")
    if media is MediaKind.TEXT or not isinstance(file_id, str):
        ctx.say(_preview_text(ctx))
        ctx.say(text, markup)
        return
    # A photo or file is re-sent by its Telegram file id, which queued replies cannot carry:
    # the preview and the summary go out together after this update, in this order.
    ctx.later(_media_preview(ctx.chat_id, media, file_id, _preview_text(ctx), text, markup))


def _media_preview(
    chat_id: int,
    media: MediaKind,
    file_id: str,
    caption: str,
    summary: str,
    markup: InlineKeyboardMarkup,
) -> BackgroundJob:
    async def job(services: Services) -> None:
        bot = services.require_bot()
        if media is MediaKind.PHOTO:
            await bot.send_photo(
                chat_id=chat_id, photo=file_id, caption=caption, parse_mode=ParseMode.HTML
            )
        else:
            await bot.send_document(
                chat_id=chat_id, document=file_id, caption=caption, parse_mode=ParseMode.HTML
            )
        await services.require_delivery().send(
            Reply("sendMessage", chat_id, text=summary, markup=markup)
        )

    return job


@router.callback("bc:quiet", roles=ADMIN, states=[Bc.CONFIRM])
async def quiet_toggle(ctx: Ctx) -> None:
    """Switch between waiting for 08:00 and sending during quiet hours."""
    ctx.data["quiet"] = not ctx.data.get("quiet")
    summary = await _summary(ctx)
    if summary is not None:
        ctx.edit(*summary)


@router.callback("bc:chg", roles=ADMIN, states=[Bc.CONFIRM, Bc.SCHEDULE])
async def change_audience(ctx: Ctx) -> None:
    """Back to the audience choice."""
    ctx.clear_buttons()
    ctx.goto(Bc.AUDIENCE)


@router.callback("bc:go", roles=ADMIN, states=[Bc.CONFIRM])
async def send_now(ctx: Ctx) -> None:
    """Store the broadcast; the sender starts it within a few seconds."""
    broadcast_id = await _create(ctx, ctx.now())
    if broadcast_id is None:
        ctx.goto(Bc.AUDIENCE)
        return
    ctx.edit(
        ctx.t(
            "✅ <b>Broadcast #{id}</b> will start in a moment. "
            "Its progress will appear in a new message, with buttons to pause or cancel.",
            id=broadcast_id,
        )
    )
    ctx.end()


@router.callback("bc:sched", roles=ADMIN, states=[Bc.CONFIRM])
async def schedule_button(ctx: Ctx) -> None:
    """Ask for the date and time."""
    ctx.clear_buttons()
    ctx.goto(Bc.SCHEDULE)


def _example(ctx: Ctx) -> str:
    tomorrow = ctx.now().astimezone(regency_zone()) + timedelta(days=1)
    return tomorrow.strftime("%d-%m-%Y") + " 09:00"


@router.prompt(Bc.SCHEDULE)
async def ask_schedule(ctx: Ctx) -> None:
    """Ask for the date and time in WITA."""
    ctx.say(
        ctx.t(
            "When should it be sent? Type the date and time in WITA, for example {example}.",
            example=_example(ctx),
        ),
        keyboards.inline(
            [[keyboards.button("👥 " + ctx.t("Change the group"), "bc:chg")], _stop_row(ctx)]
        ),
    )


@router.step(Bc.SCHEDULE)
async def got_schedule(ctx: Ctx) -> None:
    """A typed date and time; refused in the past, too far ahead, or in quiet hours."""
    if not _is_admin(ctx):
        return
    moment = parse_schedule(ctx.text or "", ctx.now())
    if isinstance(moment, ScheduleError):
        ctx.say(ctx.t(SCHEDULE_ERRORS[moment], example=_example(ctx)))
        ctx.ask_next = True
        return
    if quiet_until(moment, override=bool(ctx.data.get("quiet"))) is not None:
        ctx.say(
            ctx.t(
                "That is in quiet hours (20:00–08:00 WITA). Please choose a time between "
                "08:00 and 20:00."
            )
        )
        ctx.ask_next = True
        return
    broadcast_id = await _create(ctx, moment)
    if broadcast_id is None:
        ctx.goto(Bc.AUDIENCE)
        return
    ctx.say(
        ctx.t(
            "🕘 <b>Broadcast #{id}</b> is scheduled for {when} WITA.",
            id=broadcast_id,
            when=ctx.t.datetime(moment.astimezone(regency_zone())),
        ),
        keyboards.inline(
            [[keyboards.button("✖ " + ctx.t("Cancel broadcast"), f"bc:cancel:{broadcast_id}")]]
        ),
    )
    ctx.end()


async def _create(ctx: Ctx, scheduled_at: datetime) -> int | None:
    """Store the composed broadcast; None when the draft lost its audience (a stale step)."""
    audience = _audience(ctx)
    if audience is None:
        return None
    is_reminder = bool(ctx.data.get("reminder"))
    broadcast = await ctx.repo.broadcasts.create(
        created_by=ctx.user_id,
        audience=audience.to_json(),
        is_reminder=is_reminder,
        body_html=str(ctx.data.get("body", "")),
        media_kind=str(ctx.data.get("media", MediaKind.TEXT.value)),
        media_file_id=ctx.data.get("file_id")
        if isinstance(ctx.data.get("file_id"), str)
        else None,
        scheduled_at=scheduled_at,
        ignore_quiet_hours=bool(ctx.data.get("quiet")),
        created_at=ctx.now(),
        confirmed_at=utcnow(),
    )
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action="broadcast.create",
        target=f"broadcast:{broadcast.id}",
        details={
            "audience": audience.to_json(),
            "reminder": is_reminder,
            "media": broadcast.media_kind,
            "scheduled_at": scheduled_at.isoformat(),
            "ignore_quiet_hours": broadcast.ignore_quiet_hours,
        },
    )
    return broadcast.id


# --- buttons of the progress message -------------------------------------------------------------


def _broadcast_id(ctx: Ctx) -> int | None:
    raw = (ctx.callback_data or "").rsplit(":", 1)[-1]
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


async def _audit(ctx: Ctx, action: str, broadcast_id: int) -> None:
    await ctx.repo.audit.record(
        actor_id=ctx.user_id, action=action, target=f"broadcast:{broadcast_id}"
    )


# Only a toast answers pause and resume: the sender edits the progress message itself, within its
# rate budget, so that these presses never cost a message of their own.
@router.callback("bc:pause", roles=ADMIN)
async def pause_button(ctx: Ctx) -> None:
    """Pause a running broadcast."""
    broadcast_id = _broadcast_id(ctx)
    if broadcast_id is not None and await ctx.repo.broadcasts.switch(
        broadcast_id, from_=BroadcastStatus.RUNNING, to=BroadcastStatus.PAUSED
    ):
        await _audit(ctx, "broadcast.pause", broadcast_id)
        ctx.toast(ctx.t("Paused. Press Resume to continue."))
        return
    ctx.toast(ctx.t("This broadcast is not running."))


@router.callback("bc:resume", roles=ADMIN)
async def resume_button(ctx: Ctx) -> None:
    """Resume a paused broadcast."""
    broadcast_id = _broadcast_id(ctx)
    if broadcast_id is not None and await ctx.repo.broadcasts.switch(
        broadcast_id, from_=BroadcastStatus.PAUSED, to=BroadcastStatus.RUNNING
    ):
        await _audit(ctx, "broadcast.resume", broadcast_id)
        ctx.toast(ctx.t("Sending again."))
        return
    ctx.toast(ctx.t("This broadcast is not paused."))


@router.callback("bc:cancel", roles=ADMIN)
async def cancel_button(ctx: Ctx) -> None:
    """Ask before cancelling: messages already sent stay sent."""
    broadcast_id = _broadcast_id(ctx)
    broadcast = await ctx.repo.broadcasts.get(broadcast_id) if broadcast_id else None
    if broadcast is None or broadcast.status not in {
        BroadcastStatus.SCHEDULED.value,
        BroadcastStatus.RUNNING.value,
        BroadcastStatus.PAUSED.value,
    }:
        ctx.toast(ctx.t("This broadcast has already ended."))
        return
    ctx.say(
        ctx.t(
            "Cancel <b>broadcast #{id}</b>? Messages already sent stay sent; "
            "nobody else will get it.",
            id=broadcast_id,
        ),
        keyboards.inline(
            [
                [
                    keyboards.button(ctx.t("Yes, cancel it"), f"bc:cancelok:{broadcast_id}"),
                    keyboards.button(ctx.t("No, keep it"), "bc:keep"),
                ]
            ]
        ),
    )


@router.callback("bc:cancelok", roles=ADMIN)
async def cancel_confirmed(ctx: Ctx) -> None:
    """Cancel: unsent rows are skipped; the sender sends the final report."""
    broadcast_id = _broadcast_id(ctx)
    if broadcast_id is None or not await ctx.repo.broadcasts.cancel(broadcast_id, now=ctx.now()):
        ctx.edit(ctx.t("This broadcast has already ended."))
        return
    await _audit(ctx, "broadcast.cancel", broadcast_id)
    ctx.edit(ctx.t("<b>Broadcast #{id}</b> is cancelled.", id=broadcast_id))


@router.callback("bc:keep", roles=ADMIN)
async def keep_button(ctx: Ctx) -> None:
    """Do not cancel."""
    ctx.edit(ctx.t("OK, the broadcast was not cancelled."))
