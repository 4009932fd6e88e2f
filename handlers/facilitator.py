"""Village facilitators: invited by admins, they register residents and follow their desa.

* ``/fasilitator`` (admins): invite a facilitator for one or more desa (a single-use deep link,
  valid for days from ``bot/data/facilitator.toml``), list facilitators, change their desa, end
  their access, cancel open invitations. Every change is written to the audit log.
* ``?start=inv_<code>``: the invitee confirms their name and phone and becomes a facilitator.
* ``/daftarkan`` (facilitators): the registration conversation of :mod:`handlers.registration` in
  assisted mode (third-person wording, assisted consent, the facilitator's desa scope), with
  several residents' drafts open at once ("Lanjutkan: Siti Aminah — langkah 5/9").
* ``?start=setuju_<code>``: a resident confirms on their own phone the consent the facilitator
  recorded, which upgrades the consent record with the resident's Telegram account.
* ``/wargaku`` (facilitators): their residents, newest first, paged and filtered by status
  (including "protected until", from the roster); correcting and resending a rejected one; the
  desa's progress against its target as a text bar and a chart; the families' help requests of
  their desa; poster links (``?start=ref_<code>``) that credit self-registrations to them or
  their desa.

Scope rules: a facilitator sees the residents they registered and those of their own desa, NIKs
masked; every view of a resident's data is audited. The dispatcher re-checks the role at every
press; handlers re-check that any id in callback data is within the user's scope, so forged data
reveals nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import keyboards
from bot.claim_summary import claimant_label
from bot.context import Ctx, Reply
from bot.dispatch import MSG_STALE
from bot.domain import wilayah
from bot.domain.claims import ClaimantType
from bot.domain.coverage import CoverageState, CoverageStatus, Payer, coverage_status
from bot.domain.names import PersonName, parse_name
from bot.domain.nik import mask_nik
from bot.domain.phones import Phone, mask_phone, parse_phone
from bot.facilitator_charts import DesaProgress, progress_chart, text_bar
from bot.i18n import N_, Html, Translator, escape
from bot.registration_flow import next_step, progress, regency_date
from bot.router import Router
from bot.services import Services
from bot.statistics import protected_from, target_of
from handlers.facilitator_states import (
    CONSENT_LINK_REFUSALS,
    CONSENT_PREFIX,
    DESA_PER_PAGE,
    DRAFTS_PER_PAGE,
    FACILITATORS_PER_PAGE,
    FILTER_LABELS,
    HELP_PER_PAGE,
    INVITATION_REFUSALS,
    INVITE_PREFIX,
    MAX_ROW_ID,
    MAX_USER_ID,
    OPEN_INVITATIONS_SHOWN,
    POSTER_PREFIX,
    RESIDENTS_PER_PAGE,
    SCOPE_TITLES,
    FacAudit,
    Fas,
    Fdr,
    Fok,
    PickPurpose,
    Scope,
    clamp_page,
    consent_link_validity,
    deep_link,
    invitation_validity,
    new_poster_code,
    new_secret_code,
    parse_int,
)
from handlers.registration import begin_registration, daftar, resume_draft
from handlers.registration_states import (
    ASSISTED_CONSENT_LINK,
    MSG_USE_BUTTONS,
    NAME_ERRORS,
    PHONE_ERRORS,
    STATUS_LABELS,
    Mode,
    Text,
    wording,
)
from storage.models import (
    AttributionKind,
    Consent,
    LinkState,
    Role,
    Submission,
    SubmissionStatus,
)
from storage.repos.admin import CoverageWindow
from storage.repos.facilitator import ResidentFilter, ResidentRow, ResidentScope

log = logging.getLogger(__name__)

router = Router("facilitator")
ADMIN = [Role.ADMIN.value]
FACILITATOR = [Role.FACILITATOR.value]

router.menu_entry(N_("Register a resident"), "fdr:menu", order=40, roles=FACILITATOR)
router.menu_entry(N_("My residents"), "fw:open", order=41, roles=FACILITATOR)


# --- shared helpers ------------------------------------------------------------------------------


def _parts(ctx: Ctx) -> list[str]:
    return (ctx.callback_data or "").split(":")


def _part_int(ctx: Ctx, index: int, *, maximum: int = MAX_ROW_ID) -> int | None:
    parts = _parts(ctx)
    return parse_int(parts[index], maximum=maximum) if len(parts) > index else None


def _user_id(ctx: Ctx) -> int | None:
    """The Telegram id in ``fas:<action>:<user id>``."""
    return _part_int(ctx, 2, maximum=MAX_USER_ID)


def _link(ctx: Ctx, payload: str) -> str:
    return deep_link(ctx.services.require_bot().username, payload)


def _today(ctx: Ctx) -> date:
    return regency_date(ctx.now())


def _window(ctx: Ctx) -> CoverageWindow:
    today = _today(ctx)
    return CoverageWindow(today=today, protected_from=protected_from(today))


def _desa_label(code: str) -> str:
    """``Galumbang (Juai)``: desa names repeat across kecamatan, so the kecamatan is named too."""
    desa = wilayah.desa_by_code(code)
    if desa is None:
        return code
    kecamatan = wilayah.kecamatan_by_code(desa.kecamatan_code)
    return f"{desa.name} ({kecamatan.name})" if kecamatan is not None else desa.name


def _desa_list(codes: Iterable[str]) -> str:
    return ", ".join(_desa_label(code) for code in sorted(codes)) or "-"


async def _translator_of(ctx: Ctx, user_id: int) -> Translator:
    """The translator for another user (messages sent to them are in their language)."""
    user = await ctx.repo.users.get(user_id)
    return ctx.services.catalogs.get(user.language if user is not None else None)


async def _scope(ctx: Ctx) -> frozenset[str] | None:
    """The desa whose residents the user may see (None: every desa — admins)."""
    if ctx.role == Role.ADMIN.value:
        return None
    return frozenset(await ctx.repo.facilitators.desa_codes(ctx.user_id))


def _can_see(ctx: Ctx, sub: Submission, scope: frozenset[str] | None) -> bool:
    """Residents the user registered, or sent registrations of the user's desa."""
    if sub.entered_by_user_id == ctx.user_id:
        return True
    if sub.status == SubmissionStatus.DRAFT.value:
        return False
    return scope is None or (sub.desa_code is not None and sub.desa_code in scope)


def _stale(ctx: Ctx) -> None:
    """An old or forged button: say it is no longer active, reveal nothing."""
    ctx.toast(ctx.t(MSG_STALE))
    if ctx.state is not None:
        ctx.ask_next = True


def _who(ctx: Ctx, sub: Submission) -> str:
    """How a resident is named in lists: name, else masked NIK, else the reference."""
    if sub.full_name:
        return sub.full_name
    if sub.nik:
        return mask_nik(sub.nik)
    return ctx.t("new resident {reference}", reference=sub.reference)


# --- admins: /fasilitator ------------------------------------------------------------------------


@router.command("fasilitator", roles=ADMIN)
async def admin_command(ctx: Ctx) -> None:
    """``/fasilitator``: invite, list and manage village facilitators."""
    _admin_menu(ctx)


@router.callback("fas:home", roles=ADMIN)
async def admin_home(ctx: Ctx) -> None:
    """Back to the facilitator menu."""
    _admin_menu(ctx)


def _admin_menu(ctx: Ctx) -> None:
    ctx.edit(
        ctx.t(
            "<b>Village facilitators</b>\n"
            "Invite a facilitator for one or more desa, see the facilitators, change their desa "
            "or end their access."
        ),
        keyboards.column(
            [
                keyboards.button("➕ " + ctx.t("Invite a facilitator"), "fas:new"),
                keyboards.button("👥 " + ctx.t("Facilitators"), "fas:ls:0"),
                keyboards.button("✉️ " + ctx.t("Open invitations"), "fas:il"),
            ]
        ),
    )


@router.callback("fas:new", roles=ADMIN)
async def invite_start(ctx: Ctx) -> None:
    """Start choosing the desa of a new invitation."""
    ctx.clear_buttons()
    ctx.data = {"purpose": PickPurpose.INVITE.value, "desa": [], "kec": None, "page": 0}
    ctx.goto(Fas.PICK)


def _chosen(ctx: Ctx) -> list[str]:
    raw = ctx.data.get("desa")
    if not isinstance(raw, list):
        return []
    return sorted({c for c in raw if isinstance(c, str) and wilayah.desa_by_code(c) is not None})


