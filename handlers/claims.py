"""The JKM claim guide (``/klaim``, "Klaim JKM"): who can claim, what to bring, how much, where.

A bereaved family walks through short questions with buttons; each answer is stored in their
claim case (``ctx.repo.claims``) as it is given, so the guide survives restarts and ``/klaim``
days later reopens the same document checklist. Which step comes next is computed from the
answers (:mod:`handlers.claims_states`); the texts shared with the summary document come from
:mod:`bot.claim_summary`; every fact comes from ``bot/data/claims.toml`` through
:mod:`bot.domain.claims`.

Admins list the families' requests for a facilitator's help with ``/bantuanklaim`` until the
facilitator feature shows them to the facilitators of each desa.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import keyboards
from bot.claim_summary import (
    CLAIMANT_LABELS,
    CaseView,
    benefit_lines,
    build_summary,
    case_view,
    claimant_label,
    closer_list,
    document_detail,
    document_line,
    heir_order_lines,
    lapak_asik_lines,
    level_label,
    level_table_lines,
    office_lines,
    process_lines,
    render_html,
    render_pdf,
    scholarship_lines,
    verdict_line,
)
from bot.context import Ctx
from bot.coverage_lookup import LookupLimited, LookupNoMatch, checked_lookup
from bot.domain import wilayah
from bot.domain.claims import (
    ClaimantType,
    DeathCause,
    HeirStatus,
    SchoolLevel,
    claim_process,
    jkk_base_income,
    jkk_death_benefit,
    jkm_benefit,
    offices,
    scholarship_levels,
    scholarship_terms,
)
from bot.domain.coverage import lapse_rule
from bot.domain.dates import DateInvalid, parse_birth_date, regency_date, regency_time
from bot.domain.nik import Nik, NikError, mask_nik, parse_nik
from bot.domain.phones import Phone, mask_phone, parse_phone
from bot.i18n import N_, Html, escape
from bot.router import Router
from handlers.claims_states import (
    ALL_STATES,
    FLOW_NAME,
    Claim,
    children_to_ask,
    next_step,
    previous_step,
    resume_step,
)
from storage.models import Role
from storage.models.claims import (
    ClaimCase,
    ClaimCaseStatus,
    CloserHeirs,
    Membership,
    YearsPaid,
)

router = Router("claims")
router.menu_entry(N_("JKM claim"), "klaim:open", order=30)

#: Desa buttons per page (two per row).
DESA_PER_PAGE = 12
#: Help requests per page of ``/bantuanklaim``.
HELP_PER_PAGE = 5
#: The deceased may have been any age; the NIK lookup only needs a real past date.
_DECEASED_MAX_AGE = 130

_BUTTON_STATES = (
    Claim.RESUME,
    Claim.COVERED,
    Claim.CAUSE,
    Claim.CLAIMANT,
    Claim.PROXY_FOR,
    Claim.CLOSER,
    Claim.BENEFIT,
    Claim.CHILDREN,
    Claim.YEARS,
    Claim.LEVEL,
    Claim.CHECKLIST,
    Claim.OFFICES,
    Claim.SUMMARY,
)


# --- small helpers -------------------------------------------------------------------------------


def _arg(ctx: Ctx) -> str:
    """The last part of the pressed button's data (``klaim:cause:jkk`` → ``jkk``)."""
    return (ctx.callback_data or "").rsplit(":", 1)[-1]


def _today(ctx: Ctx) -> date:
    return regency_date(ctx.now())


def _back(ctx: Ctx) -> InlineKeyboardButton:
    return keyboards.button(ctx.t("Back"), "klaim:back")


def _markup(ctx: Ctx, *rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """Rows of buttons with "Kembali" at the bottom."""
    return keyboards.inline([*rows, [_back(ctx)]])


def _lines(lines: list[str]) -> str:
    """Plain lines as escaped HTML, one per line."""
    return "\n".join(escape(line) for line in lines)


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"• {escape(line)}" for line in lines)


async def _case(ctx: Ctx) -> ClaimCase:
    """The family's open case; a new one when there is none (e.g. it was closed elsewhere)."""
    case_id = ctx.data.get("case")
    case = None
    if isinstance(case_id, int):
        case = await ctx.repo.claims.get_case(case_id=case_id, user_id=ctx.user_id)
        if case is not None and case.status != ClaimCaseStatus.OPEN:
            case = None
    if case is None:
        case = await ctx.repo.claims.open_case(user_id=ctx.user_id)
    if case is None:
        case = await ctx.repo.claims.start_case(user_id=ctx.user_id, now=ctx.now())
    ctx.data["case"] = case.id
    return case


async def _save(ctx: Ctx, case: ClaimCase, **answers: object) -> None:
    await ctx.repo.claims.update_case(case, now=ctx.now(), **answers)


def _advance(ctx: Ctx, case: ClaimCase, current: Claim) -> None:
    """Go to the step after ``current``; entering the summary sends the PDF along."""
    step = next_step(current, case)
    if step is Claim.SUMMARY:
        ctx.data["send_pdf"] = True
    ctx.goto(step)


def _membership_note(ctx: Ctx, membership: Membership | None) -> str:
    if membership is Membership.NONAKTIF:
        return ctx.t("This is paid only if the membership was active on the day of death.")
    if membership is Membership.UNKNOWN or membership is None:
        return ctx.t(
            "This is paid if the office finds that the membership was active on the day of death."
        )
    return ctx.t("It is paid at once, to the heir's bank account.")


# --- entry, resume, back, cancel -----------------------------------------------------------------


@router.command("klaim", "claim", description=N_("JKM claim guide for a family"), order=30)
async def klaim_command(ctx: Ctx) -> None:
    """Open the claim guide (or offer to continue the family's open case)."""
    await _open(ctx)


@router.callback("klaim:open")
async def klaim_button(ctx: Ctx) -> None:
    """Open the claim guide from the main menu."""
    await _open(ctx)


async def _open(ctx: Ctx) -> None:
    case = await ctx.repo.claims.open_case(user_id=ctx.user_id)
    ctx.data = {}
    if case is not None and case.membership is not None:
        ctx.data["case"] = case.id
        ctx.goto(Claim.RESUME)
        return
    await _start(ctx)


