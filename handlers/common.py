"""Greeting, main menu, help, language choice, /batal and the reply to anything not understood."""

from __future__ import annotations

from bot import keyboards
from bot.context import Ctx
from bot.i18n import N_
from bot.router import Router

router = Router("common")

LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}

router.menu_entry(N_("Help"), "help", order=90)
router.menu_entry(N_("Language / Bahasa"), "lang", order=95)


def _flow(state: str | None) -> str | None:
    return state.split(".", 1)[0] if state else None


@router.command("start", description=N_("Main menu"), order=0)
async def start(ctx: Ctx) -> None:
    """Greet the user and show the main menu (a conversation in progress is kept)."""
    ctx.say(
        ctx.t(
            "Hello! I help workers in Balangan get BPJS Ketenagakerjaan protection "
            "(work accident and death insurance).\n\nChoose a menu below:"
        ),
        ctx.menu(),
    )


@router.callback("menu")
async def show_menu(ctx: Ctx) -> None:
    """Show the main menu again."""
    ctx.say(ctx.t("Choose a menu below:"), ctx.menu())


@router.command("bantuan", "help", description=N_("What this bot can do"), order=90)
async def help_command(ctx: Ctx) -> None:
    """Explain what the bot does."""
    _help(ctx)


@router.callback("help")
async def help_button(ctx: Ctx) -> None:
    """Explain what the bot does (from the menu)."""
    _help(ctx)


def _help(ctx: Ctx) -> None:
    ctx.say(
        ctx.t(
            "<b>What this bot does</b>\n"
            "• <b>Register</b> for BPJS Ketenagakerjaan work-accident (JKK) and death (JKM) "
            "protection through the Balangan regency programme.\n"
            "• <b>Check</b> whether you or your family are protected, and until when.\n"
            "• <b>JKM claim</b>: what a family must do when a member has died.\n\n"
            "Type /batal at any time to stop what you are doing. "
            "For the official record, use the JMO app or call BPJS Ketenagakerjaan on 175."
        ),
        ctx.menu(),
    )


@router.command("bahasa", "language", description=N_("Change language"), order=95)
async def language_command(ctx: Ctx) -> None:
    """Offer the languages as buttons."""
    _ask_language(ctx)


@router.callback("lang")
async def language_button(ctx: Ctx) -> None:
    """Switch language (``lang:<code>``) or offer the choice (``lang``)."""
    code = (ctx.callback_data or "").partition(":")[2]
    if code not in LANGUAGE_NAMES:
        _ask_language(ctx)
        return
    await ctx.repo.users.set_language(user_id=ctx.user_id, language=code)
    ctx.user.language = code
    ctx.t = ctx.services.catalogs.get(code)
    ctx.edit(ctx.t("Language set to English."))
    ctx.say(ctx.t("Choose a menu below:"), ctx.menu())
    if ctx.state is not None:
        ctx.ask_next = True  # repeat the pending question in the new language


def _ask_language(ctx: Ctx) -> None:
    ctx.say(
        ctx.t("Choose your language:"),
        keyboards.column(
            keyboards.button(name, f"lang:{code}") for code, name in LANGUAGE_NAMES.items()
        ),
    )


@router.command("batal", "cancel", description=N_("Stop what you are doing"), order=99)
async def cancel(ctx: Ctx) -> None:
    """Leave any conversation (a feature may offer to keep a draft first)."""
    flow = _flow(ctx.state)
    handler = ctx.services.routes.cancels.get(flow or "")
    if handler is not None:
        await handler(ctx)
        return
    was_busy = ctx.state is not None
    ctx.end()
    text = ctx.t("Stopped.") if was_busy else ctx.t("There is nothing to stop.")
    ctx.say(text + "\n" + ctx.t("Choose a menu below:"), ctx.menu())


@router.unknown
async def not_understood(ctx: Ctx) -> None:
    """Answer anything no other handler understood, pointing at the menu."""
    ctx.say(ctx.t("Sorry, I did not understand that. Please choose a menu below:"), ctx.menu())