def _pick_view(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    chosen = _chosen(ctx)
    inviting = ctx.data.get("purpose") != PickPurpose.EDIT.value
    head = (
        ctx.t(
            "<b>New facilitator invitation</b>\n"
            "Choose the desa the facilitator will serve (one or more)."
        )
        if inviting
        else ctx.t(
            "Choose the desa of <b>{name}</b> (one or more).", name=str(ctx.data.get("name", ""))
        )
    )
    chosen_line = (
        ctx.t("Chosen: {desa}", desa=_desa_list(chosen))
        if chosen
        else ctx.t("No desa chosen yet.")
    )
    kecamatan = wilayah.kecamatan_by_code(str(ctx.data.get("kec") or ""))
    rows: list[list[InlineKeyboardButton]]
    if kecamatan is None:
        question = ctx.t("Choose a kecamatan:")
        buttons = []
        for k in wilayah.kecamatan_list():
            count = sum(1 for code in chosen if code.startswith(k.code + "."))
            label = f"{k.name} ({count})" if count else k.name
            buttons.append(keyboards.button(label, f"fas:pk:{k.code}"))
        rows = keyboards.grid(buttons, 2)
    else:
        question = ctx.t(
            "Kecamatan {kecamatan}: press a desa to choose it, press it again to remove it.",
            kecamatan=kecamatan.name,
        )
        page_no = ctx.data.get("page")
        page_no = page_no if isinstance(page_no, int) else 0
        items = wilayah.desa_list(kecamatan.code)
        shown, has_prev, has_next = wilayah.page(items, page_no, DESA_PER_PAGE)
        rows = keyboards.grid(
            [
                keyboards.button(("✅ " if d.code in chosen else "") + d.name, f"fas:pd:{d.code}")
                for d in shown
            ],
            2,
        )
        nav = []
        if has_prev:
            nav.append(keyboards.button("‹ " + ctx.t("Previous"), f"fas:pp:{page_no - 1}"))
        if has_next:
            nav.append(keyboards.button(ctx.t("Next") + " ›", f"fas:pp:{page_no + 1}"))
        rows.append(nav)
        rows.append([keyboards.button("« " + ctx.t("Other kecamatan"), "fas:pb")])
    last = []
    if chosen:
        done = ctx.t("Create invitation") if inviting else ctx.t("Save")
        last.append(keyboards.button("✅ " + done, "fas:done"))
    last.append(keyboards.button("✖️ " + ctx.t("Cancel"), "fas:stop"))
    rows.append(last)
    return "\n".join([head, chosen_line, "", question]), keyboards.inline(rows)


@router.prompt(Fas.PICK)
async def ask_pick(ctx: Ctx) -> None:
    """Show the desa choice (kecamatan first, then its desa as toggles)."""
    ctx.say(*_pick_view(ctx))


@router.step(Fas.PICK)
async def pick_typed(ctx: Ctx) -> None:
    """A typed desa name chooses it when it is unambiguous; anything else re-asks."""
    text = (ctx.text or "").strip()
    kecamatan = ctx.data.get("kec")
    matches = wilayah.find_desa(kecamatan if isinstance(kecamatan, str) else None, text)
    if text and len(matches) == 1 and matches[0].certain:
        desa = matches[0].item
        ctx.data["desa"] = sorted({*_chosen(ctx), desa.code})
        ctx.say(ctx.t("Chosen: {desa}", desa=_desa_label(desa.code)))
    else:
        ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.ask_next = True


@router.callback("fas:pk", roles=ADMIN, states=[Fas.PICK])
async def pick_kecamatan(ctx: Ctx) -> None:
    """Open one kecamatan's desa."""
    kecamatan = wilayah.kecamatan_by_code(_parts(ctx)[-1])
    if kecamatan is None:
        _stale(ctx)
        return
    ctx.data["kec"] = kecamatan.code
    ctx.data["page"] = 0
    ctx.edit(*_pick_view(ctx))


@router.callback("fas:pd", roles=ADMIN, states=[Fas.PICK])
async def pick_desa(ctx: Ctx) -> None:
    """Choose a desa, or remove it when it was chosen."""
    desa = wilayah.desa_by_code(_parts(ctx)[-1])
    if desa is None:
        _stale(ctx)
        return
    chosen = set(_chosen(ctx))
    chosen.symmetric_difference_update({desa.code})
    ctx.data["desa"] = sorted(chosen)
    ctx.edit(*_pick_view(ctx))


@router.callback("fas:pp", roles=ADMIN, states=[Fas.PICK])
async def pick_page(ctx: Ctx) -> None:
    """Turn the page of a kecamatan's desa."""
    ctx.data["page"] = _part_int(ctx, 2) or 0
    ctx.edit(*_pick_view(ctx))


@router.callback("fas:pb", roles=ADMIN, states=[Fas.PICK])
async def pick_back(ctx: Ctx) -> None:
    """Back to the kecamatan."""
    ctx.data["kec"] = None
    ctx.edit(*_pick_view(ctx))


@router.callback("fas:stop", roles=ADMIN, states=[Fas.PICK])
async def pick_stop(ctx: Ctx) -> None:
    """Leave the desa choice without changing anything."""
    ctx.end()
    ctx.edit(ctx.t("Stopped."))


@router.callback("fas:done", roles=ADMIN, states=[Fas.PICK])
async def pick_done(ctx: Ctx) -> None:
    """Create the invitation, or save a facilitator's new desa."""
    chosen = _chosen(ctx)
    if not chosen:
        _stale(ctx)
        return
    if ctx.data.get("purpose") == PickPurpose.EDIT.value:
        await _save_desa(ctx, chosen)
    else:
        await _create_invitation(ctx, chosen)


async def _create_invitation(ctx: Ctx, chosen: list[str]) -> None:
    now = ctx.now()
    invitation = await ctx.repo.facilitators.create_invitation(
        desa_codes=chosen,
        created_by=ctx.user_id,
        now=now,
        expires_at=now + invitation_validity(),
        new_code=new_secret_code,
    )
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.INVITE,
        target=f"invitation:{invitation.id}",
        details={"desa": chosen, "expires_at": invitation.expires_at.isoformat()},
    )
    ctx.end()
    ctx.edit(
        ctx.t(
            "Invitation #{id} for: {desa}.\nValid until {date}, for one person only. "
            "Send the next message to the new facilitator.",
            id=invitation.id,
            desa=_desa_list(chosen),
            date=ctx.t.date(regency_date(invitation.expires_at)),
        )
    )
    ctx.say(
        ctx.t(
            "You are invited to be a village facilitator for BPJS Ketenagakerjaan registration. "
            "Open this link to accept:\n{link}",
            link=_link(ctx, INVITE_PREFIX + invitation.code),
        )
    )


async def _save_desa(ctx: Ctx, chosen: list[str]) -> None:
    user_id = ctx.data.get("uid")
    facilitator = await ctx.repo.facilitators.get(user_id) if isinstance(user_id, int) else None
    ctx.end()
    if facilitator is None or not facilitator.active:
        ctx.edit(ctx.t("This facilitator no longer has access; nothing was changed."))
        return
    before = await ctx.repo.facilitators.desa_codes(facilitator.user_id)
    await ctx.repo.facilitators.set_desa(
        user_id=facilitator.user_id, desa_codes=chosen, now=ctx.now()
    )
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.DESA_CHANGE,
        target=f"facilitator:{facilitator.user_id}",
        details={"before": before, "after": chosen},
    )
    ctx.edit(
        ctx.t(
            "Saved. {name} now serves: {desa}.",
            name=facilitator.full_name,
            desa=_desa_list(chosen),
        )
    )
    t = await _translator_of(ctx, facilitator.user_id)
    ctx.send_to(
        facilitator.user_id,
        t("The regency changed your desa. You now serve: {desa}.", desa=_desa_list(chosen)),
    )