async def _start(ctx: Ctx) -> None:
    case = await ctx.repo.claims.start_case(user_id=ctx.user_id, now=ctx.now())
    ctx.data = {"case": case.id}
    ctx.say(
        ctx.t(
            "We are deeply sorry for your loss. 🙏\n\n"
            "This guide helps your family claim <b>JKM</b> (Jaminan Kematian), the death "
            "benefit of BPJS Ketenagakerjaan. If the deceased was an active member, the heirs "
            "receive {total} in cash, and possibly a scholarship for the children.\n\n"
            "We go step by step. You can stop at any time with /batal and continue later "
            "with /klaim.",
            total=ctx.t.money(jkm_benefit().total),
        )
    )
    ctx.goto(Claim.COVERED)


@router.prompt(Claim.RESUME)
async def ask_resume(ctx: Ctx) -> None:
    """Offer to continue the open case or start again."""
    case = await _case(ctx)
    view = case_view(case)
    ctx.say(
        ctx.t(
            "You started the claim guide on {date}. {done} of {total} documents are ticked "
            "as ready.\nDo you want to continue where you stopped?",
            date=ctx.t.date(regency_date(case.created_at)),
            done=view.ticked_count,
            total=len(view.documents),
        ),
        _markup(
            ctx,
            [keyboards.button(ctx.t("Continue"), "klaim:resume:go")],
            [keyboards.button(ctx.t("Start again"), "klaim:resume:new")],
        ),
    )


@router.callback("klaim:resume", states=[Claim.RESUME])
async def resume_answer(ctx: Ctx) -> None:
    """Continue at the first unanswered question (else the checklist), or start a new case."""
    ctx.clear_buttons()
    if _arg(ctx) == "new":
        await _start(ctx)
        return
    case = await _case(ctx)
    ctx.goto(resume_step(case))


@router.callback("klaim:back", states=ALL_STATES)
async def back(ctx: Ctx) -> None:
    """Go one step back; before the first question, leave the guide (the case is kept)."""
    ctx.clear_buttons()
    await _go_back(ctx)


async def _go_back(ctx: Ctx) -> None:
    case = await _case(ctx)
    current = Claim(ctx.state or Claim.COVERED)
    if current is Claim.LEVEL and case.child_levels:
        # Ask the previous child's level again.
        await _save(ctx, case, child_levels=case.child_levels[:-1])
        ctx.goto(Claim.LEVEL)
        return
    target = previous_step(current, case)
    if target is None:
        _leave(ctx)
        return
    if target is Claim.LEVEL and case.child_levels:
        await _save(ctx, case, child_levels=case.child_levels[:-1])
    ctx.goto(target)


def _leave(ctx: Ctx) -> None:
    ctx.end()
    ctx.say(
        ctx.t(
            "The guide is paused. Your answers and your document list are kept: "
            "type /klaim to continue."
        ),
        ctx.menu(),
    )


@router.on_cancel(FLOW_NAME)
async def cancel(ctx: Ctx) -> None:
    """/batal inside the guide: stop, keeping the case for later."""
    if ctx.state == Claim.HELP_PHONE:
        ctx.say(ctx.t("Stopped."), keyboards.remove())  # hide the share-number keyboard
    _leave(ctx)


@router.step(*_BUTTON_STATES)
async def use_the_buttons(ctx: Ctx) -> None:
    """Any message where a button is expected: "Kembali" typed works, else ask again."""
    if _typed_back(ctx):
        await _go_back(ctx)
        return
    ctx.say(ctx.t("Please answer with one of the buttons below."))
    ctx.goto(ctx.state or Claim.COVERED)


# --- step 2: was the deceased covered? -----------------------------------------------------------


@router.prompt(Claim.COVERED)
async def ask_covered(ctx: Ctx) -> None:
    """Registered and active? (Ya / Tidak / Tidak tahu, or check with NIK and birth date)."""
    rows = [
        [keyboards.button(ctx.t("Yes"), f"klaim:cov:{Membership.ACTIVE}")],
        [keyboards.button(ctx.t("No"), f"klaim:cov:{Membership.NONAKTIF}")],
        [keyboards.button(ctx.t("Not sure"), f"klaim:cov:{Membership.UNKNOWN}")],
        [keyboards.button(ctx.t("Check with NIK and birth date"), "klaim:cov:lookup")],
    ]
    ctx.say(
        ctx.t(
            "<b>Was the deceased registered and active?</b>\n\n"
            "JKM is paid only if the membership was active on the day of death: no more than "
            "{months} months of contributions unpaid.\n\n"
            'Not sure? Choose "Not sure": the guide goes on, and the office checks it when '
            "you file. You can also check it here with the deceased's NIK and birth date.",
            months=lapse_rule().grace_months,
        ),
        _markup(ctx, *rows),
    )


@router.callback("klaim:cov", states=[Claim.COVERED])
async def covered_answer(ctx: Ctx) -> None:
    """Store the membership answer (or start the NIK lookup)."""
    ctx.clear_buttons()
    code = _arg(ctx)
    if code == "lookup":
        ctx.goto(Claim.LOOKUP_NIK)
        return
    membership = Membership(code) if code in set(Membership) else Membership.UNKNOWN
    case = await _case(ctx)
    await _save(ctx, case, membership=membership.value, membership_checked=False)
    phone = claim_process().contact_centre.value
    if membership is Membership.NONAKTIF:
        ctx.say(
            ctx.t(
                "If the deceased was not registered, or was nonaktif on the day of death, "
                "BPJS Ketenagakerjaan does not pay JKM.\n\nIf the regency paid the "
                "contributions, or you are not sure, ask anyway: call {phone} or visit the "
                "office. We continue, so that you know what would be needed.",
                phone=phone,
            )
        )
    elif membership is Membership.UNKNOWN:
        ctx.say(
            ctx.t(
                "That is all right. The claim is paid if the office finds that the "
                "membership was active on the day of death. You can ask the BPJS "
                "Ketenagakerjaan contact centre ({phone}) or look in the JMO app. Prepare "
                "the documents anyway.",
                phone=phone,
            )
        )
    _advance(ctx, case, Claim.COVERED)


# --- optional coverage lookup --------------------------------------------------------------------


class LookupKind(StrEnum):
    """What the coverage lookup found."""

    PROTECTED = "protected"  # protected today, so also on the (earlier) day of death
    LAPSED = "lapsed"  # protected until a date: it depends on the date of death
    NO_PAID_PERIOD = "no_paid_period"  # registered, but no paid period in the data
    NOT_REGISTERED = "not_registered"  # known to the bot, but not (yet) a member
    NO_MATCH = "no_match"  # nothing for this NIK and birth date
    LIMITED = "limited"  # too many failed lookups: wait


