"""Data-subject rights in the chat: ``/datasaya`` (see, copy, correct) and ``/hapusdata`` (erase).

* ``/datasaya`` lists what the bot stores about the user and sends a full copy as two files: a
  readable text file and a JSON file (:mod:`bot.privacy`). "Perbaiki data" corrects the user's own
  registration through the registration flow itself (its summary "Ubah" menu, so every answer is
  checked by the same step handler): a draft at once, a registration still waiting for the
  regency's check after it is taken back to draft; a registration already checked, or one a
  facilitator typed in, is not changed here and the user is told whom to ask.
* ``/hapusdata`` explains, for this user, what will be deleted and what the regency keeps and why
  (rules in ``bot/data/privacy.toml``), asks once, and then erases everything in the update's one
  transaction (:meth:`storage.repos.privacy.PrivacyRepository.erase`). A facilitator who typed in
  a registration that was erased is told so; nothing can be restored.

The daily draft-retention job (:mod:`bot.retention`) is registered here as a background service.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from telegram import InlineKeyboardMarkup

from bot import keyboards
from bot.context import Ctx
from bot.coverage_lookup import regency_zone
from bot.domain import wilayah
from bot.domain.income import income_range
from bot.domain.nik import Sex, mask_nik
from bot.domain.occupations import occupation
from bot.i18n import N_, Translator
from bot.privacy import (
    Category,
    CategoryCode,
    Disposition,
    erasure_plan,
    erasure_preview,
    erasure_rules,
    export_json,
    export_text,
)
from bot.retention import retention_loop
from bot.router import Router
from handlers.common import LANGUAGE_NAMES
from handlers.registration import resume_draft
from handlers.registration_states import (
    MSG_USE_BUTTONS,
    SEX_LABELS,
    STATUS_LABELS,
    Mode,
    Reg,
)
from storage.models import EntryRole, Role, Submission, SubmissionStatus
from storage.repos.privacy import ErasedSubmission, ErasureOutcome, PersonalRecords

router = Router("privacy")
router.menu_entry(N_("My data"), "priv:show", order=85)
router.service(retention_loop)

FLOW = "privacy"
#: Telegram refuses longer messages; the full copy is in the files anyway.
MAX_MESSAGE = 3800


class Privacy(StrEnum):
    """Conversation states of this feature (both are a single confirmation)."""

    ERASE = "privacy.erase"
    """Confirm ``/hapusdata``."""
    FIX = "privacy.fix"
    """Confirm taking a sent registration back to draft to correct it."""


MSG_NOTHING_CHANGED = N_("Nothing was changed.")
MSG_ERASED_FOR_FACILITATOR = N_(
    "Registration <b>{reference}</b>: data deleted at the owner's request. "
    "It cannot be restored or opened again."
)
MSG_ANONYMISED_FOR_FACILITATOR = N_(
    "Registration <b>{reference}</b>: data deleted at the owner's request. The regency keeps "
    "only the record it must keep; the rest cannot be restored."
)


def erased_notice(t: Translator, reference: str, outcome: ErasureOutcome) -> str:
    """What a facilitator reads about a registration erased at its owner's request.

    The facilitator views use it for a registration that
    :meth:`~storage.repos.privacy.PrivacyRepository.erasure_of` reports as erased.
    """
    if outcome is ErasureOutcome.ANONYMISED:
        return t(MSG_ANONYMISED_FOR_FACILITATOR, reference=reference)
    return t(MSG_ERASED_FOR_FACILITATOR, reference=reference)


def _keeps_account(ctx: Ctx) -> bool:
    # A facilitator's or admin's role lives on the account row; only an admin ends it.
    return ctx.role != Role.WORKER.value


def _status(t: Translator, status: str) -> str:
    known = SubmissionStatus._value2member_map_.get(status)
    return t(STATUS_LABELS[SubmissionStatus(status)]) if known is not None else status


# --- /datasaya --------------------------------------------------------------------------------------


@router.command("datasaya", description=N_("See, copy or correct your data"), order=85)
async def datasaya(ctx: Ctx) -> None:
    """Show what is stored about the user and send a full copy as files."""
    await _show(ctx)


@router.callback("priv:show")
async def show_button(ctx: Ctx) -> None:
    """The "Data saya" menu button."""
    await _show(ctx)


async def _show(ctx: Ctx) -> None:
    records = await ctx.repo.privacy.gather(user_id=ctx.user_id)
    now = ctx.now()
    ctx.say(_summary(ctx, records), _show_keyboard(ctx, records))
    stamp = now.astimezone(regency_zone()).strftime("%Y%m%d")
    ctx.send_document(
        export_text(records, ctx.t, now=now, zone=regency_zone()),
        f"data-saya-{stamp}.txt",
        caption=ctx.t("Your data, to read."),
    )
    ctx.send_document(
        export_json(records, now=now),
        f"data-saya-{stamp}.json",
        caption=ctx.t("The same data for a computer (JSON)."),
    )


def _show_keyboard(ctx: Ctx, records: PersonalRecords) -> InlineKeyboardMarkup:
    buttons = []
    if records.submissions:
        buttons.append(keyboards.button("✏️ " + ctx.t("Correct my registration"), "priv:fix"))
    buttons.append(keyboards.button("🗑 " + ctx.t("Delete my data"), "priv:erase"))
    buttons.append(keyboards.button(ctx.t("Main menu"), "menu"))
    return keyboards.column(buttons)


def _summary(ctx: Ctx, records: PersonalRecords) -> str:
    t = ctx.t
    lines = [t("<b>Your data in this bot</b>")]
    user = records.user
    if user is not None:
        lines.append(
            t(
                "Account: Telegram ID {id}, language {language}, since {date}.",
                id=ctx.user_id,
                language=LANGUAGE_NAMES.get(user.language, user.language),
                date=t.date(user.created_at.astimezone(regency_zone()).date()),
            )
        )
    for sub in records.submissions:
        lines.append("")
        lines.extend(_submission_lines(t, sub))
    if records.roster:
        lines.append("")
        for entry in records.roster:
            paid = t.date(entry.paid_until) if entry.paid_until is not None else "-"
            lines.append(
                t(
                    "<b>Participant list</b>: NIK {nik}, {name}, paid until {paid}.",
                    nik=mask_nik(entry.nik),
                    name=entry.name,
                    paid=paid,
                )
            )
    counts = [
        (N_("JKM claim guide"), len(records.claim_cases)),
        (N_("Requests for a facilitator's help"), len(records.help_requests)),
        (N_("Payment reminders"), len(records.reminders)),
        (N_("Announcements sent to you"), len(records.broadcasts)),
        (N_("Wrong NIK or birth-date lookups"), len(records.lookup_failures)),
    ]
    shown = [(label, n) for label, n in counts if n]
    if shown:
        lines.append("")
        lines.extend(t("{what}: {count}", what=t(label), count=t.number(n)) for label, n in shown)
    for request in records.help_requests:
        if request.phone:
            lines.append(t("Phone given for help: {phone}", phone=request.phone))
    for consent in records.consents:
        when = t.datetime(consent.given_at.astimezone(regency_zone()))
        if consent.withdrawn_at is None:
            lines.append(t("Consent given on {time}.", time=when))
        else:
            lines.append(
                t(
                    "Consent given on {time}, withdrawn on {withdrawn}.",
                    time=when,
                    withdrawn=t.datetime(consent.withdrawn_at.astimezone(regency_zone())),
                )
            )
    if records.facilitator is not None:
        lines.append(
            t(
                "Facilitator: {name}, {phone}.",
                name=records.facilitator.full_name,
                phone=records.facilitator.phone,
            )
        )
    footer = t("The full copy is in the two files below. To correct or delete, use the buttons.")
    text = "\n".join(lines)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE].rsplit("\n", 1)[0] + "\n…"
    return text + "\n\n" + footer


def _submission_lines(t: Translator, sub: Submission) -> list[str]:
    lines = [
        t(
            "<b>Registration {reference}</b>: {status}",
            reference=sub.reference,
            status=_status(t, sub.status),
        )
    ]
    if sub.nik is not None:
        lines.append(t("NIK: {nik}", nik=mask_nik(sub.nik)))
    if sub.full_name is not None:
        lines.append(t("Name: <b>{name}</b>", name=sub.full_name))
    if sub.birth_date is not None:
        lines.append(t("Date of birth: <b>{date}</b>", date=t.date(sub.birth_date)))
    if sub.sex is not None and sub.sex in Sex._value2member_map_:
        lines.append(t("Sex: <b>{sex}</b>", sex=t(SEX_LABELS[Sex(sub.sex)])))
    if sub.phone is not None:
        lines.append(t("Mobile number: <b>{phone}</b>", phone=sub.phone))
    desa = wilayah.desa_by_code(sub.desa_code or "")
    kecamatan = wilayah.kecamatan_by_code(sub.kecamatan_code or "")
    if desa is not None and kecamatan is not None:
        lines.append(
            t(
                "Lives in: <b>{desa}, Kec. {kecamatan}</b>",
                desa=desa.name,
                kecamatan=kecamatan.name,
            )
        )
    job = occupation(sub.occupation_code or "")
    if job is not None:
        work = sub.occupation_text if job.free_text and sub.occupation_text else t(job.label)
        lines.append(t("Work: <b>{work}</b>", work=work))
    income = income_range(sub.income_code or "")
    if income is not None:
        lines.append(t("Income: <b>{income}</b>", income=t(income.label)))
    if sub.entered_by_role == EntryRole.FACILITATOR.value:
        lines.append(t("Typed in by a village facilitator."))
    return lines


# --- corrections -----------------------------------------------------------------------------------


@router.callback("priv:fix")
async def fix_button(ctx: Ctx) -> None:
    """ "Perbaiki data": open the registration flow's change menu on the user's registration."""
    ctx.clear_buttons()
    subs = (await ctx.repo.privacy.gather(user_id=ctx.user_id)).submissions
    own_drafts = [
        s
        for s in subs
        if s.status == SubmissionStatus.DRAFT.value and s.entered_by_user_id == ctx.user_id
    ]
    if own_drafts:
        draft = max(own_drafts, key=lambda s: (s.updated_at, s.id or 0))
        resume_draft(ctx, draft.id, mode=Mode.SELF, ask=False)
        ctx.goto(Reg.EDIT)
        return
    sent = [s for s in subs if s.status != SubmissionStatus.DRAFT.value]
    if not sent:
        if subs:  # only a draft a facilitator is typing in
            ctx.say(_ask_facilitator(ctx), ctx.menu())
        else:
            ctx.say(
                ctx.t("You have no registration to correct. To register, type /daftar."),
                ctx.menu(),
            )
        return
    sub = max(sent, key=lambda s: (s.submitted_at or s.created_at, s.id or 0))
    if sub.entered_by_role != EntryRole.SELF.value:
        ctx.say(_ask_facilitator(ctx), ctx.menu())
    elif sub.status == SubmissionStatus.SUBMITTED.value:
        ctx.data = {"sub": sub.id}
        ctx.goto(Privacy.FIX)
    else:
        ctx.say(_cannot_change(ctx, sub), ctx.menu())


def _ask_facilitator(ctx: Ctx) -> str:
    return ctx.t(
        "Your registration was typed in by a village facilitator. To correct it, ask that "
        "facilitator or the regency office."
    )


def _cannot_change(ctx: Ctx, sub: Submission) -> str:
    return ctx.t(
        "Your registration <b>{reference}</b>: {status}. It can no longer be changed in this "
        "chat. To correct it, go to the regency office or call BPJS Ketenagakerjaan on {phone}.",
        reference=sub.reference,
        status=_status(ctx.t, sub.status),
        phone=erasure_rules().bpjs_phone,
    )


async def _fix_target(ctx: Ctx) -> Submission | None:
    sub_id = ctx.data.get("sub")
    sub = await ctx.repo.registration.get(sub_id) if isinstance(sub_id, int) else None
    if sub is None or sub.owner_user_id != ctx.user_id:
        return None
    return sub


@router.prompt(Privacy.FIX)
async def ask_fix(ctx: Ctx) -> None:
    """Explain that a sent registration goes back to draft while it is corrected."""
    sub = await _fix_target(ctx)
    if sub is None:
        ctx.end()
        ctx.say(ctx.t(MSG_NOTHING_CHANGED), ctx.menu())
        return
    ctx.say(
        ctx.t(
            "Your registration <b>{reference}</b> is waiting to be checked by the regency. To "
            "correct it, it goes back to a draft: the regency does not see it until you press "
            "<b>Send</b> again at the end. A draft left alone for {days} days is deleted.\n\n"
            "Correct it now?",
            reference=sub.reference,
            days=ctx.settings.draft_retention_days,
        ),
        keyboards.column(
            [
                keyboards.button(ctx.t("Yes, correct it"), "priv:fc:yes"),
                keyboards.button(ctx.t("No"), "priv:fc:no"),
            ]
        ),
    )


@router.callback("priv:fc", states=[Privacy.FIX])
async def fix_choice(ctx: Ctx) -> None:
    """Take the registration back to draft and open the change menu, or leave it alone."""
    ctx.clear_buttons()
    sub = await _fix_target(ctx)
    if ctx.callback_data != "priv:fc:yes" or sub is None:
        ctx.end()
        ctx.say(ctx.t(MSG_NOTHING_CHANGED), ctx.menu())
        return
    if not await ctx.repo.privacy.reopen_for_correction(sub, now=ctx.now()):
        # The regency decided it meanwhile.
        await ctx.repo.session.refresh(sub)
        ctx.end()
        ctx.say(_cannot_change(ctx, sub), ctx.menu())
        return
    resume_draft(ctx, sub.id, mode=Mode.SELF, ask=False)
    ctx.goto(Reg.EDIT)


# --- /hapusdata -------------------------------------------------------------------------------------


@router.command("hapusdata", description=N_("Delete your data"), order=86)
async def hapusdata(ctx: Ctx) -> None:
    """Explain what will be deleted and what is kept, then ask once."""
    ctx.data = {}
    ctx.goto(Privacy.ERASE)


@router.callback("priv:erase")
async def erase_button(ctx: Ctx) -> None:
    """ "Hapus data saya" under the /datasaya message."""
    ctx.clear_buttons()
    ctx.data = {}
    ctx.goto(Privacy.ERASE)


def _category_line(t: Translator, item: Category, references: Sequence[str] = ()) -> str:
    label = t(item.label)
    if item.code is CategoryCode.REGISTRATION and references:
        label += f" ({', '.join(references)})"
    return f"• {label}: {t(item.reason_text)}"


@router.prompt(Privacy.ERASE)
async def ask_erase(ctx: Ctx) -> None:
    """What goes, what stays and why, for this user; "Ya, hapus" / "Tidak"."""
    t = ctx.t
    records = await ctx.repo.privacy.gather(user_id=ctx.user_id)
    preview = erasure_preview(records, keep_account=_keeps_account(ctx))
    rules = erasure_rules()
    gone = [c for c in preview.categories if c.on_erasure is Disposition.DELETE]
    changed = [
        c for c in preview.categories if c.on_erasure in (Disposition.UNLINK, Disposition.WITHDRAW)
    ]
    kept = [c for c in preview.categories if c.on_erasure is Disposition.KEEP]
    lines = [t("<b>Delete my data</b>")]
    if gone:
        lines.extend(["", t("If you go on, this is <b>deleted</b> at once:")])
        lines.extend(_category_line(t, c, preview.deleted) for c in gone)
    if changed:
        lines.append("")
        lines.append(t("This is <b>changed</b>:"))
        lines.extend(_category_line(t, c) for c in changed)
    if preview.kept or kept:
        lines.append("")
        lines.append(t("This is <b>kept</b>, and why:"))
    for reference, status in preview.kept:
        lines.append(
            "• "
            + t(
                "Registration {reference} ({status}): the regency keeps only {kept}. {why} "
                "Kept {until}. Your phone number, your answers and the link to your Telegram "
                "account are deleted.",
                reference=reference,
                status=t(STATUS_LABELS[status]),
                kept=t(rules.kept_label),
                why=t(rules.kept_reason_text),
                until=t(rules.kept_until_text),
            )
        )
    lines.extend(_category_line(t, c) for c in kept)
    lines.append("")
    if preview.kept:
        lines.append(
            t(
                "Deleting your data does not end your BPJS Ketenagakerjaan membership. To end "
                "it, ask the regency office or call {phone}.",
                phone=rules.bpjs_phone,
            )
        )
    lines.append(
        t(
            "Deleted data cannot be brought back, not even by a facilitator or the regency. "
            "Delete now?"
        )
    )
    ctx.say(
        "\n".join(lines),
        keyboards.column(
            [
                keyboards.button("🗑 " + t("Yes, delete my data"), "priv:ec:yes"),
                keyboards.button(t("No, keep my data"), "priv:ec:no"),
            ]
        ),
    )


@router.callback("priv:ec", states=[Privacy.ERASE])
async def erase_choice(ctx: Ctx) -> None:
    """Erase everything (one transaction) or leave it all as it is."""
    ctx.clear_buttons()
    if ctx.callback_data != "priv:ec:yes":
        ctx.end()
        ctx.say(ctx.t("Nothing was deleted.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())
        return
    now = ctx.now()
    result = await ctx.repo.privacy.erase(
        user_id=ctx.user_id, now=now, plan=erasure_plan(keep_account=_keeps_account(ctx))
    )
    ctx.end()
    t = ctx.t
    lines = [t("✅ <b>Your data has been deleted.</b>")]
    deleted = [s.reference for s in result.submissions if s.outcome is ErasureOutcome.DELETED]
    kept = [s.reference for s in result.submissions if s.outcome is ErasureOutcome.ANONYMISED]
    if deleted:
        lines.append(t("Registrations deleted: {references}", references=", ".join(deleted)))
    if kept:
        lines.append(
            t(
                "Kept by the regency, without your phone number and answers: {references}",
                references=", ".join(kept),
            )
        )
    lines.append(
        t(
            "Your consent is recorded as withdrawn ({time}).",
            time=t.datetime(now.astimezone(regency_zone())),
        )
    )
    if _keeps_account(ctx):
        lines.append(
            t(
                "Your account and your role as facilitator or admin stay; "
                "ask the regency admin to end the role."
            )
        )
    else:
        lines.append(t("No more reminders or announcements will be sent to you."))
    lines.append(t("If you want to register again later, type /daftar."))
    ctx.say("\n".join(lines), ctx.menu())
    await _tell_facilitators(ctx, result.submissions)


async def _tell_facilitators(ctx: Ctx, erased: tuple[ErasedSubmission, ...]) -> None:
    """Tell the facilitator who typed in an erased registration, in their language."""
    for item in erased:
        if item.entered_by_role != EntryRole.FACILITATOR.value:
            continue
        if item.entered_by_user_id == ctx.user_id:
            continue
        facilitator = await ctx.repo.users.get(item.entered_by_user_id)
        if facilitator is None or facilitator.unreachable:
            continue
        t = ctx.services.catalogs.get(facilitator.language)
        ctx.send_to(facilitator.id, erased_notice(t, item.reference, item.outcome))


# --- any message in a confirmation, and /batal ---------------------------------------------------------


@router.step(Privacy.ERASE, Privacy.FIX)
async def buttons_only(ctx: Ctx) -> None:
    """A message where a button was expected: point at the buttons and ask again."""
    ctx.say(ctx.t(MSG_USE_BUTTONS))
    ctx.ask_next = True


@router.on_cancel(FLOW)
async def cancel(ctx: Ctx) -> None:
    """``/batal`` in a confirmation: nothing is changed."""
    ctx.end()
    ctx.say(ctx.t(MSG_NOTHING_CHANGED) + "\n" + ctx.t("Choose a menu below:"), ctx.menu())