@router.callback("fas:ls", roles=ADMIN)
async def facilitator_list(ctx: Ctx) -> None:
    """The facilitators, active ones first, paged."""
    repo = ctx.repo.facilitators
    total = await repo.count_facilitators()
    page_no, last = clamp_page(_part_int(ctx, 2) or 0, total, FACILITATORS_PER_PAGE)
    rows = await repo.facilitators_page(
        limit=FACILITATORS_PER_PAGE, offset=page_no * FACILITATORS_PER_PAGE
    )
    ids = [f.user_id for f in rows]
    desa = await repo.desa_of(ids)
    counts = await repo.sent_counts(ids)
    lines = [ctx.t("<b>Facilitators</b> ({count})", count=total)]
    if not rows:
        lines.append(ctx.t("No facilitators yet. Invite one with “Invite a facilitator”."))
    buttons = []
    for number, facilitator in enumerate(rows, start=page_no * FACILITATORS_PER_PAGE + 1):
        line = ctx.t(
            "{number}. <b>{name}</b> · {phone} · {desa} desa · {residents} residents",
            number=number,
            name=facilitator.full_name,
            phone=mask_phone(facilitator.phone),
            desa=len(desa.get(facilitator.user_id, [])),
            residents=counts.get(facilitator.user_id, 0),
        )
        if not facilitator.active:
            line += " · " + ctx.t("access ended")
        lines.append(line)
        buttons.append(keyboards.button(facilitator.full_name, f"fas:fv:{facilitator.user_id}"))
    markup_rows = keyboards.grid(buttons, 2)
    markup_rows.append(_paging(ctx, page_no, last, "fas:ls:{}"))
    markup_rows.append([keyboards.button("« " + ctx.t("Back"), "fas:home")])
    ctx.edit("\n".join(lines), keyboards.inline(markup_rows))


def _paging(ctx: Ctx, page_no: int, last: int, pattern: str) -> list[InlineKeyboardButton]:
    nav = []
    if page_no > 0:
        nav.append(keyboards.button("‹ " + ctx.t("Previous"), pattern.format(page_no - 1)))
    if page_no < last:
        nav.append(keyboards.button(ctx.t("Next") + " ›", pattern.format(page_no + 1)))
    return nav


@router.callback("fas:fv", roles=ADMIN)
async def facilitator_view(ctx: Ctx) -> None:
    """One facilitator: contact, desa, registrations; change desa or end access."""
    user_id = _user_id(ctx)
    facilitator = await ctx.repo.facilitators.get(user_id) if user_id is not None else None
    if facilitator is None:
        _stale(ctx)
        return
    repo = ctx.repo.facilitators
    desa = (await repo.desa_of([facilitator.user_id])).get(facilitator.user_id, [])
    count = (await repo.sent_counts([facilitator.user_id])).get(facilitator.user_id, 0)
    lines = [
        "<b>" + escape(facilitator.full_name) + "</b>",
        ctx.t("Phone: {phone}", phone=facilitator.phone),
        ctx.t("Telegram id: {id}", id=facilitator.user_id),
        ctx.t("Desa: {desa}", desa=_desa_list(desa)),
        ctx.t("Facilitator since {date}", date=ctx.t.date(regency_date(facilitator.created_at))),
        ctx.t("Residents registered: {count}", count=count),
    ]
    buttons = []
    if facilitator.revoked_at is not None:
        lines.append(
            ctx.t("Access ended on {date}.", date=ctx.t.date(regency_date(facilitator.revoked_at)))
        )
    else:
        buttons.append(
            keyboards.button("✏️ " + ctx.t("Change desa"), f"fas:ed:{facilitator.user_id}")
        )
        buttons.append(
            keyboards.button("⛔ " + ctx.t("End access"), f"fas:rv:{facilitator.user_id}")
        )
    buttons.append(keyboards.button("« " + ctx.t("Facilitators"), "fas:ls:0"))
    ctx.edit("\n".join(lines), keyboards.column(buttons))


@router.callback("fas:ed", roles=ADMIN)
async def edit_desa(ctx: Ctx) -> None:
    """Choose a facilitator's desa again (the current ones are preselected)."""
    user_id = _user_id(ctx)
    facilitator = await ctx.repo.facilitators.get(user_id) if user_id is not None else None
    if facilitator is None or not facilitator.active:
        _stale(ctx)
        return
    ctx.clear_buttons()
    ctx.data = {
        "purpose": PickPurpose.EDIT.value,
        "uid": facilitator.user_id,
        "name": facilitator.full_name,
        "desa": await ctx.repo.facilitators.desa_codes(facilitator.user_id),
        "kec": None,
        "page": 0,
    }
    ctx.goto(Fas.PICK)


@router.callback("fas:rv", roles=ADMIN)
async def revoke_ask(ctx: Ctx) -> None:
    """Ask before ending a facilitator's access."""
    user_id = _user_id(ctx)
    facilitator = await ctx.repo.facilitators.get(user_id) if user_id is not None else None
    if facilitator is None or not facilitator.active:
        _stale(ctx)
        return
    ctx.edit(
        ctx.t(
            "End the access of <b>{name}</b> as a village facilitator? The residents they "
            "registered stay registered.",
            name=facilitator.full_name,
        ),
        keyboards.column(
            [
                keyboards.button(ctx.t("Yes, end access"), f"fas:rvy:{facilitator.user_id}"),
                keyboards.button(ctx.t("No"), f"fas:fv:{facilitator.user_id}"),
            ]
        ),
    )


@router.callback("fas:rvy", roles=ADMIN)
async def revoke_confirmed(ctx: Ctx) -> None:
    """End the access: the role goes back to worker (an admin stays admin)."""
    user_id = _user_id(ctx)
    facilitator = await ctx.repo.facilitators.get(user_id) if user_id is not None else None
    if facilitator is None or not await ctx.repo.facilitators.revoke(
        user_id=facilitator.user_id, by=ctx.user_id, now=ctx.now()
    ):
        _stale(ctx)
        return
    user = await ctx.repo.users.get(facilitator.user_id)
    if user is not None and user.role == Role.FACILITATOR.value:
        await ctx.repo.users.set_role(user_id=facilitator.user_id, role=Role.WORKER)
    await ctx.repo.audit.record(
        actor_id=ctx.user_id, action=FacAudit.REVOKE, target=f"facilitator:{facilitator.user_id}"
    )
    ctx.edit(ctx.t("The access of {name} has ended.", name=facilitator.full_name))
    t = await _translator_of(ctx, facilitator.user_id)
    ctx.send_to(
        facilitator.user_id,
        t(
            "Your access as a village facilitator has ended. Thank you for your help. "
            "The residents you registered stay registered."
        ),
    )


@router.callback("fas:il", roles=ADMIN)
async def invitation_list(ctx: Ctx) -> None:
    """Invitations that can still be accepted, each with a button to cancel it."""
    invitations = await ctx.repo.facilitators.open_invitations(
        now=ctx.now(), limit=OPEN_INVITATIONS_SHOWN
    )
    lines = [ctx.t("<b>Open invitations</b>")]
    buttons = []
    for invitation in invitations:
        lines.append(
            ctx.t(
                "#{id} · {desa} · until {date}",
                id=invitation.id,
                desa=_desa_list(invitation.desa_codes),
                date=ctx.t.date(regency_date(invitation.expires_at)),
            )
        )
        buttons.append(
            keyboards.button(ctx.t("Cancel #{id}", id=invitation.id), f"fas:ir:{invitation.id}")
        )
    if not invitations:
        lines.append(ctx.t("There are no open invitations."))
    buttons.append(keyboards.button("« " + ctx.t("Back"), "fas:home"))
    ctx.edit("\n".join(lines), keyboards.column(buttons))


@router.callback("fas:ir", roles=ADMIN)
async def invitation_revoke(ctx: Ctx) -> None:
    """Cancel an invitation that nobody has accepted yet."""
    invitation_id = _part_int(ctx, 2)
    if invitation_id is None or not await ctx.repo.facilitators.revoke_invitation(
        invitation_id=invitation_id, by=ctx.user_id, now=ctx.now()
    ):
        _stale(ctx)
        return
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.INVITATION_REVOKE,
        target=f"invitation:{invitation_id}",
    )
    ctx.toast(ctx.t("Invitation cancelled."))
    await invitation_list(ctx)


# --- the invitee ---------------------------------------------------------------------------------