@dataclass(frozen=True, slots=True)
class PersonLookup:
    """The outcome of :func:`lookup_person`, reduced to what the claim guide needs."""

    kind: LookupKind
    protected_until: date | None = None
    data_as_of: date | None = None
    retry_at: datetime | None = None


async def lookup_person(ctx: Ctx, nik: str, birth_date: date) -> PersonLookup:
    """Look the deceased up by NIK and birth date, with the same rules and limit as ``/cek``.

    Args:
        ctx: The update's context (its transaction records a failed lookup).
        nik: 16 validated digits.
        birth_date: The birth date the family typed.

    Returns:
        What the coverage data says; a failed match counts against the user's hourly limit.
    """
    outcome = await checked_lookup(
        ctx.repo,
        user_id=ctx.user_id,
        nik=nik,
        birth_date=birth_date,
        now=ctx.now(),
        limit=ctx.settings.lookup_failures_per_hour,
    )
    if isinstance(outcome, LookupLimited):
        return PersonLookup(LookupKind.LIMITED, retry_at=outcome.until)
    if isinstance(outcome, LookupNoMatch):
        if outcome.blocked_until is not None:
            return PersonLookup(LookupKind.LIMITED, retry_at=outcome.blocked_until)
        return PersonLookup(LookupKind.NO_MATCH)
    if not outcome.registered:
        return PersonLookup(LookupKind.NOT_REGISTERED)
    coverage = outcome.coverage
    if coverage is None or coverage.protected_until is None:
        return PersonLookup(LookupKind.NO_PAID_PERIOD, data_as_of=outcome.data_as_of)
    kind = LookupKind.PROTECTED if coverage.is_protected else LookupKind.LAPSED
    return PersonLookup(
        kind, protected_until=coverage.protected_until, data_as_of=outcome.data_as_of
    )


@router.prompt(Claim.LOOKUP_NIK)
async def ask_lookup_nik(ctx: Ctx) -> None:
    """Ask the deceased's NIK for the coverage lookup."""
    ctx.say(
        ctx.t(
            "Type the deceased's NIK (16 digits, on the KTP or the Kartu Keluarga).\n"
            "It is used only for this check; we keep only its last 4 digits."
        ),
        _markup(ctx),
    )


@router.step(Claim.LOOKUP_NIK)
async def lookup_nik_answer(ctx: Ctx) -> None:
    """Validate the NIK, then ask the birth date."""
    if _typed_back(ctx):
        await _go_back(ctx)
        return
    nik = _parse_nik(ctx)
    if nik is None:
        ctx.goto(Claim.LOOKUP_NIK)
        return
    ctx.data["lookup_nik"] = nik.digits
    ctx.goto(Claim.LOOKUP_BIRTH)


@router.prompt(Claim.LOOKUP_BIRTH)
async def ask_lookup_birth(ctx: Ctx) -> None:
    """Ask the deceased's birth date (the NIK alone never reveals anything)."""
    ctx.say(ctx.t("Now the deceased's birth date, for example 17-08-1965."), _markup(ctx))


@router.step(Claim.LOOKUP_BIRTH)
async def lookup_birth_answer(ctx: Ctx) -> None:
    """Look the deceased up and use what the data says."""
    digits = ctx.data.get("lookup_nik")
    if _typed_back(ctx) or not isinstance(digits, str):
        await _go_back(ctx)
        return
    parsed = (
        parse_birth_date(ctx.text, today=_today(ctx), min_age=0, max_age=_DECEASED_MAX_AGE)
        if ctx.text
        else None
    )
    if parsed is None or isinstance(parsed, DateInvalid):
        ctx.say(ctx.t("I could not read that date. Please type it like 17-08-1965."))
        ctx.goto(Claim.LOOKUP_BIRTH)
        return
    found = await lookup_person(ctx, digits, parsed)
    ctx.data.pop("lookup_nik", None)  # the full NIK is not kept once used
    case = await _case(ctx)
    masked = mask_nik(digits)
    if found.kind not in (LookupKind.NO_MATCH, LookupKind.LIMITED):
        await _save(ctx, case, deceased_nik_masked=masked)
    text = _lookup_text(ctx, found, masked)
    if found.data_as_of is not None:
        text += " " + ctx.t("(Data as of {date}.)", date=ctx.t.date(found.data_as_of))
    ctx.say(text)
    if found.kind is LookupKind.PROTECTED:
        await _save(ctx, case, membership=Membership.ACTIVE.value, membership_checked=True)
        _advance(ctx, case, Claim.COVERED)
        return
    ctx.goto(Claim.COVERED)  # the family answers, knowing what the data says


def _lookup_text(ctx: Ctx, found: PersonLookup, masked: str) -> str:
    until = ctx.t.date(found.protected_until) if found.protected_until else ""
    if found.kind is LookupKind.PROTECTED:
        return ctx.t(
            "✅ According to our data, {nik} is a member, protected until {until}: JKM can "
            "be claimed.",
            nik=masked,
            until=until,
        )
    if found.kind is LookupKind.LAPSED:
        return ctx.t(
            "According to our data, {nik} was protected until {until}. If the death was on or "
            'before that date, choose "Yes"; if it was later, choose "No".',
            nik=masked,
            until=until,
        )
    if found.kind is LookupKind.NO_PAID_PERIOD:
        return ctx.t(
            "According to our data, {nik} is registered, but no paid period is recorded. "
            "Please answer the question yourself.",
            nik=masked,
        )
    if found.kind is LookupKind.NOT_REGISTERED:
        return ctx.t(
            "According to our data, {nik} is not a BPJS Ketenagakerjaan member yet (a "
            "registration may still be in process).",
            nik=masked,
        )
    if found.kind is LookupKind.LIMITED:
        return ctx.t(
            "Too many checks without a match. You can check again after {time}. "
            "Meanwhile, please answer the question yourself.",
            time=ctx.t.time(regency_time(found.retry_at or ctx.now())),
        )
    return ctx.t(
        "Nothing found for that NIK and birth date. Our data may be incomplete. "
        "Please answer the question yourself."
    )


def _typed_back(ctx: Ctx) -> bool:
    """True when the user typed "Kembali" instead of pressing the button."""
    return bool(ctx.text) and (ctx.text or "").strip().casefold() == ctx.t("Back").casefold()


def _parse_nik(ctx: Ctx) -> Nik | None:
    """The typed NIK, or None after telling the user what is wrong."""
    result = parse_nik(ctx.text, today=_today(ctx)) if ctx.text else None
    if isinstance(result, Nik):
        return result
    if result is not None and result.error is NikError.WRONG_LENGTH:
        ctx.say(ctx.t("A NIK has 16 digits; you typed {got}.", got=result.got or 0))
    else:
        ctx.say(ctx.t("That is not a valid NIK. Please check the 16 digits on the KTP."))
    return None


# --- step 3: cause of death ----------------------------------------------------------------------


@router.prompt(Claim.CAUSE)
async def ask_cause(ctx: Ctx) -> None:
    """Work accident (JKK) or another cause (JKM)?"""
    ctx.say(
        ctx.t(
            "<b>How did the deceased die?</b>\n\n"
            "A death from a work accident is paid by JKK (work accident insurance), with a "
            "larger benefit. Any other death (illness, old age, an accident not at work) is "
            "paid by JKM."
        ),
        _markup(
            ctx,
            [keyboards.button(ctx.t("Illness or another cause"), f"klaim:cause:{DeathCause.JKM}")],
            [keyboards.button(ctx.t("Work accident"), f"klaim:cause:{DeathCause.JKK}")],
        ),
    )


@router.callback("klaim:cause", states=[Claim.CAUSE])
async def cause_answer(ctx: Ctx) -> None:
    """Store the cause; for a work accident explain the JKK route and the report deadline."""
    ctx.clear_buttons()
    code = _arg(ctx)
    cause = DeathCause(code) if code in set(DeathCause) else DeathCause.JKM
    case = await _case(ctx)
    await _save(ctx, case, cause=cause.value)
    if cause is DeathCause.JKK:
        process = claim_process()
        hours = process.jkk_report_within_hours
        limit = f"{hours.value // 24}×24" if hours.value % 24 == 0 else str(hours.value)
        text = ctx.t(
            "<b>A work accident: the claim goes through JKK</b>, not JKM. The benefit is "
            "larger: {total} at the base income of {income} a month.\n\n"
            "⚠️ A work accident must be reported to BPJS Ketenagakerjaan within {limit} hours. "
            "If that has not been done yet, call {phone} as soon as possible.",
            total=ctx.t.money(jkk_death_benefit(jkk_base_income()).total),
            income=ctx.t.money(jkk_base_income()),
            limit=limit,
            phone=process.contact_centre.value,
        )
        if hours.mark.needs_confirmation:
            text += "\n" + ctx.t("(Please confirm this time limit with the office.)")
        ctx.say(text)
    _advance(ctx, case, Claim.CAUSE)


# --- step 4: who is claiming ---------------------------------------------------------------------


@router.prompt(Claim.CLAIMANT)
async def ask_claimant(ctx: Ctx) -> None:
    """Who is claiming? With the heir order."""
    ctx.say(
        ctx.t(
            "<b>Who is claiming?</b> Choose your relationship to the deceased.\n\n"
            "The heirs, in order:\n{order}\n\n"
            "A group can claim only when nobody of an earlier group is alive.",
            order=Html(_lines(heir_order_lines(ctx.t))),
        ),
        _markup(
            ctx,
            *(
                [keyboards.button(ctx.t(CLAIMANT_LABELS[c]), f"klaim:who:{c}")]
                for c in ClaimantType
            ),
        ),
    )


@router.callback("klaim:who", states=[Claim.CLAIMANT])
async def claimant_answer(ctx: Ctx) -> None:
    """Store who is claiming; a proxy is asked for whom, a distant heir about closer heirs."""
    ctx.clear_buttons()
    code = _arg(ctx)
    if code not in set(ClaimantType):
        ctx.goto(Claim.CLAIMANT)
        return
    claimant = ClaimantType(code)
    case = await _case(ctx)
    heir = None if claimant is ClaimantType.PROXY else claimant.value
    await _save(ctx, case, claimant=claimant.value, heir=heir, closer_heirs=None)
    _after_heir_answer(ctx, case, Claim.CLAIMANT)


@router.prompt(Claim.PROXY_FOR)
async def ask_proxy_for(ctx: Ctx) -> None:
    """A proxy: for which heir?"""
    ctx.say(
        ctx.t(
            "<b>For which heir do you file?</b>\n"
            "You will need a power of attorney (surat kuasa) signed by that heir."
        ),
        _markup(
            ctx,
            *(
                [keyboards.button(ctx.t(CLAIMANT_LABELS[c]), f"klaim:for:{c}")]
                for c in ClaimantType
                if c is not ClaimantType.PROXY
            ),
        ),
    )


@router.callback("klaim:for", states=[Claim.PROXY_FOR])
async def proxy_for_answer(ctx: Ctx) -> None:
    """Store the heir a proxy files for."""
    ctx.clear_buttons()
    code = _arg(ctx)
    if code not in set(ClaimantType) or code == ClaimantType.PROXY:
        ctx.goto(Claim.PROXY_FOR)
        return
    case = await _case(ctx)
    await _save(ctx, case, heir=code, closer_heirs=None)
    _after_heir_answer(ctx, case, Claim.PROXY_FOR)


@router.prompt(Claim.CLOSER)
async def ask_closer(ctx: Ctx) -> None:
    """Is anyone of a closer heir group alive?"""
    view = case_view(await _case(ctx))
    ctx.say(
        ctx.t(
            "<b>Is any of these still alive: {closer}?</b>\n"
            "The claim goes to the closest heirs first.",
            closer=closer_list(ctx.t, view.verdict),
        ),
        _markup(
            ctx,
            [keyboards.button(ctx.t("Yes, someone is"), f"klaim:closer:{CloserHeirs.YES}")],
            [keyboards.button(ctx.t("No, nobody"), f"klaim:closer:{CloserHeirs.NO}")],
            [keyboards.button(ctx.t("Not sure"), f"klaim:closer:{CloserHeirs.UNKNOWN}")],
        ),
    )


@router.callback("klaim:closer", states=[Claim.CLOSER])
async def closer_answer(ctx: Ctx) -> None:
    """Store whether closer heirs live."""
    ctx.clear_buttons()
    code = _arg(ctx)
    closer = CloserHeirs(code) if code in set(CloserHeirs) else CloserHeirs.UNKNOWN
    case = await _case(ctx)
    await _save(ctx, case, closer_heirs=closer.value)
    _after_heir_answer(ctx, case, Claim.CLOSER)


def _after_heir_answer(ctx: Ctx, case: ClaimCase, current: Claim) -> None:
    """Once the heir questions are done, say whether this person can claim now."""
    if next_step(current, case) is Claim.BENEFIT:
        view = case_view(case)
        status = view.verdict.status
        icon = "✅" if status is HeirStatus.CAN_CLAIM else "ℹ️"
        text = f"{icon} {escape(verdict_line(ctx.t, view))}"
        if status is HeirStatus.CLOSER_HEIR_EXISTS:
            text += "\n" + ctx.t("The document list includes the power of attorney.")
        ctx.say(text)
    _advance(ctx, case, current)