@router.start_payload(INVITE_PREFIX)
async def open_invitation(ctx: Ctx) -> None:
    """``?start=inv_<code>``: check the invitation, then ask for name and phone."""
    invitation = await ctx.repo.facilitators.invitation_by_code(ctx.args) if ctx.args else None
    if invitation is None:
        ctx.say(
            ctx.t(
                "This invitation link is not valid. Please check that you opened the whole "
                "link, or ask the regency admin for a new one."
            ),
            ctx.menu(),
        )
        return
    state = invitation.state(ctx.now())
    if state is not LinkState.VALID:
        ctx.say(_invitation_refusal(ctx, state, regency_date(invitation.expires_at)), ctx.menu())
        return
    ctx.data = {"inv": invitation.id}
    ctx.say(
        ctx.t(
            "Welcome! You are invited to be a <b>village facilitator</b> (pendamping desa) for: "
            "<b>{desa}</b>.\nA facilitator registers residents for BPJS Ketenagakerjaan on their "
            "behalf and follows the desa's progress.",
            desa=_desa_list(invitation.desa_codes),
        )
    )
    ctx.goto(Fas.NAME)


def _invitation_refusal(ctx: Ctx, state: LinkState, expired_on: date) -> str:
    return ctx.t(INVITATION_REFUSALS[state], date=ctx.t.date(expired_on))


@router.prompt(Fas.NAME)
async def ask_name(ctx: Ctx) -> None:
    """The invitee's full name."""
    ctx.say(ctx.t("Please type your <b>full name</b> as on your KTP."))


@router.step(Fas.NAME)
async def answer_name(ctx: Ctx) -> None:
    """Check and keep the name."""
    if ctx.text is None:
        ctx.say(ctx.t("Please type your answer as text."))
        ctx.ask_next = True
        return
    parsed = parse_name(ctx.text)
    if not isinstance(parsed, PersonName):
        ctx.say(ctx.t(NAME_ERRORS[parsed.error], **parsed.params))
        ctx.ask_next = True
        return
    ctx.data["name"] = parsed.text
    ctx.goto(Fas.PHONE)


@router.prompt(Fas.PHONE)
async def ask_phone(ctx: Ctx) -> None:
    """The invitee's phone: the share button or typed."""
    ctx.say(
        ctx.t(
            "Your <b>mobile number</b>: press the button below to send it, "
            "or type it (for example 0812 3456 7890)."
        ),
        keyboards.contact_request(ctx.t("Send my number")),
    )


@router.step(Fas.PHONE)
async def answer_phone(ctx: Ctx) -> None:
    """A shared contact (their own) or a typed number."""
    contact = ctx.contact
    if contact is not None:
        if contact.user_id is not None and contact.user_id != ctx.user_id:
            ctx.say(ctx.t("Please send your own number with the button below."))
            ctx.ask_next = True
            return
        raw = contact.phone_number
    elif ctx.text is not None:
        raw = ctx.text
    else:
        ctx.say(ctx.t("Please press the button below, or type the number."))
        ctx.ask_next = True
        return
    parsed = parse_phone(raw)
    if not isinstance(parsed, Phone):
        ctx.say(ctx.t(PHONE_ERRORS[parsed.error]))
        ctx.ask_next = True
        return
    ctx.data["phone"] = parsed.e164
    ctx.say(ctx.t("Mobile number: <b>{phone}</b>", phone=parsed.e164), keyboards.remove())
    ctx.goto(Fas.CONFIRM)


@router.prompt(Fas.CONFIRM)
async def ask_confirm(ctx: Ctx) -> None:
    """Name, phone and desa for a last check."""
    invitation_id = ctx.data.get("inv")
    invitation = (
        await ctx.repo.facilitators.get_invitation(invitation_id)
        if isinstance(invitation_id, int)
        else None
    )
    if invitation is None:
        ctx.end()
        return
    ctx.say(
        ctx.t(
            "Please check:\nName: <b>{name}</b>\nMobile number: <b>{phone}</b>\n"
            "Desa: <b>{desa}</b>\n\nIs this right?",
            name=str(ctx.data.get("name", "")),
            phone=str(ctx.data.get("phone", "")),
            desa=_desa_list(invitation.desa_codes),
        ),
        keyboards.column(
            [
                keyboards.button(ctx.t("Yes, that is right"), "fas:cf:yes"),
                keyboards.button(ctx.t("Change"), "fas:cf:edit"),
            ]
        ),
    )


@router.step(Fas.CONFIRM)
async def confirm_typed(ctx: Ctx) -> None:
    """Text where a button was expected."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.ask_next = True


@router.callback("fas:cf", states=[Fas.CONFIRM])
async def confirm_choice(ctx: Ctx) -> None:
    """Accept the invitation (once, while valid) or type the name and phone again."""
    ctx.clear_buttons()
    if _parts(ctx)[-1] != "yes":
        ctx.goto(Fas.NAME)
        return
    invitation_id = ctx.data.get("inv")
    name, phone = ctx.data.get("name"), ctx.data.get("phone")
    repo = ctx.repo.facilitators
    invitation = (
        await repo.get_invitation(invitation_id) if isinstance(invitation_id, int) else None
    )
    if invitation is None or not isinstance(name, str) or not isinstance(phone, str):
        ctx.end()
        _stale(ctx)
        return
    now = ctx.now()
    if not await repo.use_invitation(
        invitation_id=invitation.id or 0, user_id=ctx.user_id, now=now
    ):
        # Used, expired or cancelled while the invitee was typing: the database decided.
        invitation = await repo.get_invitation(invitation.id or 0) or invitation
        ctx.end()
        state = invitation.state(now)
        if state is LinkState.VALID:
            state = LinkState.USED
        ctx.say(_invitation_refusal(ctx, state, regency_date(invitation.expires_at)), ctx.menu())
        return
    previous = await repo.get(ctx.user_id)
    kept = await repo.desa_codes(ctx.user_id) if previous is not None else []
    desa = sorted({*kept, *invitation.desa_codes})
    await repo.enrol(
        user_id=ctx.user_id, full_name=name, phone=phone, invitation_id=invitation.id, now=now
    )
    await repo.set_desa(user_id=ctx.user_id, desa_codes=desa, now=now)
    if ctx.role == Role.WORKER.value:
        await ctx.repo.users.set_role(user_id=ctx.user_id, role=Role.FACILITATOR)
        ctx.user.role = Role.FACILITATOR.value
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.JOIN,
        target=f"facilitator:{ctx.user_id}",
        details={"invitation": invitation.id, "desa": desa},
    )
    ctx.end()
    ctx.say(
        ctx.t(
            "✅ You are now a village facilitator for: <b>{desa}</b>.\n\n"
            "• /daftarkan — register a resident (you can keep several open)\n"
            "• /wargaku — your residents, your desa's progress and families asking for help",
            desa=_desa_list(desa),
        ),
        ctx.menu(),
    )
    t = await _translator_of(ctx, invitation.created_by)
    ctx.send_to(
        invitation.created_by,
        t(
            "{name} accepted invitation #{id} and is now the facilitator of: {desa}.",
            name=name,
            id=invitation.id,
            desa=_desa_list(desa),
        ),
    )


@router.on_cancel("fas")
async def cancel_fas(ctx: Ctx) -> None:
    """``/batal`` while choosing desa or accepting an invitation."""
    ctx.end()
    ctx.say(ctx.t("Stopped.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())


# --- facilitators: /daftarkan ----------------------------------------------------------------------


@router.command("daftarkan", roles=FACILITATOR)
async def daftarkan(ctx: Ctx) -> None:
    """``/daftarkan``: continue a resident's registration or start a new one."""
    await _register(ctx)


@router.callback("fdr:menu", roles=FACILITATOR)
async def daftarkan_button(ctx: Ctx) -> None:
    """The "Register a resident" menu button."""
    await _register(ctx)


async def _register(ctx: Ctx) -> None:
    scope = await _scope(ctx)
    if scope is not None and not scope and ctx.settings.facilitator_desa_policy != "warn":
        ctx.say(
            ctx.t(
                "No desa has been given to you yet, so you cannot register residents. "
                "Please ask the regency admin to set your desa."
            ),
            ctx.menu(),
        )
        return
    if await ctx.repo.facilitators.count_drafts(user_id=ctx.user_id) == 0:
        begin_registration(ctx, mode=Mode.ASSISTED)
        return
    ctx.data = {"page": 0}
    ctx.goto(Fdr.PICK)