# --- step 5: the benefit and the scholarship -----------------------------------------------------


@router.prompt(Claim.BENEFIT)
async def show_benefit(ctx: Ctx) -> None:
    """The cash breakdown, honest about the membership condition."""
    view = case_view(await _case(ctx))
    title = (
        ctx.t("<b>What the heirs receive (JKK, work accident)</b>")
        if view.cause is DeathCause.JKK
        else ctx.t("<b>What the heirs receive (JKM)</b>")
    )
    ctx.say(
        f"{title}\n{_bullets(benefit_lines(ctx.t, view))}\n\n"
        f"{_membership_note(ctx, view.membership)}",
        _markup(ctx, [keyboards.button(ctx.t("Next"), "klaim:benefit")]),
    )


@router.callback("klaim:benefit", states=[Claim.BENEFIT])
async def benefit_next(ctx: Ctx) -> None:
    """On to the scholarship question."""
    ctx.clear_buttons()
    _advance(ctx, await _case(ctx), Claim.BENEFIT)


@router.prompt(Claim.CHILDREN)
async def ask_children(ctx: Ctx) -> None:
    """How many children of the deceased are in school?"""
    case = await _case(ctx)
    terms = scholarship_terms()
    cause = DeathCause(case.cause) if case.cause else DeathCause.JKM
    years = terms.min_years[cause]
    condition = (
        ctx.t("Only if contributions were paid for at least {years} years.", years=years)
        if years
        else ctx.t("For a work accident there is no minimum contribution period.")
    )
    buttons = [keyboards.button(ctx.t("None"), "klaim:kids:0")]
    for count in range(1, terms.max_children + 1):
        label = (
            ctx.t("{count} or more", count=count) if count == terms.max_children else str(count)
        )
        buttons.append(keyboards.button(label, f"klaim:kids:{count}"))
    ctx.say(
        ctx.t(
            "<b>Scholarship for children</b>\n"
            "BPJS Ketenagakerjaan also pays school costs for at most {max} children of the "
            "deceased who are still in school (not working, not married, under {age}). "
            "{condition}\n\nHow many children are still in school?",
            max=terms.max_children,
            age=terms.child_max_age_exclusive,
            condition=condition,
        ),
        _markup(ctx, buttons),
    )


@router.callback("klaim:kids", states=[Claim.CHILDREN])
async def children_answer(ctx: Ctx) -> None:
    """Store the number of children in school (school levels are asked again)."""
    ctx.clear_buttons()
    raw = _arg(ctx)
    count = int(raw) if raw.isdigit() else 0
    count = min(count, scholarship_terms().max_children)
    case = await _case(ctx)
    await _save(ctx, case, school_children=count, child_levels=[])
    _advance(ctx, case, Claim.CHILDREN)


@router.prompt(Claim.YEARS)
async def ask_years(ctx: Ctx) -> None:
    """How long were contributions paid (the JKM scholarship condition)?"""
    case = await _case(ctx)
    cause = DeathCause(case.cause) if case.cause else DeathCause.JKM
    years = scholarship_terms().min_years[cause]
    ctx.say(
        ctx.t(
            "<b>How long did the deceased pay contributions?</b>\n"
            "The scholarship needs at least {years} years.",
            years=years,
        ),
        _markup(
            ctx,
            [
                keyboards.button(
                    ctx.t("Less than {years} years", years=years), f"klaim:years:{YearsPaid.UNDER}"
                )
            ],
            [
                keyboards.button(
                    ctx.t("{years} years or more", years=years), f"klaim:years:{YearsPaid.ENOUGH}"
                )
            ],
            [keyboards.button(ctx.t("Not sure"), f"klaim:years:{YearsPaid.UNKNOWN}")],
        ),
    )


@router.callback("klaim:years", states=[Claim.YEARS])
async def years_answer(ctx: Ctx) -> None:
    """Store the years of contributions; too few rules the scholarship out."""
    ctx.clear_buttons()
    code = _arg(ctx)
    years = YearsPaid(code) if code in set(YearsPaid) else YearsPaid.UNKNOWN
    case = await _case(ctx)
    await _save(ctx, case, years_paid=years.value, child_levels=[])
    if years is YearsPaid.UNDER:
        ctx.say(_lines(scholarship_lines(ctx.t, case_view(case))))
    _advance(ctx, case, Claim.YEARS)


@router.prompt(Claim.LEVEL)
async def ask_level(ctx: Ctx) -> None:
    """The school level of the next child, with the amounts per level."""
    case = await _case(ctx)
    index = len(case.child_levels)
    ctx.say(
        ctx.t(
            "<b>Child {number}: which school level now?</b>\nScholarship per child:\n{table}",
            number=index + 1,
            table=Html(_bullets(level_table_lines(ctx.t))),
        ),
        _markup(
            ctx,
            *(
                [keyboards.button(level_label(ctx.t, r.level), f"klaim:level:{index}:{r.level}")]
                for r in scholarship_levels()
            ),
        ),
    )


@router.callback("klaim:level", states=[Claim.LEVEL])
async def level_answer(ctx: Ctx) -> None:
    """Store one child's level; after the last child show the scholarship."""
    parts = (ctx.callback_data or "").split(":")
    case = await _case(ctx)
    if (
        len(parts) != 4
        or parts[3] not in set(SchoolLevel)
        or parts[2] != str(len(case.child_levels))
    ):
        ctx.toast(ctx.t("This button is no longer active."))
        ctx.goto(Claim.LEVEL)  # an older child's buttons: ask the current child again
        return
    ctx.clear_buttons()
    levels = [*case.child_levels, parts[3]]
    await _save(ctx, case, child_levels=levels)
    if len(levels) < children_to_ask(case):
        ctx.goto(Claim.LEVEL)
        return
    view = case_view(case)
    heading = ctx.t("<b>Scholarship</b>")
    ctx.say(f"{heading}\n{_bullets(scholarship_lines(ctx.t, view))}")
    _advance(ctx, case, Claim.LEVEL)


# --- step 6: the documents -----------------------------------------------------------------------


def _checklist(ctx: Ctx, view: CaseView) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        ctx.t(
            "<b>Documents to bring</b> ({done} of {total} ready)\n"
            "Tap a number when you have that document. Your list is saved.",
            done=view.ticked_count,
            total=len(view.documents),
        )
    ]
    for number, document in enumerate(view.documents, start=1):
        line = escape(document_line(ctx.t, number, document, document.code in view.ticked))
        lines.append(f"\n{line}\n<i>{escape(document_detail(ctx.t, document))}</i>")
    ticks = [
        keyboards.button(f"{'✅' if d.code in view.ticked else '⬜'} {n}", f"klaim:doc:{d.code}")
        for n, d in enumerate(view.documents, start=1)
    ]
    markup = keyboards.inline(
        [
            *keyboards.grid(ticks, width=4),
            [_back(ctx), keyboards.button(ctx.t("Next"), "klaim:docs")],
        ]
    )
    return "\n".join(lines), markup


@router.prompt(Claim.CHECKLIST)
async def show_checklist(ctx: Ctx) -> None:
    """The tailored document checklist with tick buttons."""
    text, markup = _checklist(ctx, case_view(await _case(ctx)))
    ctx.say(text, markup)


@router.callback("klaim:doc", states=[Claim.CHECKLIST])
async def tick_document(ctx: Ctx) -> None:
    """Tick or untick one document; the checklist message is updated in place."""
    code = _arg(ctx)
    case = await _case(ctx)
    if code not in {d.code for d in case_view(case).documents}:
        ctx.toast(ctx.t("This button is no longer active."))
        ctx.goto(Claim.CHECKLIST)
        return
    ticked = await ctx.repo.claims.toggle_document(case, code=code, now=ctx.now())
    ctx.toast(ctx.t("Ticked: you have it.") if ticked else ctx.t("Tick removed."))
    text, markup = _checklist(ctx, case_view(case))
    ctx.edit(text, markup)


@router.callback("klaim:docs", states=[Claim.CHECKLIST])
async def checklist_next(ctx: Ctx) -> None:
    """On to where and how to file."""
    ctx.clear_buttons()
    _advance(ctx, await _case(ctx), Claim.CHECKLIST)


# --- step 7: where and how -----------------------------------------------------------------------


@router.prompt(Claim.OFFICES)
async def show_offices(ctx: Ctx) -> None:
    """Offices with days and hours, Lapak Asik, tracking and payment time."""
    places = [
        f"🏢 <b>{escape(lines[0])}</b>\n{_lines(lines[1:])}"
        for lines in (office_lines(ctx.t, office) for office in offices())
    ]
    text = "\n\n".join(
        [
            ctx.t("<b>Where to file</b>"),
            *places,
            ctx.t("<b>At the branch office: Lapak Asik</b>")
            + "\n"
            + _lines(lapak_asik_lines(ctx.t)),
            ctx.t("<b>After filing</b>") + "\n" + _bullets(process_lines(ctx.t)),
        ]
    )
    ctx.say(text, _markup(ctx, [keyboards.button(ctx.t("Next"), "klaim:offices")]))


@router.callback("klaim:offices", states=[Claim.OFFICES])
async def offices_next(ctx: Ctx) -> None:
    """On to the summary (via the optional NIK)."""
    ctx.clear_buttons()
    _advance(ctx, await _case(ctx), Claim.OFFICES)


@router.prompt(Claim.NIK)
async def ask_nik(ctx: Ctx) -> None:
    """The deceased's NIK for the summary (optional; only the last 4 digits are kept)."""
    ctx.say(
        ctx.t(
            "<b>Last question, for your summary:</b> the deceased's NIK (16 digits, on the "
            "KTP or the Kartu Keluarga). Only its last 4 digits are kept and printed.\n"
            "You can also skip this."
        ),
        _markup(ctx, [keyboards.button(ctx.t("Skip"), "klaim:nik:skip")]),
    )


@router.step(Claim.NIK)
async def nik_answer(ctx: Ctx) -> None:
    """Keep the masked NIK and show the summary."""
    if _typed_back(ctx):
        await _go_back(ctx)
        return
    nik = _parse_nik(ctx)
    if nik is None:
        ctx.goto(Claim.NIK)
        return
    case = await _case(ctx)
    await _save(ctx, case, deceased_nik_masked=nik.masked())
    _advance(ctx, case, Claim.NIK)


@router.callback("klaim:nik", states=[Claim.NIK])
async def nik_skip(ctx: Ctx) -> None:
    """Skip the NIK (a NIK given earlier is kept)."""
    ctx.clear_buttons()
    case = await _case(ctx)
    if case.deceased_nik_masked is None:
        await _save(ctx, case, deceased_nik_masked="")
    _advance(ctx, case, Claim.NIK)


# --- step 8: the summary -------------------------------------------------------------------------


def _pdf(ctx: Ctx, case: ClaimCase) -> tuple[bytes, str]:
    view = case_view(case)
    document = render_pdf(build_summary(ctx.t, view, today=_today(ctx)))
    return document, f"klaim-{view.cause}-{_today(ctx).isoformat()}.pdf"


@router.prompt(Claim.SUMMARY)
async def show_summary(ctx: Ctx) -> None:
    """The summary message (and, on first arrival, the PDF to show at the counter)."""
    case = await _case(ctx)
    summary = build_summary(ctx.t, case_view(case), today=_today(ctx))
    ctx.say(
        render_html(summary),
        _markup(
            ctx,
            [keyboards.button(ctx.t("Ask a village facilitator for help"), "klaim:help")],
            [keyboards.button(ctx.t("Send the PDF again"), "klaim:pdf")],
            [keyboards.button(ctx.t("Document list"), "klaim:list")],
            [keyboards.button(ctx.t("Done"), "klaim:done")],
        ),
    )
    if ctx.data.pop("send_pdf", False):
        data, name = _pdf(ctx, case)
        ctx.send_document(data, name, ctx.t("Your claim summary: show it at the office."))


@router.callback("klaim:pdf", states=[Claim.SUMMARY])
async def resend_pdf(ctx: Ctx) -> None:
    """Send the summary PDF again."""
    data, name = _pdf(ctx, await _case(ctx))
    ctx.send_document(data, name, ctx.t("Your claim summary: show it at the office."))


@router.callback("klaim:list", states=[Claim.SUMMARY])
async def back_to_checklist(ctx: Ctx) -> None:
    """Open the document checklist again."""
    ctx.clear_buttons()
    ctx.goto(Claim.CHECKLIST)