async def _drafts_view(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    repo = ctx.repo.facilitators
    total = await repo.count_drafts(user_id=ctx.user_id)
    page_no = ctx.data.get("page")
    page_no, last = clamp_page(page_no if isinstance(page_no, int) else 0, total, DRAFTS_PER_PAGE)
    drafts = await repo.drafts_page(
        user_id=ctx.user_id, limit=DRAFTS_PER_PAGE, offset=page_no * DRAFTS_PER_PAGE
    )
    if drafts:
        await ctx.repo.audit.record(
            actor_id=ctx.user_id,
            action=FacAudit.READ_DRAFTS,
            details={"submissions": [d.id for d in drafts]},
        )
    today = _today(ctx)
    rows = []
    for draft in drafts:
        step = next_step(draft, today=today)
        if step is None:
            label = ctx.t("Continue: {who} — ready to send", who=_who(ctx, draft))
        else:
            number, steps = progress(draft, step, today=today)
            label = ctx.t(
                "Continue: {who} — step {number}/{total}",
                who=_who(ctx, draft),
                number=number,
                total=steps,
            )
        rows.append([keyboards.button(label, f"fdr:go:{draft.id}")])
    rows.append(_paging(ctx, page_no, last, "fdr:pg:{}"))
    rows.append([keyboards.button("➕ " + ctx.t("New resident"), "fdr:new")])
    text = ctx.t(
        "<b>Registrations not finished</b> ({count})\nContinue one, or start with a new resident:",
        count=total,
    )
    return text, keyboards.inline(rows)


@router.prompt(Fdr.PICK)
async def ask_draft(ctx: Ctx) -> None:
    """The facilitator's open drafts, each with its step, and "New resident"."""
    ctx.say(*await _drafts_view(ctx))


@router.step(Fdr.PICK)
async def draft_typed(ctx: Ctx) -> None:
    """Text where a button was expected."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.ask_next = True


@router.callback("fdr:pg", roles=FACILITATOR, states=[Fdr.PICK])
async def draft_page(ctx: Ctx) -> None:
    """Turn the page of open drafts."""
    ctx.data["page"] = _part_int(ctx, 2) or 0
    ctx.edit(*await _drafts_view(ctx))


@router.callback("fdr:new", roles=FACILITATOR, states=[Fdr.PICK])
async def draft_new(ctx: Ctx) -> None:
    """Start a new resident (the open drafts stay)."""
    ctx.clear_buttons()
    begin_registration(ctx, mode=Mode.ASSISTED)


@router.callback("fdr:go", roles=FACILITATOR, states=[Fdr.PICK])
async def draft_go(ctx: Ctx) -> None:
    """Continue one draft at its first unanswered question (or its summary)."""
    sub_id = _part_int(ctx, 2)
    draft = (
        await ctx.repo.registration.draft_for(submission_id=sub_id, entered_by_user_id=ctx.user_id)
        if sub_id is not None
        else None
    )
    if draft is None:
        _stale(ctx)
        return
    ctx.clear_buttons()
    ctx.say(ctx.t("Continuing: <b>{who}</b>", who=_who(ctx, draft)))
    resume_draft(ctx, draft.id, mode=Mode.ASSISTED, ask=False)


@router.on_cancel("fdr")
async def cancel_fdr(ctx: Ctx) -> None:
    """``/batal`` in the list of drafts (the drafts stay)."""
    ctx.end()
    ctx.say(ctx.t("Stopped.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())


# --- the resident's own confirmation of consent ----------------------------------------------------


@router.callback(ASSISTED_CONSENT_LINK, roles=FACILITATOR)
async def consent_link(ctx: Ctx) -> None:
    """Make a single-use link the resident opens on their own phone to confirm consent."""
    sub_id = _part_int(ctx, 2)
    sub = await ctx.repo.registration.get(sub_id) if sub_id is not None else None
    consent = (
        await ctx.repo.facilitators.assisted_consent(sub.id)
        if sub is not None and sub.id is not None and sub.entered_by_user_id == ctx.user_id
        else None
    )
    if sub is None or sub.id is None or consent is None:
        _stale(ctx)
        return
    if consent.subject_user_id is not None:
        ctx.toast(ctx.t("The resident has already confirmed on their own phone."), alert=True)
        return
    now = ctx.now()
    link = await ctx.repo.facilitators.create_consent_link(
        submission_id=sub.id,
        consent_id=consent.id,
        created_by=ctx.user_id,
        now=now,
        expires_at=now + consent_link_validity(),
        new_code=new_secret_code,
    )
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.CONSENT_LINK,
        target=f"submission:{sub.reference}",
        details={"link": link.id},
    )
    ctx.toast()
    ctx.say(
        ctx.t(
            "Give the resident the next message (forward it to their Telegram). They open the "
            "link on their own phone and confirm. It works once, until {date}.",
            date=ctx.t.date(regency_date(link.expires_at)),
        )
    )
    ctx.say(
        ctx.t(
            "Please confirm your registration for BPJS Ketenagakerjaan (JKK and JKM): "
            "open this link on your own phone.\n{link}",
            link=_link(ctx, CONSENT_PREFIX + link.code),
        )
    )


@router.start_payload(CONSENT_PREFIX)
async def open_consent_link(ctx: Ctx) -> None:
    """``?start=setuju_<code>``: show the resident what was registered and ask them."""
    link = await ctx.repo.facilitators.consent_link_by_code(ctx.args) if ctx.args else None
    if link is None:
        ctx.say(ctx.t("This link is not valid."), ctx.menu())
        return
    state = link.state(ctx.now())
    if state is not LinkState.VALID:
        ctx.say(ctx.t(CONSENT_LINK_REFUSALS[state]), ctx.menu())
        return
    if link.created_by == ctx.user_id:
        ctx.say(
            ctx.t(
                "This link is for the resident's own phone, not yours. "
                "Please give it to the resident."
            )
        )
        return
    ctx.data = {"link": link.id}
    ctx.goto(Fok.CONFIRM)


async def _open_link(ctx: Ctx) -> tuple[int, Submission, Consent | None] | None:
    link_id = ctx.data.get("link")
    link = (
        await ctx.repo.facilitators.get_consent_link(link_id) if isinstance(link_id, int) else None
    )
    sub = await ctx.repo.registration.get(link.submission_id) if link is not None else None
    if link is None or link.id is None or sub is None:
        return None
    consent = (
        await ctx.repo.facilitators.consent(link.consent_id)
        if link.consent_id is not None
        else None
    )
    return link.id, sub, consent


@router.prompt(Fok.CONFIRM)
async def ask_resident_consent(ctx: Ctx) -> None:
    """Who registered the resident, the name and masked NIK, and the consent statement."""
    opened = await _open_link(ctx)
    if opened is None:
        ctx.end()
        ctx.say(ctx.t("This link is not valid."), ctx.menu())
        return
    _link_id, sub, _consent = opened
    facilitator = await ctx.repo.facilitators.get(sub.entered_by_user_id)
    lines = [
        ctx.t(
            "Village facilitator <b>{facilitator}</b> is registering you:",
            facilitator=facilitator.full_name if facilitator is not None else "-",
        ),
        ctx.t("Name: <b>{name}</b>", name=sub.full_name or "-"),
    ]
    if sub.nik:
        lines.append(ctx.t("NIK: {nik}", nik=mask_nik(sub.nik)))
    lines += ["", ctx.t(wording(Mode.SELF, Text.CONSENT))]
    ctx.say(
        "\n".join(lines),
        keyboards.inline(
            [
                [
                    keyboards.button(ctx.t(wording(Mode.SELF, Text.CONSENT_YES)), "fok:yes"),
                    keyboards.button(ctx.t(wording(Mode.SELF, Text.CONSENT_NO)), "fok:no"),
                ]
            ]
        ),
    )


@router.step(Fok.CONFIRM)
async def resident_typed(ctx: Ctx) -> None:
    """Text where a button was expected."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.ask_next = True


@router.callback("fok", states=[Fok.CONFIRM])
async def resident_answer(ctx: Ctx) -> None:
    """Record the resident's own answer once: confirm (upgrade) or decline (withdraw)."""
    ctx.clear_buttons()
    opened = await _open_link(ctx)
    agreed = ctx.callback_data == "fok:yes"
    now = ctx.now()
    ctx.end()
    if opened is None or not await ctx.repo.facilitators.use_consent_link(
        link_id=opened[0], user_id=ctx.user_id, agreed=agreed, now=now
    ):
        ctx.say(ctx.t("This link has already been used or has expired."), ctx.menu())
        return
    _link_id, sub, consent = opened
    t = await _translator_of(ctx, sub.entered_by_user_id)  # the facilitator reads these
    who = Html(t("{name} (NIK {nik})", name=sub.full_name or "-", nik=mask_nik(sub.nik or "")))
    target = f"submission:{sub.reference}"
    if agreed:
        if consent is not None and consent.id is not None:
            await ctx.repo.facilitators.confirm_consent(
                consent_id=consent.id, subject_user_id=ctx.user_id
            )
        if sub.id is not None:
            await ctx.repo.facilitators.link_owner(submission_id=sub.id, user_id=ctx.user_id)
        await ctx.repo.audit.record(
            actor_id=ctx.user_id, action=FacAudit.CONSENT_CONFIRMED, target=target
        )
        ctx.say(
            ctx.t(
                "Thank you. Your consent is recorded. "
                "To see the status of your registration, type /daftar."
            ),
            ctx.menu(),
        )
        ctx.send_to(
            sub.entered_by_user_id,
            "✅ " + t("{who} confirmed the consent on their own phone.", who=who),
        )
        return
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.CONSENT_DECLINED,
        target=target,
        details={"status": sub.status},
    )
    if sub.is_draft:
        await ctx.repo.registration.discard_draft(sub, now=now)
        ctx.say(ctx.t("All right. The registration was stopped and its data deleted."), ctx.menu())
        ctx.send_to(
            sub.entered_by_user_id,
            "⚠️ " + t("{who} did not agree on their own phone. The draft was deleted.", who=who),
        )
        return
    if sub.id is not None:
        await ctx.repo.facilitators.withdraw_consents(submission_id=sub.id, now=now)
    ctx.say(
        ctx.t(
            "All right. Your refusal is recorded and the regency office sees it. "
            "To have your data deleted, please contact the regency office."
        ),
        ctx.menu(),
    )
    ctx.send_to(
        sub.entered_by_user_id,
        "⚠️ "
        + t(
            "{who} did not agree on their own phone. The registration was already sent; "
            "the regency office sees the refusal.",
            who=who,
        ),
    )


@router.on_cancel("fok")
async def cancel_fok(ctx: Ctx) -> None:
    """``/batal`` before answering: nothing is recorded, the link stays usable."""
    ctx.end()
    ctx.say(ctx.t("Stopped.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())


# --- poster links and attribution -----------------------------------------------------------------


@router.start_payload(POSTER_PREFIX)
async def open_poster_link(ctx: Ctx) -> None:
    """``?start=ref_<code>``: register, crediting the facilitator or desa of the poster."""
    code = await ctx.repo.facilitators.attribution_by_code(ctx.args) if ctx.args else None
    if code is None or code.id is None:
        await daftar(ctx)  # an old or mistyped poster still leads to registration
        return
    registration = ctx.repo.registration
    if await registration.own_submitted(user_id=ctx.user_id) is None:
        draft = await registration.own_draft(user_id=ctx.user_id)
        if draft is None:
            ctx.say(
                await _poster_greeting(ctx, code.kind, code.facilitator_user_id, code.desa_code)
            )
            begin_registration(ctx, mode=Mode.SELF, source=code.id)
            return
        if draft.id is not None:
            await ctx.repo.facilitators.attribute(
                submission_id=draft.id, code_id=code.id, now=ctx.now()
            )
    await daftar(ctx)


async def _poster_greeting(
    ctx: Ctx, kind: str, facilitator_user_id: int | None, desa_code: str | None
) -> str:
    if kind == AttributionKind.DESA.value and desa_code is not None:
        return ctx.t(
            "Welcome! You came through the poster of Desa {desa}.", desa=_desa_label(desa_code)
        )
    facilitator = (
        await ctx.repo.facilitators.get(facilitator_user_id)
        if facilitator_user_id is not None
        else None
    )
    if facilitator is not None:
        return ctx.t(
            "Welcome! You came through the poster of village facilitator {name}.",
            name=facilitator.full_name,
        )
    return ctx.t("Welcome!")


@router.callback("fw:poster", roles=FACILITATOR)
async def poster_links(ctx: Ctx) -> None:
    """The facilitator's own poster link and one per desa, with what each brought in."""
    repo = ctx.repo.facilitators
    now = ctx.now()
    own = await repo.attribution_code_for(
        kind=AttributionKind.FACILITATOR,
        facilitator_user_id=ctx.user_id,
        desa_code=None,
        created_by=ctx.user_id,
        now=now,
        new_code=new_poster_code,
    )
    desa_codes = sorted(await _scope(ctx) or [])
    per_desa = [
        await repo.attribution_code_for(
            kind=AttributionKind.DESA,
            facilitator_user_id=None,
            desa_code=code,
            created_by=ctx.user_id,
            now=now,
            new_code=new_poster_code,
        )
        for code in desa_codes
    ]
    counts = await repo.attribution_counts([c.id for c in [own, *per_desa] if c.id is not None])
    lines = [
        ctx.t(
            "<b>Poster links</b>\nPrint these links (or a QR code made from them) on posters. "
            "Workers who register themselves through a link are counted for you or your desa."
        ),
        "",
        ctx.t(
            "Your own link ({count} registrations):\n{link}",
            count=counts.get(own.id or 0, 0),
            link=_link(ctx, POSTER_PREFIX + own.code),
        ),
    ]
    for code in per_desa:
        lines.append("")
        lines.append(
            ctx.t(
                "Desa {desa} ({count} registrations):\n{link}",
                desa=_desa_label(code.desa_code or ""),
                count=counts.get(code.id or 0, 0),
                link=_link(ctx, POSTER_PREFIX + code.code),
            )
        )
    ctx.edit(
        "\n".join(lines), keyboards.column([keyboards.button("« " + ctx.t("Back"), "fw:home")])
    )


# --- facilitators: /wargaku --------------------------------------------------------------------------


@router.command("wargaku", roles=FACILITATOR)
async def wargaku(ctx: Ctx) -> None:
    """``/wargaku``: residents, desa progress, help requests, poster links."""
    await _home(ctx, edit=False)


@router.callback("fw:open", roles=FACILITATOR)
async def wargaku_button(ctx: Ctx) -> None:
    """The "My residents" button of the main menu (a new message; the menu stays)."""
    await _home(ctx, edit=False)


@router.callback("fw:home", roles=FACILITATOR)
async def wargaku_back(ctx: Ctx) -> None:
    """Every "Back" inside /wargaku (the same message is edited)."""
    await _home(ctx, edit=True)


async def _home(ctx: Ctx, *, edit: bool) -> None:
    scope = await _scope(ctx)
    repo = ctx.repo.facilitators
    window = _window(ctx)
    sent = await repo.count_residents(
        scope=ResidentScope(entered_by=ctx.user_id), flt=ResidentFilter.ALL, window=window
    )
    drafts = await repo.count_drafts(user_id=ctx.user_id)
    help_open = await ctx.repo.claims.count_open_help_requests(
        desa_codes=sorted(scope) if scope is not None else None
    )
    lines = [
        ctx.t("<b>My residents</b>"),
        ctx.t("Registered by you: {sent} · Not finished: {drafts}", sent=sent, drafts=drafts),
    ]
    if scope is not None:
        lines.append(ctx.t("Your desa: {desa}", desa=_desa_list(scope)))
    lines.append(ctx.t("Families asking for help with a JKM claim: {count}", count=help_open))
    show = ctx.edit if edit else ctx.say
    show(
        "\n".join(lines),
        keyboards.column(
            [
                keyboards.button("📋 " + ctx.t(SCOPE_TITLES[Scope.MINE]), "fw:l:m:all:0"),
                keyboards.button("🏘 " + ctx.t(SCOPE_TITLES[Scope.DESA]), "fw:l:d:all:0"),
                keyboards.button("📈 " + ctx.t("Desa progress"), "fw:prog"),
                keyboards.button(
                    "🆘 " + ctx.t("Help requests ({count})", count=help_open), "fw:h:0"
                ),
                keyboards.button("🔗 " + ctx.t("Poster links"), "fw:poster"),
            ]
        ),
    )


def _list_args(parts: list[str]) -> tuple[Scope, ResidentFilter, int]:
    """``[<scope>, <filter>, <page>]`` of a list button; anything unknown: the first page of all."""
    scope = Scope(parts[0]) if parts and parts[0] in Scope._value2member_map_ else Scope.MINE
    flt = (
        ResidentFilter(parts[1])
        if len(parts) > 1 and parts[1] in ResidentFilter._value2member_map_
        else ResidentFilter.ALL
    )
    page_no = (parse_int(parts[2]) if len(parts) > 2 else None) or 0
    return scope, flt, page_no


async def _resident_scope(ctx: Ctx, which: Scope) -> ResidentScope:
    if which is Scope.MINE:
        return ResidentScope(entered_by=ctx.user_id)
    return ResidentScope(desa_codes=await _scope(ctx))


@router.callback("fw:l", roles=FACILITATOR)
async def resident_list(ctx: Ctx) -> None:
    """Residents newest first, five a page, with a filter row; opening one is audited."""
    which, flt, page_no = _list_args(_parts(ctx)[2:])
    await _show_list(ctx, which, flt, page_no)


async def _show_list(ctx: Ctx, which: Scope, flt: ResidentFilter, page_no: int) -> None:
    repo = ctx.repo.facilitators
    scope = await _resident_scope(ctx, which)
    window = _window(ctx)
    total = await repo.count_residents(scope=scope, flt=flt, window=window)
    page_no, last = clamp_page(page_no, total, RESIDENTS_PER_PAGE)
    rows = await repo.residents_page(
        scope=scope,
        flt=flt,
        window=window,
        limit=RESIDENTS_PER_PAGE,
        offset=page_no * RESIDENTS_PER_PAGE,
    )
    if rows:
        await ctx.repo.audit.record(
            actor_id=ctx.user_id,
            action=FacAudit.READ_RESIDENTS,
            details={
                "scope": which.value,
                "filter": flt.value,
                "submissions": [r.submission.id for r in rows],
            },
        )
    lines = [
        ctx.t(
            "<b>{title}</b> — {filter} ({count})",
            title=ctx.t(SCOPE_TITLES[which]),
            filter=ctx.t(FILTER_LABELS[flt]),
            count=total,
        )
    ]
    if not rows:
        lines.append(ctx.t("Nobody here yet."))
    today = window.today
    markup_rows: list[list[InlineKeyboardButton]] = []
    for number, row in enumerate(rows, start=page_no * RESIDENTS_PER_PAGE + 1):
        sub = row.submission
        lines.append(
            f"{number}. "
            + ctx.t(
                "<b>{name}</b> · {nik} · {desa}\n{status}",
                name=_who(ctx, sub),
                nik=mask_nik(sub.nik or ""),
                desa=_desa_label(sub.desa_code or ""),
                status=_status_line(ctx, row, today),
            )
        )
        markup_rows.append(
            [
                keyboards.button(
                    f"{number}. {_who(ctx, sub)}",
                    f"fw:r:{sub.id}:{which.value}:{flt.value}:{page_no}",
                )
            ]
        )
    filters = [
        keyboards.button(
            ("• " if f is flt else "") + ctx.t(label), f"fw:l:{which.value}:{f.value}:0"
        )
        for f, label in FILTER_LABELS.items()
    ]
    markup_rows.extend(keyboards.grid(filters, 3))
    markup_rows.append(_paging(ctx, page_no, last, f"fw:l:{which.value}:{flt.value}:{{}}"))
    markup_rows.append([keyboards.button("« " + ctx.t("Back"), "fw:home")])
    ctx.edit("\n".join(lines), keyboards.inline(markup_rows))


def _status_line(ctx: Ctx, row: ResidentRow, today: date) -> Html:
    """Where a resident is: the roster's coverage when listed there, else the review status.

    Returned as safe HTML (catalog text and an escaped reason) to be placed in another message.
    """
    entry = row.roster
    if entry is not None:
        payer = Payer(entry.payer) if entry.payer in Payer._value2member_map_ else Payer.OTHER
        try:
            status = coverage_status(
                paid_until=entry.paid_until,
                coverage_start=entry.coverage_start,
                today=today,
                payer=payer,
            )
        except ValueError:
            status = None  # a malformed roster row: fall back to the review status
        if status is not None:
            return Html(escape(_coverage_line(ctx, status, entry.coverage_start)))
    sub = row.submission
    text = escape(ctx.t(STATUS_LABELS[SubmissionStatus(sub.status)]))
    if sub.status == SubmissionStatus.REJECTED.value and sub.rejection_reason:
        text += " — " + escape(ctx.t.raw(sub.rejection_reason))
    return Html(text)


def _coverage_line(ctx: Ctx, status: CoverageStatus, coverage_start: date) -> str:
    state = status.state
    if state is CoverageState.ACTIVE and status.paid_until is not None:
        return "🟢 " + ctx.t("protected until {date}", date=ctx.t.date(status.paid_until))
    if state is CoverageState.GRACE and status.protected_until is not None:
        return "🟡 " + ctx.t(
            "not paid; still protected until {date}", date=ctx.t.date(status.protected_until)
        )
    if state is CoverageState.NONAKTIF and status.nonaktif_from is not None:
        return "🔴 " + ctx.t(
            "not protected since {date} (unpaid)", date=ctx.t.date(status.nonaktif_from)
        )
    if state is CoverageState.NOT_STARTED:
        return "⚪ " + ctx.t("protected from {date}", date=ctx.t.date(coverage_start))
    return "⚪ " + ctx.t("on the participant list; no payment recorded yet")


@router.callback("fw:r", roles=FACILITATOR)
async def resident_view(ctx: Ctx) -> None:
    """One resident (scope-checked, audited); "correct and resend" for a rejected one."""
    parts = _parts(ctx)
    sub_id = _part_int(ctx, 2)
    row = await ctx.repo.facilitators.resident(sub_id) if sub_id is not None else None
    if row is None or not _can_see(ctx, row.submission, await _scope(ctx)):
        _stale(ctx)
        return
    sub = row.submission
    await ctx.repo.audit.record(
        actor_id=ctx.user_id, action=FacAudit.READ_RESIDENT, target=f"submission:{sub.reference}"
    )
    mine = sub.entered_by_user_id == ctx.user_id
    lines = [
        "<b>" + escape(_who(ctx, sub)) + "</b>",
        ctx.t("NIK: {nik}", nik=mask_nik(sub.nik or "")),
        ctx.t("Registration number: {reference}", reference=sub.reference),
        ctx.t("Lives in: {desa}", desa=_desa_label(sub.desa_code or "")),
    ]
    if sub.phone:
        phone = sub.phone if mine else mask_phone(sub.phone)
        lines.append(ctx.t("Mobile number: {phone}", phone=phone))
    lines.append(ctx.t("Status: {status}", status=_status_line(ctx, row, _today(ctx))))
    if mine:
        lines.append(ctx.t("Registered by: you"))
    elif sub.entered_by_user_id == sub.owner_user_id:
        lines.append(ctx.t("Registered by: the resident themselves"))
    else:
        lines.append(ctx.t("Registered by: another facilitator"))
    buttons = []
    consent = await ctx.repo.facilitators.assisted_consent(sub.id) if sub.id else None
    if mine and consent is not None:
        if consent.subject_user_id is not None:
            lines.append(ctx.t("Consent: confirmed by the resident on their own phone"))
        else:
            lines.append(ctx.t("Consent: given through you (not yet confirmed on their phone)"))
            buttons.append(
                keyboards.button(
                    ctx.t("Link for the resident's phone"), f"{ASSISTED_CONSENT_LINK}:{sub.id}"
                )
            )
    if mine and sub.status == SubmissionStatus.REJECTED.value:
        buttons.insert(
            0, keyboards.button("✏️ " + ctx.t("Correct and send again"), f"fw:fix:{sub.id}")
        )
    which, flt, page_no = _list_args(parts[3:6])
    back = f"fw:l:{which.value}:{flt.value}:{page_no}"
    buttons.append(keyboards.button("« " + ctx.t("Back"), back))
    ctx.edit("\n".join(lines), keyboards.column(buttons))


@router.callback("fw:fix", roles=FACILITATOR)
async def resident_fix(ctx: Ctx) -> None:
    """Reopen a rejected registration the facilitator entered, at its summary."""
    sub_id = _part_int(ctx, 2)
    row = await ctx.repo.facilitators.resident(sub_id) if sub_id is not None else None
    sub = row.submission if row is not None else None
    if (
        sub is None
        or sub.id is None
        or sub.entered_by_user_id != ctx.user_id
        or sub.status != SubmissionStatus.REJECTED.value
    ):
        _stale(ctx)
        return
    reason = sub.rejection_reason
    if not await ctx.repo.facilitators.reopen_rejected(sub, now=ctx.now()):
        _stale(ctx)
        return
    await ctx.repo.audit.record(
        actor_id=ctx.user_id,
        action=FacAudit.CORRECT,
        target=f"submission:{sub.reference}",
        details={"reason": reason},
    )
    ctx.clear_buttons()
    ctx.say(
        ctx.t(
            "Correcting <b>{who}</b> ({reference}). Why it was not accepted: {reason}\n"
            "Check the data, change what is wrong with “Change something”, then send it again.",
            who=_who(ctx, sub),
            reference=sub.reference,
            reason=ctx.t.raw(reason) if reason else "-",
        )
    )
    resume_draft(ctx, sub.id, mode=Mode.ASSISTED, ask=False)


# --- desa progress ---------------------------------------------------------------------------------


async def _progress_rows(ctx: Ctx) -> list[DesaProgress]:
    scope = await _scope(ctx)
    codes = sorted(scope or [])
    counts = await ctx.repo.facilitators.desa_counts(desa_codes=codes, window=_window(ctx))
    rows = []
    for code in codes:
        desa = wilayah.desa_by_code(code)
        figures = counts.get(code)
        rows.append(
            DesaProgress(
                code=code,
                name=desa.name if desa is not None else code,
                registered=figures.registered if figures is not None else 0,
                covered=figures.covered if figures is not None else 0,
                target=target_of(code),
            )
        )
    return rows


@router.callback("fw:prog", roles=FACILITATOR)
async def desa_progress(ctx: Ctx) -> None:
    """Per desa: registered and protected against the target, as a text bar."""
    rows = await _progress_rows(ctx)
    lines = [ctx.t("<b>Progress of your desa</b> ({date})", date=ctx.t.date(_today(ctx)))]
    if not rows:
        lines.append(ctx.t("No desa has been given to you."))
    for row in rows:
        lines.append("")
        lines.append("<b>" + escape(_desa_label(row.code)) + "</b>")
        if row.target:
            lines.append(
                ctx.t(
                    "Registered: {registered} · Protected: {covered} · Target: {target}",
                    registered=ctx.t.number(row.registered),
                    covered=ctx.t.number(row.covered),
                    target=ctx.t.number(row.target),
                )
            )
            lines.append(f"{text_bar(row.covered, row.target)} {row.percent}%")
        else:
            lines.append(
                ctx.t(
                    "Registered: {registered} · Protected: {covered}",
                    registered=ctx.t.number(row.registered),
                    covered=ctx.t.number(row.covered),
                )
            )
            lines.append(ctx.t("No target set for this desa yet."))
    buttons = []
    if rows:
        buttons.append(keyboards.button("📊 " + ctx.t("Show as a chart"), "fw:chart"))
    buttons.append(keyboards.button("« " + ctx.t("Back"), "fw:home"))
    ctx.edit("\n".join(lines), keyboards.column(buttons))


@router.callback("fw:chart", roles=FACILITATOR)
async def desa_chart(ctx: Ctx) -> None:
    """Draw the progress chart after the transaction, in a worker thread, and send it."""
    rows = await _progress_rows(ctx)
    if not rows:
        _stale(ctx)
        return
    ctx.toast(ctx.t("Drawing the chart…"))
    chat_id, t, today = ctx.chat_id, ctx.t, _today(ctx)

    async def job(services: Services) -> None:
        try:
            png = await asyncio.to_thread(
                progress_chart,
                rows,
                title=t("Your desa — {date}", date=t.short_date(today)),
                registered_label=t("Registered"),
                covered_label=t("Protected"),
                target_label=t("Target"),
                number=t.number,
            )
        except Exception:
            log.exception("facilitator progress chart failed")
            return
        await services.require_delivery().send(
            Reply("sendPhoto", chat_id, file=png, filename="desa.png")
        )

    ctx.later(job)


# --- help requests from bereaved families -----------------------------------------------------------


async def _help_scope(ctx: Ctx) -> list[str] | None:
    scope = await _scope(ctx)
    return sorted(scope) if scope is not None else None


@router.callback("fw:h", roles=FACILITATOR)
async def help_list(ctx: Ctx) -> None:
    """Open help requests of the facilitator's desa, oldest first (they waited longest)."""
    await _show_help(ctx, _part_int(ctx, 2) or 0)


async def _show_help(ctx: Ctx, page_no: int) -> None:
    desa_codes = await _help_scope(ctx)
    claims = ctx.repo.claims
    total = await claims.count_open_help_requests(desa_codes=desa_codes)
    page_no, last = clamp_page(page_no, total, HELP_PER_PAGE)
    requests = await claims.open_help_requests(
        desa_codes=desa_codes, limit=HELP_PER_PAGE, offset=page_no * HELP_PER_PAGE
    )
    if requests:
        await ctx.repo.audit.record(
            actor_id=ctx.user_id,
            action=FacAudit.READ_HELP,
            details={"requests": [r.id for r in requests]},
        )
    lines = [ctx.t("<b>Families asking for help with a JKM claim</b> ({count})", count=total)]
    if not requests:
        lines.append(ctx.t("No open help requests from families."))
    rows: list[list[InlineKeyboardButton]] = []
    for request in requests:
        claimant = request.claimant or ""
        relation = (
            claimant_label(ctx.t, ClaimantType(claimant))
            if claimant in ClaimantType._value2member_map_
            else "-"
        )
        lines.append(
            ctx.t(
                "#{id} · {date} · {desa}\n{name} · {relation} · {phone}",
                id=request.id,
                date=ctx.t.date(regency_date(request.created_at)),
                desa=_desa_label(request.desa_code),
                name=request.requester_name or "-",
                relation=relation,
                phone=mask_phone(request.phone) if request.phone else ctx.t("no phone"),
            )
        )
        rows.append(
            [
                keyboards.button(ctx.t("Contact #{id}", id=request.id), f"fw:hc:{request.id}"),
                keyboards.button(
                    ctx.t("Mark as handled #{id}", id=request.id), f"fw:hd:{request.id}"
                ),
            ]
        )
    rows.append(_paging(ctx, page_no, last, "fw:h:{}"))
    rows.append([keyboards.button("« " + ctx.t("Back"), "fw:home")])
    ctx.edit("\n\n".join(lines), keyboards.inline(rows))


async def _help_request_in_scope(ctx: Ctx) -> int | None:
    request_id = _part_int(ctx, 2)
    request = (
        await ctx.repo.claims.get_help_request(request_id=request_id)
        if request_id is not None
        else None
    )
    desa_codes = await _help_scope(ctx)
    if request is None or request.id is None:
        return None
    if desa_codes is not None and request.desa_code not in desa_codes:
        return None
    return request.id


@router.callback("fw:hc", roles=FACILITATOR)
async def help_contact(ctx: Ctx) -> None:
    """The family's full contact (recorded in the audit log)."""
    request_id = await _help_request_in_scope(ctx)
    request = (
        await ctx.repo.claims.get_help_request(request_id=request_id)
        if request_id is not None
        else None
    )
    if request is None:
        _stale(ctx)
        return
    await ctx.repo.audit.record(
        actor_id=ctx.user_id, action=FacAudit.HELP_CONTACT, target=f"claim_help:{request_id}"
    )
    ctx.say(
        ctx.t(
            "Request #{id}: {name}\nPhone: {phone}\nTelegram id: {user}",
            id=request_id,
            name=request.requester_name or "-",
            phone=request.phone or ctx.t("no phone"),
            user=request.user_id,
        )
    )


@router.callback("fw:hd", roles=FACILITATOR)
async def help_done(ctx: Ctx) -> None:
    """Mark a request of the facilitator's desa handled."""
    request_id = await _help_request_in_scope(ctx)
    if request_id is None:
        _stale(ctx)
        return
    handled = await ctx.repo.claims.mark_help_handled(
        request_id=request_id, handled_by=ctx.user_id, now=ctx.now()
    )
    if handled:
        await ctx.repo.audit.record(
            actor_id=ctx.user_id, action=FacAudit.HELP_HANDLED, target=f"claim_help:{request_id}"
        )
    ctx.toast(ctx.t("Marked as handled.") if handled else ctx.t("Already handled."))
    await _show_help(ctx, 0)