@router.callback("klaim:done", states=[Claim.SUMMARY])
async def finish(ctx: Ctx) -> None:
    """Leave the guide; the case stays open for ``/klaim``."""
    ctx.clear_buttons()
    ctx.end()
    ctx.say(
        ctx.t(
            "May everything go smoothly for your family. 🙏\n"
            "Your document list is saved: type /klaim at any time to open it again."
        ),
        ctx.menu(),
    )


# --- step 9: ask a village facilitator for help --------------------------------------------------


@router.callback("klaim:help", states=[Claim.SUMMARY])
async def ask_for_help(ctx: Ctx) -> None:
    """Start a help request, unless one is still waiting."""
    pending = await ctx.repo.claims.pending_help_request(user_id=ctx.user_id)
    if pending is not None:
        ctx.say(
            ctx.t(
                "You already asked for help on {date} (request #{id}). A facilitator will "
                "contact you.",
                date=ctx.t.date(regency_date(pending.created_at)),
                id=pending.id,
            )
        )
        return
    ctx.clear_buttons()
    ctx.goto(Claim.HELP_KEC)


@router.prompt(Claim.HELP_KEC)
async def ask_help_kecamatan(ctx: Ctx) -> None:
    """Kecamatan, as buttons (the desa is asked within it)."""
    buttons = [keyboards.button(k.name, f"klaim:hkec:{k.code}") for k in wilayah.kecamatan_list()]
    ctx.say(
        ctx.t(
            "<b>Help from a village facilitator</b>\n"
            "A facilitator (pendamping) of your village can help you prepare the documents "
            "and go to the office.\n\nIn which kecamatan do you live?"
        ),
        _markup(ctx, *keyboards.grid(buttons, width=2)),
    )


@router.step(Claim.HELP_KEC)
async def help_kecamatan_typed(ctx: Ctx) -> None:
    """A typed kecamatan name also works."""
    if _typed_back(ctx):
        await _go_back(ctx)
        return
    matches = wilayah.find_kecamatan(ctx.text) if ctx.text else []
    if len(matches) == 1 and matches[0].certain:
        _choose_kecamatan(ctx, matches[0].item.code)
        return
    ctx.say(ctx.t("Please choose your kecamatan with the buttons below."))
    ctx.goto(Claim.HELP_KEC)


@router.callback("klaim:hkec", states=[Claim.HELP_KEC])
async def help_kecamatan_answer(ctx: Ctx) -> None:
    """Store the kecamatan and ask the desa."""
    ctx.clear_buttons()
    code = _arg(ctx)
    if wilayah.kecamatan_by_code(code) is None:
        ctx.goto(Claim.HELP_KEC)
        return
    _choose_kecamatan(ctx, code)


def _choose_kecamatan(ctx: Ctx, code: str) -> None:
    ctx.data["help_kec"] = code
    ctx.data["desa_page"] = 0
    ctx.goto(Claim.HELP_DESA)


@router.prompt(Claim.HELP_DESA)
async def ask_help_desa(ctx: Ctx) -> None:
    """Desa of the chosen kecamatan, as paged buttons."""
    question = _desa_question(ctx)
    if question is None:
        ctx.goto(Claim.HELP_KEC)
        return
    ctx.say(*question)


def _desa_question(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup] | None:
    kecamatan = wilayah.kecamatan_by_code(str(ctx.data.get("help_kec", "")))
    if kecamatan is None:
        return None
    page_no = int(ctx.data.get("desa_page", 0) or 0)
    items, has_prev, has_next = wilayah.page(
        wilayah.desa_list(kecamatan.code), page_no, DESA_PER_PAGE
    )
    buttons = [keyboards.button(d.name, f"klaim:hdesa:{d.code}") for d in items]
    paging = []
    if has_prev:
        paging.append(keyboards.button(ctx.t("« Previous"), f"klaim:hpage:{page_no - 1}"))
    if has_next:
        paging.append(keyboards.button(ctx.t("Next »"), f"klaim:hpage:{page_no + 1}"))
    text = ctx.t(
        "Which desa or kelurahan in Kecamatan {kecamatan}? You can also type its name.",
        kecamatan=kecamatan.name,
    )
    return text, _markup(ctx, *keyboards.grid(buttons, width=2), paging)


@router.callback("klaim:hpage", states=[Claim.HELP_DESA])
async def help_desa_page(ctx: Ctx) -> None:
    """Another page of desa buttons, in the same message."""
    raw = _arg(ctx)
    ctx.data["desa_page"] = int(raw) if raw.isdigit() else 0
    question = _desa_question(ctx)
    if question is None:
        ctx.goto(Claim.HELP_KEC)
        return
    ctx.edit(*question)


@router.step(Claim.HELP_DESA)
async def help_desa_typed(ctx: Ctx) -> None:
    """A typed desa name: taken when certain, else offered as buttons."""
    if _typed_back(ctx):
        await _go_back(ctx)
        return
    code = str(ctx.data.get("help_kec", ""))
    matches = wilayah.find_desa(code, ctx.text) if ctx.text else []
    if len(matches) == 1 and matches[0].certain:
        ctx.data["help_desa"] = matches[0].item.code
        ctx.goto(Claim.HELP_PHONE)
        return
    if matches:
        ctx.say(
            ctx.t("Did you mean one of these?"),
            _markup(
                ctx,
                *([keyboards.button(m.item.name, f"klaim:hdesa:{m.item.code}")] for m in matches),
            ),
        )
        return
    ctx.say(ctx.t("I could not find that desa. Please choose it with the buttons."))
    ctx.goto(Claim.HELP_DESA)


@router.callback("klaim:hdesa", states=[Claim.HELP_DESA])
async def help_desa_answer(ctx: Ctx) -> None:
    """Store the desa (it must be in the chosen kecamatan) and ask for a phone number."""
    desa = wilayah.desa_by_code(_arg(ctx))
    if desa is None or desa.kecamatan_code != ctx.data.get("help_kec"):
        ctx.goto(Claim.HELP_DESA)
        return
    ctx.clear_buttons()
    ctx.data["help_desa"] = desa.code
    ctx.goto(Claim.HELP_PHONE)


@router.prompt(Claim.HELP_PHONE)
async def ask_help_phone(ctx: Ctx) -> None:
    """May the facilitator phone? Only if the family shares a number."""
    ctx.say(
        ctx.t(
            'Can the facilitator call you? Tap "Share my number" below, or type a number.\n'
            'If you prefer not to, tap "Without a phone number": the facilitator can then '
            "reach you through this chat."
        ),
        keyboards.contact_request(
            ctx.t("Share my number"), other=[ctx.t("Without a phone number"), ctx.t("Back")]
        ),
    )


@router.step(Claim.HELP_PHONE)
async def help_phone_answer(ctx: Ctx) -> None:
    """Record the help request (with the shared number, if any)."""
    typed = (ctx.text or "").strip().casefold()
    if ctx.contact is None and not typed:
        ctx.say(ctx.t("Please use the buttons below, or type a phone number."))
        ctx.goto(Claim.HELP_PHONE)
        return
    if typed == ctx.t("Back").casefold():
        ctx.say(ctx.t("All right."), keyboards.remove())
        ctx.goto(Claim.HELP_DESA)
        return
    if typed == ctx.t("Without a phone number").casefold():
        await _record_help(ctx, None)
        return
    raw = ctx.contact.phone_number if ctx.contact is not None else ctx.text or ""
    parsed = parse_phone(raw)
    if not isinstance(parsed, Phone):
        ctx.say(
            ctx.t(
                "That is not an Indonesian mobile number. Type it like 0812 3456 7890, "
                "or tap a button below."
            )
        )
        ctx.goto(Claim.HELP_PHONE)
        return
    await _record_help(ctx, parsed)


async def _record_help(ctx: Ctx, phone: Phone | None) -> None:
    desa = wilayah.desa_by_code(str(ctx.data.get("help_desa", "")))
    if desa is None:
        ctx.goto(Claim.HELP_KEC)
        return
    case = await _case(ctx)
    tg_user = ctx.update.effective_user
    name = tg_user.full_name[:128] if tg_user is not None else None
    request = await ctx.repo.claims.add_help_request(
        user_id=ctx.user_id,
        case_id=case.id,
        requester_name=name,
        claimant=case.claimant,
        kecamatan_code=desa.kecamatan_code,
        desa_code=desa.code,
        phone=phone.e164 if phone is not None else None,
        now=ctx.now(),
    )
    how = (
        ctx.t("by phone ({phone})", phone=phone.masked())
        if phone is not None
        else ctx.t("through this chat")
    )
    ctx.end()
    ctx.say(
        ctx.t(
            "✅ Your request is recorded (number #{id}). A facilitator of {desa} will contact "
            "you {how}.\nMeanwhile you can keep collecting the documents: type /klaim to open "
            "your list.",
            id=request.id,
            desa=desa.name,
            how=how,
        ),
        keyboards.remove(),
    )
    ctx.say(ctx.t("Choose a menu below:"), ctx.menu())


# --- admins: open help requests ------------------------------------------------------------------


@router.command("bantuanklaim", roles=[Role.ADMIN.value])
async def help_requests(ctx: Ctx) -> None:
    """List the families' open help requests (admins, until facilitators see their desa's)."""
    await _help_list(ctx, page_no=0, edit=False)


async def _help_list(ctx: Ctx, *, page_no: int, edit: bool) -> None:
    total = await ctx.repo.claims.count_open_help_requests()
    if total == 0:
        text = ctx.t("No open help requests from families.")
        if edit:
            ctx.edit(text)
        else:
            ctx.say(text)
        return
    last_page = (total - 1) // HELP_PER_PAGE
    page_no = min(max(page_no, 0), last_page)
    requests = await ctx.repo.claims.open_help_requests(
        limit=HELP_PER_PAGE, offset=page_no * HELP_PER_PAGE
    )
    entries = [ctx.t("<b>Open help requests from families</b> ({count})", count=total)]
    rows: list[list[InlineKeyboardButton]] = []
    for request in requests:
        desa = wilayah.desa_by_code(request.desa_code)
        kecamatan = wilayah.kecamatan_by_code(request.kecamatan_code)
        relation = (
            claimant_label(ctx.t, ClaimantType(request.claimant)) if request.claimant else "-"
        )
        entries.append(
            ctx.t(
                "#{id} · {date} · {desa}, Kec. {kecamatan}\n{name} · {relation} · {phone}",
                id=request.id,
                date=ctx.t.date(regency_date(request.created_at)),
                desa=desa.name if desa else request.desa_code,
                kecamatan=kecamatan.name if kecamatan else request.kecamatan_code,
                name=request.requester_name or "-",
                relation=relation,
                phone=mask_phone(request.phone) if request.phone else ctx.t("no phone"),
            )
        )
        rows.append(
            [
                keyboards.button(
                    ctx.t("Contact #{id}", id=request.id), f"klaim:adm:contact:{request.id}"
                ),
                keyboards.button(
                    ctx.t("Handled #{id}", id=request.id), f"klaim:adm:done:{request.id}"
                ),
            ]
        )
    paging = []
    if page_no > 0:
        paging.append(keyboards.button(ctx.t("« Previous"), f"klaim:adm:page:{page_no - 1}"))
    if page_no < last_page:
        paging.append(keyboards.button(ctx.t("Next »"), f"klaim:adm:page:{page_no + 1}"))
    text = "\n\n".join(entries)
    markup = keyboards.inline([*rows, paging])
    if edit:
        ctx.edit(text, markup)
    else:
        ctx.say(text, markup)


@router.callback("klaim:adm", roles=[Role.ADMIN.value])
async def help_request_action(ctx: Ctx) -> None:
    """Page the list, show a request's full contact (recorded), or mark it handled."""
    parts = (ctx.callback_data or "").split(":")
    if len(parts) != 4 or not parts[3].isdigit():
        ctx.toast(ctx.t("This button is no longer active."))
        return
    action, number = parts[2], int(parts[3])
    if action == "page":
        await _help_list(ctx, page_no=number, edit=True)
        return
    request = await ctx.repo.claims.get_help_request(request_id=number)
    if request is None:
        ctx.toast(ctx.t("This button is no longer active."))
        return
    if action == "contact":
        await ctx.repo.audit.record(
            actor_id=ctx.user_id, action="claim_help.contact", target=f"claim_help:{number}"
        )
        ctx.say(
            ctx.t(
                "Request #{id}: {name}\nPhone: {phone}\nTelegram id: {user}",
                id=number,
                name=request.requester_name or "-",
                phone=request.phone or ctx.t("no phone"),
                user=request.user_id,
            )
        )
        return
    if action == "done":
        handled = await ctx.repo.claims.mark_help_handled(
            request_id=number, handled_by=ctx.user_id, now=ctx.now()
        )
        if handled:
            await ctx.repo.audit.record(
                actor_id=ctx.user_id, action="claim_help.handled", target=f"claim_help:{number}"
            )
        ctx.toast(ctx.t("Marked as handled.") if handled else ctx.t("Already handled."))
        await _help_list(ctx, page_no=0, edit=True)
