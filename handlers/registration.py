"""Registration for JKK + JKM: consent, short questions, a summary, and a reference number.

The conversation works on one explicit draft (``ctx.data["sub"]``, a submission id) and writes
every answer to that row as it is given, in the same transaction as the step change, so a crash
loses nothing. The order of the questions, "Kembali" and resuming all come from the one table in
:mod:`bot.registration_flow`; this module only asks and reads. ``ctx.data["mode"]`` says who is
typing (:class:`~handlers.registration_states.Mode`) and picks the wording.

Scratch keys in ``ctx.data``: ``sub`` (draft id), ``mode``, ``editing`` (changing one field from
the summary: "Kembali" and the end of the change lead back to the summary), ``q`` (the screening
question shown after "Kembali"), ``page`` (desa list page), ``from`` (the step /batal interrupted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import keyboards
from bot.context import Ctx, Markup
from bot.coverage_lookup import regency_zone
from bot.dispatch import MSG_NOT_ALLOWED
from bot.domain import wilayah
from bot.domain.dates import DateInvalid, parse_birth_date
from bot.domain.income import income_range, income_ranges
from bot.domain.names import PersonName, parse_name
from bot.domain.nik import Nik, NikInvalid, Sex, mask_nik, parse_nik
from bot.domain.occupations import (
    OccupationTextInvalid,
    occupation,
    occupations,
    parse_other_occupation,
)
from bot.domain.phones import Phone, parse_phone
from bot.domain.screening import ScreeningQuestion, questions
from bot.domain.tariffs import Contribution, Payer, monthly_contribution
from bot.i18n import N_
from bot.registration_flow import (
    Step,
    consent_version,
    expected_payer,
    includes_jht,
    is_candidate,
    new_reference,
    next_screening_question,
    next_step,
    nik_of,
    previous_screening_question,
    previous_step,
    progress,
    regency_date,
    screening_outcome,
)
from bot.router import Router
from handlers.facilitator_states import FacAudit
from handlers.registration_states import (
    ASSISTED_CONSENT_LINK,
    DATE_ERRORS,
    EDIT_CHOICES,
    FLOW,
    MSG_BACK,
    MSG_TYPE_TEXT,
    MSG_USE_BUTTONS,
    NAME_ERRORS,
    NIK_ERRORS,
    OCCUPATION_ERRORS,
    PHONE_ERRORS,
    QUESTION_STATES,
    SEX_LABELS,
    STATUS_LABELS,
    Mode,
    Reg,
    Text,
    state_of,
    step_of,
    wording,
)
from storage.models import ConsentKind, EntryRole, Role, Submission, SubmissionStatus

router = Router("registration")
router.menu_entry(N_("Register"), "reg:start", order=10)

DESA_PER_PAGE = 14
#: Who may go on with a resident's registration (admins may do all a facilitator may).
ASSISTED_ROLES = frozenset({Role.FACILITATOR.value, Role.ADMIN.value})

# --- entry points ----------------------------------------------------------------------------------


@router.command("daftar", description=N_("Register for JKK and JKM protection"), order=10)
async def daftar(ctx: Ctx) -> None:
    """``/daftar``: start, resume, or show the status of the user's registration."""
    await _begin_self(ctx)


@router.callback("reg:start")
async def start_button(ctx: Ctx) -> None:
    """The "Daftar" button of the main menu."""
    await _begin_self(ctx)


async def _begin_self(ctx: Ctx) -> None:
    repo = ctx.repo.registration
    existing = await repo.own_submitted(user_id=ctx.user_id)
    if existing is not None:
        if _in_flow(ctx.state):
            ctx.end()
        ctx.say(_status_text(ctx, existing), ctx.menu())
        return
    draft = await repo.own_draft(user_id=ctx.user_id)
    if draft is not None:
        resume_draft(ctx, draft.id, mode=Mode.SELF, ask=True)
        return
    begin_registration(ctx, mode=Mode.SELF)


def begin_registration(ctx: Ctx, *, mode: Mode, source: int | None = None) -> None:
    """Start a new registration at the consent question (reusable for assisted registration).

    Args:
        ctx: The update's context.
        mode: Who is typing.
        source: The poster code (``attribution_codes.id``) the user came through; the draft
            created on consent is credited to it.
    """
    ctx.data = {"mode": mode.value}
    if source is not None:
        ctx.data["src"] = source
    ctx.goto(Reg.CONSENT)


def resume_draft(ctx: Ctx, submission_id: int | None, *, mode: Mode, ask: bool) -> None:
    """Open draft ``submission_id`` (reusable for a facilitator's several drafts).

    Args:
        ctx: The update's context.
        submission_id: The draft to continue.
        mode: Who is typing.
        ask: Offer "Lanjutkan" / "Mulai baru" first; otherwise continue at once (at the first
            unanswered question, or the summary).
    """
    ctx.data = {"mode": mode.value, "sub": submission_id}
    ctx.goto(Reg.RESUME if ask else Reg.SUMMARY)


def _in_flow(state: str | None) -> bool:
    return bool(state) and str(state).startswith(f"{FLOW}.")


def _status_text(ctx: Ctx, submission: Submission) -> str:
    text = ctx.t(
        "You have already registered: number <b>{reference}</b>, status: {status}.",
        reference=submission.reference,
        status=_status_label(ctx, submission.status),
    )
    if submission.status == SubmissionStatus.REJECTED.value and submission.rejection_reason:
        text += "\n" + ctx.t("Reason: {reason}", reason=submission.rejection_reason)
    return text


def _status_label(ctx: Ctx, status: str) -> str:
    return ctx.t(STATUS_LABELS[SubmissionStatus(status)])


# --- shared helpers --------------------------------------------------------------------------------


def _mode(ctx: Ctx) -> Mode:
    raw = ctx.data.get("mode")
    return Mode(raw) if isinstance(raw, str) and raw in Mode._value2member_map_ else Mode.SELF


def _w(ctx: Ctx, key: Text, **values: object) -> str:
    return ctx.t(wording(_mode(ctx), key), **values)


def _today(ctx: Ctx) -> date:
    return regency_date(ctx.now())


async def _draft(ctx: Ctx) -> Submission | None:
    """The draft this conversation fills in; when it is gone, say so and leave the flow.

    Registering a resident needs the facilitator role at every step, buttons on old messages
    included: the registration's routes are open to everyone, so the role is checked here, where
    every prompt, answer and button of the flow starts.
    """
    if not _may_continue(ctx):
        _refuse_assisted(ctx)
        return None
    sub_id = ctx.data.get("sub")
    draft = None
    if isinstance(sub_id, int):
        draft = await ctx.repo.registration.draft_for(
            submission_id=sub_id, entered_by_user_id=ctx.user_id
        )
    if draft is None:
        text = _w(ctx, Text.DRAFT_GONE)
        ctx.end()
        ctx.say(text, ctx.menu())
    return draft


def _may_continue(ctx: Ctx) -> bool:
    """False when a resident's registration goes on without the facilitator (or admin) role."""
    return _mode(ctx) is Mode.SELF or ctx.role in ASSISTED_ROLES


def _refuse_assisted(ctx: Ctx) -> None:
    ctx.end()
    if ctx.query is not None:
        ctx.toast(ctx.t(MSG_NOT_ALLOWED), alert=True)
    else:
        ctx.say(ctx.t(MSG_NOT_ALLOWED), ctx.menu())


async def _assisted_scope(ctx: Ctx) -> frozenset[str] | None:
    """The desa a facilitator may register residents of (None: any — admins)."""
    if ctx.role == Role.ADMIN.value:
        return None
    return frozenset(await ctx.repo.facilitators.desa_codes(ctx.user_id))


def _desa_names(codes: Iterable[str]) -> str:
    names = []
    for code in sorted(codes):
        desa = wilayah.desa_by_code(code)
        names.append(desa.name if desa is not None else code)
    return ", ".join(names) or "-"


async def _desa_refused(ctx: Ctx, draft: Submission, desa: wilayah.Desa) -> bool:
    """Apply the facilitator's desa scope to a chosen desa; True when it must be chosen again.

    Outside the facilitator's desa the answer is refused with an explanation, or — when
    ``FACILITATOR_DESA_POLICY=warn`` — kept with a warning and an audit entry.
    """
    if _mode(ctx) is not Mode.ASSISTED:
        return False
    allowed = await _assisted_scope(ctx)
    if allowed is None or desa.code in allowed:
        return False
    if ctx.settings.facilitator_desa_policy == "warn":
        ctx.say(
            "⚠️ "
            + ctx.t(
                "{desa} is not one of your desa ({allowed}). The registration is kept, "
                "and the regency office sees that it was entered outside your desa.",
                desa=desa.name,
                allowed=_desa_names(allowed),
            )
        )
        await ctx.repo.audit.record(
            actor_id=ctx.user_id,
            action=FacAudit.DESA_OUTSIDE,
            target=f"submission:{draft.reference}",
            details={"desa": desa.code, "policy": "warn"},
        )
        return False
    _reject(
        ctx,
        ctx.t(
            "{desa} is not one of your desa ({allowed}). You can register only residents who "
            "live in your desa. Choose the resident's desa again, or press Back to change the "
            "kecamatan. A resident of another desa can be registered by that desa's "
            "facilitator or at the regency office.",
            desa=desa.name,
            allowed=_desa_names(allowed),
        ),
    )
    return True


async def _save(ctx: Ctx, draft: Submission, **answers: object) -> None:
    await ctx.repo.registration.save_answers(draft, now=ctx.now(), **answers)


def _advance(ctx: Ctx, draft: Submission) -> None:
    """Go to the first unanswered question, or to the summary when there is none."""
    ctx.data.pop("q", None)
    step = next_step(draft, today=_today(ctx))
    if step is None:
        ctx.data.pop("editing", None)
        ctx.goto(Reg.SUMMARY)
    else:
        ctx.goto(state_of(step))


async def _go_back(ctx: Ctx, draft: Submission) -> None:
    """ "Kembali": one question back (to the summary while changing one field)."""
    if ctx.data.get("editing"):
        ctx.data.pop("editing", None)
        _advance(ctx, draft)
        return
    current = step_of(ctx.state)
    if current is Step.SCREENING:
        earlier = previous_screening_question(draft, _shown_question(ctx, draft))
        if earlier is not None:
            ctx.data["q"] = earlier.code
            ctx.goto(Reg.SCREENING)
            return
    target = previous_step(draft, current, today=_today(ctx))
    if target is None:
        ctx.ask_next = True  # the first question: ask it again
        return
    ctx.data.pop("q", None)
    if target is Step.SCREENING:
        last = previous_screening_question(draft, None)
        if last is not None:
            ctx.data["q"] = last.code
    ctx.goto(state_of(target))


def _is_back(ctx: Ctx, text: str | None) -> bool:
    return text is not None and text.strip().casefold() == ctx.t(MSG_BACK).casefold()


def _with_progress(ctx: Ctx, draft: Submission, step: Step, text: str) -> str:
    number, total = progress(draft, step, today=_today(ctx))
    return ctx.t("<i>Step {number} of {total}</i>", number=number, total=total) + "\n" + text


def _back_row(ctx: Ctx, state: Reg) -> list[InlineKeyboardButton]:
    return [keyboards.button("« " + ctx.t(MSG_BACK), f"reg:back:{step_of(state)}")]


def _markup(
    ctx: Ctx, state: Reg, rows: Iterable[Sequence[InlineKeyboardButton]], *, back: bool = True
) -> InlineKeyboardMarkup:
    all_rows = [list(row) for row in rows]
    if back:
        all_rows.append(_back_row(ctx, state))
    return keyboards.inline(all_rows)


async def _typed(ctx: Ctx, draft: Submission) -> str | None:
    """The typed answer; None after handling "Kembali" or a non-text message (re-asked)."""
    text = ctx.text
    if text is None or not text.strip():
        ctx.say(ctx.t(MSG_TYPE_TEXT))
        ctx.ask_next = True
        return None
    if _is_back(ctx, text):
        await _go_back(ctx, draft)
        return None
    return text


#: Typed text quoted back in a reply is cut to this many characters: Telegram refuses messages over
#: 4,096 characters, and a user who pasted a page would otherwise get no answer at all.
ECHO_LIMIT = 60


def _echo(text: str) -> str:
    """What the user typed, tidied and shortened for quoting it back."""
    typed = " ".join(text.split())
    return typed if len(typed) <= ECHO_LIMIT else typed[: ECHO_LIMIT - 1].rstrip() + "…"


def _reject(ctx: Ctx, message: str) -> None:
    """Explain why the answer was refused and ask the same question again."""
    ctx.say(message)
    ctx.ask_next = True


def _contribution(ctx: Ctx, draft: Submission, *, payer: Payer, with_jht: bool) -> Contribution:
    return monthly_contribution(
        base=draft.contribution_base or 0,
        on=_today(ctx),
        occupation_code=draft.occupation_code,
        payer=payer,
        with_jht=with_jht,
    )


def _amount(ctx: Ctx, contribution: Contribution) -> str:
    money = ctx.t.money(contribution.total)
    return ctx.t("about {amount}", amount=money) if contribution.estimate else money


# --- stale "Kembali" and the button-only steps --------------------------------------------------


@router.callback("reg:back", states=QUESTION_STATES)
async def back_button(ctx: Ctx) -> None:
    """ "Kembali" under a question; only the button of the current question counts."""
    wanted = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if wanted != str(step_of(ctx.state)):
        ctx.toast(ctx.t("This button is no longer active."))
        ctx.ask_next = True
        return
    draft = await _draft(ctx)
    if draft is not None:
        ctx.clear_buttons()
        await _go_back(ctx, draft)


@router.step(
    Reg.RESUME,
    Reg.CONSENT,
    Reg.DATE_CHECK,
    Reg.SEX,
    Reg.OCCUPATION,
    Reg.INCOME,
    Reg.SCREENING,
    Reg.PAYER,
    Reg.JHT,
    Reg.SUMMARY,
    Reg.EDIT,
    Reg.CANCEL,
)
async def buttons_only(ctx: Ctx) -> None:
    """A message where a button was expected: point at the buttons and ask again."""
    if step_of(ctx.state) is not None and _is_back(ctx, ctx.text):
        draft = await _draft(ctx)
        if draft is not None:
            await _go_back(ctx, draft)
        return
    _reject(ctx, ctx.t(MSG_USE_BUTTONS))


# --- resume and consent ------------------------------------------------------------------------------


@router.prompt(Reg.RESUME)
async def ask_resume(ctx: Ctx) -> None:
    """Offer to continue a saved draft or start again."""
    draft = await _draft(ctx)
    if draft is None:
        return
    step = next_step(draft, today=_today(ctx))
    total = progress(draft, Step.NIK, today=_today(ctx))[1]
    number = total if step is None else progress(draft, step, today=_today(ctx))[0]
    ctx.say(
        _w(ctx, Text.RESUME, step=number, total=total),
        keyboards.column(
            [
                keyboards.button(ctx.t("Continue"), "reg:resume:go"),
                keyboards.button(ctx.t("Start again"), "reg:resume:new"),
            ]
        ),
    )


@router.callback("reg:resume", states=[Reg.RESUME])
async def resume_choice(ctx: Ctx) -> None:
    """ "Lanjutkan" continues at the first unanswered question; "Mulai baru" deletes the draft."""
    draft = await _draft(ctx)
    if draft is None:
        return
    ctx.clear_buttons()
    if ctx.callback_data == "reg:resume:new":
        await ctx.repo.registration.discard_draft(draft, now=ctx.now())
        begin_registration(ctx, mode=_mode(ctx))
        return
    _advance(ctx, draft)


@router.prompt(Reg.CONSENT)
async def ask_consent(ctx: Ctx) -> None:
    """Say what the data is for, who sees it and the user's rights; ask for consent."""
    ctx.say(
        _w(ctx, Text.CONSENT),
        keyboards.inline(
            [
                [
                    keyboards.button(_w(ctx, Text.CONSENT_YES), "reg:consent:yes"),
                    keyboards.button(_w(ctx, Text.CONSENT_NO), "reg:consent:no"),
                ]
            ]
        ),
    )


@router.callback("reg:consent", states=[Reg.CONSENT])
async def consent_choice(ctx: Ctx) -> None:
    """Record consent and open a draft; without consent nothing is asked or kept."""
    if not _may_continue(ctx):
        _refuse_assisted(ctx)
        return
    ctx.clear_buttons()
    if ctx.callback_data != "reg:consent:yes":
        text = _w(ctx, Text.CONSENT_DECLINED)
        ctx.end()
        ctx.say(text, ctx.menu())
        return
    mode = _mode(ctx)
    self_mode = mode is Mode.SELF
    draft = await ctx.repo.registration.create_draft(
        entered_by_user_id=ctx.user_id,
        entered_by_role=EntryRole.SELF if self_mode else EntryRole.FACILITATOR,
        owner_user_id=ctx.user_id if self_mode else None,
        consent_kind=ConsentKind.SELF if self_mode else ConsentKind.ASSISTED,
        consent_version=consent_version(),
        now=ctx.now(),
        new_reference=new_reference,
    )
    ctx.data["sub"] = draft.id
    ctx.toast(ctx.t("Thank you."))
    source = ctx.data.pop("src", None)
    if self_mode and isinstance(source, int) and draft.id is not None:
        await ctx.repo.facilitators.attribute(
            submission_id=draft.id, code_id=source, now=ctx.now()
        )
    if not self_mode:
        ctx.say(
            ctx.t(
                "Consent recorded: you confirmed that the resident agreed ({time}). "
                "If the resident has Telegram, they can also confirm on their own phone.",
                time=ctx.t.datetime(ctx.now().astimezone(regency_zone())),
            ),
            keyboards.column(
                [
                    keyboards.button(
                        ctx.t("Link for the resident's phone"),
                        f"{ASSISTED_CONSENT_LINK}:{draft.id}",
                    )
                ]
            ),
        )
    _advance(ctx, draft)


# --- NIK, name, birth date, sex ----------------------------------------------------------------------


@router.prompt(Reg.NIK)
async def ask_nik(ctx: Ctx) -> None:
    """Ask for the NIK (typed)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    first = previous_step(draft, Step.NIK, today=_today(ctx)) is None
    markup = None if first and not ctx.data.get("editing") else _markup(ctx, Reg.NIK, [])
    text = _w(ctx, Text.ASK_NIK) + "\n" + ctx.t("To stop, type /batal.")
    ctx.say(_with_progress(ctx, draft, Step.NIK, text), markup)


@router.step(Reg.NIK)
async def answer_nik(ctx: Ctx) -> None:
    """Check the NIK's structure, refuse a NIK that is already submitted, store it."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    parsed = parse_nik(text, today=_today(ctx))
    if isinstance(parsed, NikInvalid):
        _reject(ctx, ctx.t(NIK_ERRORS[parsed.error], **parsed.params))
        return
    existing = await ctx.repo.registration.submitted_with_nik(parsed.digits)
    if existing is not None:
        _reject(ctx, _duplicate_text(ctx, existing))
        return
    await _store_nik(ctx, draft, parsed)
    lines = [ctx.t("NIK saved: {nik}", nik=parsed.masked())]
    if not parsed.is_balangan:
        lines.append(_w(ctx, Text.NIK_OUTSIDE))
    ctx.say("\n".join(lines))
    _advance(ctx, draft)


def _duplicate_text(ctx: Ctx, existing: Submission) -> str:
    """Tell that a NIK is taken; only its status, unless the user registered it themselves."""
    own = existing.owner_user_id == ctx.user_id or (
        _mode(ctx) is Mode.ASSISTED and existing.entered_by_user_id == ctx.user_id
    )
    if own:
        return _w(
            ctx,
            Text.DUPLICATE_OWN,
            reference=existing.reference,
            status=_status_label(ctx, existing.status),
        )
    return _w(ctx, Text.DUPLICATE_OTHER, status=_status_label(ctx, existing.status))


async def _store_nik(ctx: Ctx, draft: Submission, nik: Nik) -> None:
    changes: dict[str, object] = {
        "nik": nik.digits,
        "warn_nik_outside": not nik.is_balangan,
        # A new NIK may agree with the birth date where the old one did not: check again.
        "warn_date_mismatch": False,
    }
    if draft.sex is not None and draft.sex != nik.sex.value:
        changes.update(sex=None, warn_sex_mismatch=False)  # the sex is confirmed from the NIK
    await _save(ctx, draft, **changes)


@router.prompt(Reg.NAME)
async def ask_name(ctx: Ctx) -> None:
    """Ask for the full name (typed)."""
    draft = await _draft(ctx)
    if draft is not None:
        ctx.say(
            _with_progress(ctx, draft, Step.NAME, _w(ctx, Text.ASK_NAME)),
            _markup(ctx, Reg.NAME, []),
        )


@router.step(Reg.NAME)
async def answer_name(ctx: Ctx) -> None:
    """Validate the name and show it back with tidied capitalisation."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    parsed = parse_name(text)
    if not isinstance(parsed, PersonName):
        _reject(ctx, ctx.t(NAME_ERRORS[parsed.error], **parsed.params))
        return
    await _save(ctx, draft, full_name=parsed.text)
    ctx.say(ctx.t("Name: <b>{name}</b>", name=parsed.text))
    _advance(ctx, draft)


@router.prompt(Reg.BIRTH_DATE)
async def ask_birth_date(ctx: Ctx) -> None:
    """Ask for the date of birth (typed)."""
    draft = await _draft(ctx)
    if draft is not None:
        ctx.say(
            _with_progress(ctx, draft, Step.BIRTH_DATE, _w(ctx, Text.ASK_BIRTH_DATE)),
            _markup(ctx, Reg.BIRTH_DATE, []),
        )


@router.step(Reg.BIRTH_DATE)
async def answer_birth_date(ctx: Ctx) -> None:
    """Read the date as people type it; check the age limits from the settings."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    parsed = parse_birth_date(
        text,
        today=_today(ctx),
        min_age=ctx.settings.min_age,
        max_age=ctx.settings.max_age,
    )
    if isinstance(parsed, DateInvalid):
        _reject(ctx, ctx.t(DATE_ERRORS[parsed.error], **parsed.params))
        return
    await _save(ctx, draft, birth_date=parsed, warn_date_mismatch=False)
    ctx.say(ctx.t("Date of birth: <b>{date}</b>", date=ctx.t.date(parsed)))
    _advance(ctx, draft)


@router.prompt(Reg.DATE_CHECK)
async def ask_date_check(ctx: Ctx) -> None:
    """The typed birth date differs from the NIK's: ask which is right (a warning only)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    nik = nik_of(draft, _today(ctx))
    if nik is None or draft.birth_date is None:
        _advance(ctx, draft)
        return
    typed = ctx.t.date(draft.birth_date)
    ctx.say(
        _w(ctx, Text.DATE_CHECK, nik_date=ctx.t.date(nik.birth_date), typed_date=typed),
        keyboards.column(
            [
                keyboards.button(ctx.t("{date} is right", date=typed), "reg:mm:ok"),
                keyboards.button(ctx.t("Type the date again"), "reg:mm:date"),
                keyboards.button(ctx.t("Correct the NIK"), "reg:mm:nik"),
            ]
        ),
    )


@router.callback("reg:mm", states=[Reg.DATE_CHECK])
async def date_check_choice(ctx: Ctx) -> None:
    """Keep the typed date (stored as a warning for the reviewer) or correct one of the two."""
    draft = await _draft(ctx)
    if draft is None:
        return
    ctx.clear_buttons()
    choice = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if choice == "date":
        ctx.goto(Reg.BIRTH_DATE)
    elif choice == "nik":
        ctx.goto(Reg.NIK)
    else:
        await _save(ctx, draft, warn_date_mismatch=True)
        _advance(ctx, draft)


@router.prompt(Reg.SEX)
async def ask_sex(ctx: Ctx) -> None:
    """Confirm the sex encoded in the NIK with one press."""
    draft = await _draft(ctx)
    if draft is None:
        return
    nik = nik_of(draft, _today(ctx))
    if nik is None:
        _advance(ctx, draft)
        return
    other = Sex.MALE if nik.sex is Sex.FEMALE else Sex.FEMALE
    rows = [
        [keyboards.button(ctx.t("Yes, that is right"), f"reg:sex:{nik.sex.value}")],
        [
            keyboards.button(
                _w(ctx, Text.SEX_OTHER, sex=ctx.t(SEX_LABELS[other]).lower()),
                f"reg:sex:{other.value}",
            )
        ],
    ]
    text = _w(ctx, Text.ASK_SEX, sex=ctx.t(SEX_LABELS[nik.sex]).lower())
    ctx.say(_with_progress(ctx, draft, Step.SEX, text), _markup(ctx, Reg.SEX, rows))


@router.callback("reg:sex", states=[Reg.SEX])
async def sex_choice(ctx: Ctx) -> None:
    """Store the confirmed sex; a sex other than the NIK's is kept with a warning."""
    draft = await _draft(ctx)
    if draft is None:
        return
    value = (ctx.callback_data or "").rsplit(":", 1)[-1]
    nik = nik_of(draft, _today(ctx))
    if value not in Sex._value2member_map_ or nik is None:
        ctx.ask_next = True
        return
    sex = Sex(value)
    mismatch = sex is not nik.sex
    await _save(ctx, draft, sex=sex.value, warn_sex_mismatch=mismatch)
    ctx.edit(ctx.t("Sex: <b>{sex}</b>", sex=ctx.t(SEX_LABELS[sex])))
    if mismatch:
        ctx.say(_w(ctx, Text.SEX_NOTE))
    _advance(ctx, draft)


# --- phone -----------------------------------------------------------------------------------------


@router.prompt(Reg.PHONE)
async def ask_phone(ctx: Ctx) -> None:
    """Offer the share-my-number button (self mode) or a typed number."""
    draft = await _draft(ctx)
    if draft is None:
        return
    back = ctx.t(MSG_BACK)
    markup: Markup
    if _mode(ctx) is Mode.SELF:
        markup = keyboards.contact_request(ctx.t("Send my number"), other=(back,))
    else:
        # A facilitator's own number is not the resident's: no share button.
        markup = _markup(ctx, Reg.PHONE, [])
    ctx.say(_with_progress(ctx, draft, Step.PHONE, _w(ctx, Text.ASK_PHONE)), markup)


@router.step(Reg.PHONE)
async def answer_phone(ctx: Ctx) -> None:
    """Accept a shared contact or a typed 08…/+62…/62… number; store it as E.164."""
    draft = await _draft(ctx)
    if draft is None:
        return
    contact = ctx.contact
    if contact is not None:
        raw = contact.phone_number
    else:
        if ctx.text is None:
            _reject(ctx, _w(ctx, Text.PHONE_TYPE))
            return
        typed = await _typed(ctx, draft)
        if typed is None:
            return
        raw = typed
    parsed = parse_phone(raw)
    if not isinstance(parsed, Phone):
        _reject(ctx, ctx.t(PHONE_ERRORS[parsed.error]))
        return
    if _mode(ctx) is Mode.ASSISTED:
        # Accountability: every resident is reachable on their own number, not the facilitator's.
        facilitator = await ctx.repo.facilitators.get(ctx.user_id)
        if facilitator is not None and facilitator.phone == parsed.e164:
            _reject(
                ctx,
                ctx.t("That is your own number. Please type the resident's own mobile number."),
            )
            return
    await _save(ctx, draft, phone=parsed.e164)
    ctx.say(ctx.t("Mobile number: <b>{phone}</b>", phone=parsed.e164), keyboards.remove())
    _advance(ctx, draft)


# --- kecamatan and desa ------------------------------------------------------------------------------


@router.prompt(Reg.KECAMATAN)
async def ask_kecamatan(ctx: Ctx) -> None:
    """The 8 kecamatan as buttons (typing a name works too)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    buttons = [keyboards.button(k.name, f"reg:kec:{k.code}") for k in wilayah.kecamatan_list()]
    ctx.say(
        _with_progress(ctx, draft, Step.KECAMATAN, _w(ctx, Text.ASK_KECAMATAN)),
        _markup(ctx, Reg.KECAMATAN, keyboards.grid(buttons, 2)),
    )


@router.step(Reg.KECAMATAN)
async def answer_kecamatan(ctx: Ctx) -> None:
    """A typed kecamatan name, spelling variants tolerated; unsure matches become buttons."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    matches = wilayah.find_kecamatan(text)
    if len(matches) == 1 and matches[0].certain:
        ctx.say(ctx.t("Kecamatan: <b>{name}</b>", name=matches[0].item.name))
        await _choose_kecamatan(ctx, draft, matches[0].item)
        return
    if matches:
        buttons = [keyboards.button(m.item.name, f"reg:kec:{m.item.code}") for m in matches]
        ctx.say(
            ctx.t("Did you mean one of these?"),
            _markup(ctx, Reg.KECAMATAN, keyboards.grid(buttons, 2)),
        )
        return
    _reject(
        ctx,
        ctx.t(
            "I could not find a kecamatan called “{typed}” in Balangan. "
            "Please choose one of the buttons.",
            typed=_echo(text),
        ),
    )


@router.callback("reg:kec", states=[Reg.KECAMATAN])
async def kecamatan_button(ctx: Ctx) -> None:
    """A kecamatan button."""
    draft = await _draft(ctx)
    if draft is None:
        return
    found = wilayah.kecamatan_by_code((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    ctx.edit(ctx.t("Kecamatan: <b>{name}</b>", name=found.name))
    await _choose_kecamatan(ctx, draft, found)


async def _choose_kecamatan(ctx: Ctx, draft: Submission, found: wilayah.Kecamatan) -> None:
    changes: dict[str, object] = {"kecamatan_code": found.code}
    if draft.kecamatan_code != found.code:
        changes["desa_code"] = None  # the desa belongs to the old kecamatan
    await _save(ctx, draft, **changes)
    ctx.data["page"] = 0
    _advance(ctx, draft)


def _desa_view(ctx: Ctx, draft: Submission, page_no: int) -> tuple[str, InlineKeyboardMarkup]:
    kecamatan = wilayah.kecamatan_by_code(draft.kecamatan_code or "")
    name = kecamatan.name if kecamatan is not None else ""
    items = wilayah.desa_list(draft.kecamatan_code or "")
    shown, has_prev, has_next = wilayah.page(items, page_no, DESA_PER_PAGE)
    rows = keyboards.grid([keyboards.button(d.name, f"reg:desa:{d.code}") for d in shown], 2)
    nav = []
    if has_prev:
        nav.append(keyboards.button("‹ " + ctx.t("Previous"), f"reg:dpage:{page_no - 1}"))
    if has_next:
        nav.append(keyboards.button(ctx.t("Next") + " ›", f"reg:dpage:{page_no + 1}"))
    rows.append(nav)
    text = _with_progress(ctx, draft, Step.DESA, _w(ctx, Text.ASK_DESA, kecamatan=name))
    return text, _markup(ctx, Reg.DESA, rows)


@router.prompt(Reg.DESA)
async def ask_desa(ctx: Ctx) -> None:
    """The desa/kelurahan of the chosen kecamatan as buttons, paged."""
    draft = await _draft(ctx)
    if draft is None:
        return
    if draft.kecamatan_code is None:
        _advance(ctx, draft)
        return
    page_no = ctx.data.get("page", 0)
    ctx.say(*_desa_view(ctx, draft, page_no if isinstance(page_no, int) else 0))


@router.callback("reg:dpage", states=[Reg.DESA])
async def desa_page(ctx: Ctx) -> None:
    """Turn the page of the desa list (the same message is edited)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    raw = (ctx.callback_data or "").rsplit(":", 1)[-1]
    page_no = int(raw) if raw.isdigit() else 0
    ctx.data["page"] = page_no
    ctx.edit(*_desa_view(ctx, draft, page_no))


@router.step(Reg.DESA)
async def answer_desa(ctx: Ctx) -> None:
    """A typed desa name: searched in the kecamatan, then in all of Balangan."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    matches = wilayah.find_desa(draft.kecamatan_code, text)
    if len(matches) == 1 and matches[0].certain:
        if await _choose_desa(ctx, draft, matches[0].item):
            ctx.say(ctx.t("Desa / kelurahan: <b>{name}</b>", name=matches[0].item.name))
        return
    # People often know their desa better than its kecamatan: offer exact names found elsewhere.
    elsewhere = [
        m.item
        for m in wilayah.find_desa(None, text)
        if m.certain and m.item.kecamatan_code != draft.kecamatan_code
    ]
    candidates = [m.item for m in matches] + elsewhere
    if not candidates:
        _reject(
            ctx,
            ctx.t(
                "I could not find “{typed}”. Please check the spelling or choose from the list.",
                typed=_echo(text),
            ),
        )
        return
    buttons = []
    for desa in candidates:
        label = desa.name
        if desa.kecamatan_code != draft.kecamatan_code:
            kecamatan = wilayah.kecamatan_by_code(desa.kecamatan_code)
            label = f"{desa.name} (Kec. {kecamatan.name if kecamatan else ''})"
        buttons.append(keyboards.button(label, f"reg:desa:{desa.code}"))
    intro = (
        ctx.t("Did you mean one of these?")
        if matches
        else ctx.t("“{typed}” is in another kecamatan. Is it one of these?", typed=_echo(text))
    )
    ctx.say(intro, _markup(ctx, Reg.DESA, [[b] for b in buttons]))


@router.callback("reg:desa", states=[Reg.DESA])
async def desa_button(ctx: Ctx) -> None:
    """A desa button (possibly of another kecamatan, offered after a typed name)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    found = wilayah.desa_by_code((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    if await _choose_desa(ctx, draft, found):
        ctx.edit(ctx.t("Desa / kelurahan: <b>{name}</b>", name=found.name))


async def _choose_desa(ctx: Ctx, draft: Submission, desa: wilayah.Desa) -> bool:
    """Store the desa and move on; False when the facilitator's desa scope refused it."""
    if await _desa_refused(ctx, draft, desa):
        return False
    await _save(ctx, draft, desa_code=desa.code, kecamatan_code=desa.kecamatan_code)
    ctx.data.pop("page", None)
    _advance(ctx, draft)
    return True


# --- occupation and income ---------------------------------------------------------------------------


@router.prompt(Reg.OCCUPATION)
async def ask_occupation(ctx: Ctx) -> None:
    """The occupation pick-list, "Lainnya" last."""
    draft = await _draft(ctx)
    if draft is None:
        return
    rows = [[keyboards.button(ctx.t(o.label), f"reg:occ:{o.code}")] for o in occupations()]
    ctx.say(
        _with_progress(ctx, draft, Step.OCCUPATION, _w(ctx, Text.ASK_OCCUPATION)),
        _markup(ctx, Reg.OCCUPATION, rows),
    )


@router.callback("reg:occ", states=[Reg.OCCUPATION])
async def occupation_button(ctx: Ctx) -> None:
    """Store the occupation; "Lainnya" goes on to the typed description."""
    draft = await _draft(ctx)
    if draft is None:
        return
    found = occupation((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    # Picking "Lainnya" again means typing it again; any other choice drops the typed text.
    await _save(ctx, draft, occupation_code=found.code, occupation_text=None)
    ctx.edit(ctx.t("Work: <b>{work}</b>", work=ctx.t(found.label)))
    _advance(ctx, draft)


@router.prompt(Reg.OCCUPATION_OTHER)
async def ask_occupation_other(ctx: Ctx) -> None:
    """Ask for the occupation in the user's words."""
    draft = await _draft(ctx)
    if draft is not None:
        ctx.say(
            _with_progress(ctx, draft, Step.OCCUPATION_OTHER, _w(ctx, Text.ASK_OCCUPATION_OTHER)),
            _markup(ctx, Reg.OCCUPATION_OTHER, []),
        )


@router.step(Reg.OCCUPATION_OTHER)
async def answer_occupation_other(ctx: Ctx) -> None:
    """Store the typed occupation."""
    draft = await _draft(ctx)
    if draft is None:
        return
    text = await _typed(ctx, draft)
    if text is None:
        return
    parsed = parse_other_occupation(text)
    if isinstance(parsed, OccupationTextInvalid):
        _reject(ctx, ctx.t(OCCUPATION_ERRORS[parsed.error], **parsed.params))
        return
    await _save(ctx, draft, occupation_text=parsed)
    ctx.say(ctx.t("Work: <b>{work}</b>", work=parsed))
    _advance(ctx, draft)


@router.prompt(Reg.INCOME)
async def ask_income(ctx: Ctx) -> None:
    """Monthly income as ranges."""
    draft = await _draft(ctx)
    if draft is None:
        return
    rows = [[keyboards.button(ctx.t(r.label), f"reg:inc:{r.code}")] for r in income_ranges()]
    ctx.say(
        _with_progress(ctx, draft, Step.INCOME, _w(ctx, Text.ASK_INCOME)),
        _markup(ctx, Reg.INCOME, rows),
    )


@router.callback("reg:inc", states=[Reg.INCOME])
async def income_button(ctx: Ctx) -> None:
    """Store the range and its base; show what a self-payer would pay per month."""
    draft = await _draft(ctx)
    if draft is None:
        return
    found = income_range((ctx.callback_data or "").split(":", 2)[-1])
    if found is None:
        ctx.ask_next = True
        return
    # A changed income can change the outcome of a screen already answered: say so.
    before = draft.rentan_candidate if draft.income_code is not None else None
    await _save(ctx, draft, income_code=found.code, contribution_base=found.base)
    await _refresh_screening(ctx, draft)
    ctx.edit(ctx.t("Income: <b>{income}</b>", income=ctx.t(found.label)))
    ctx.say(_self_pay_text(ctx, draft))
    if before is not None and draft.rentan_candidate not in (None, before):
        _say_screen_outcome(ctx, draft)
    _advance(ctx, draft)


def _self_pay_text(ctx: Ctx, draft: Submission) -> str:
    """What a self-payer pays per month for JKK + JKM, and with JHT; honest about estimates."""
    basic = _contribution(ctx, draft, payer=Payer.SELF, with_jht=False)
    full = _contribution(ctx, draft, payer=Payer.SELF, with_jht=True)
    key = Text.SELF_PAY_ESTIMATE if basic.estimate else Text.SELF_PAY
    lines = [
        _w(ctx, key, amount=ctx.t.money(basic.total), amount_jht=ctx.t.money(full.total)),
    ]
    if basic.discount is not None:
        lines.append(
            ctx.t(
                "This includes a {percent}% discount on JKK + JKM ({regulation}) until {until}.",
                percent=basic.discount.percent,
                regulation=basic.discount.regulation,
                until=ctx.t.date(basic.discount.valid_until),
            )
        )
    if draft.income_code is not None and next_screening_question(draft) is not None:
        lines.append(_w(ctx, Text.SCREEN_INTRO))
    return "\n\n".join(lines)


# --- Pekerja Rentan screening, payer, JHT --------------------------------------------------------


async def _refresh_screening(ctx: Ctx, draft: Submission) -> None:
    """Store the screen's outcome (None while questions are pending)."""
    decided = next_screening_question(draft) is None
    await _save(ctx, draft, rentan_candidate=is_candidate(draft) if decided else None)


def _shown_question(ctx: Ctx, draft: Submission) -> str | None:
    wanted = ctx.data.get("q")
    if isinstance(wanted, str) and any(q.code == wanted for q in questions()):
        return wanted
    pending = next_screening_question(draft)
    return pending.code if pending is not None else None


@router.prompt(Reg.SCREENING)
async def ask_screening(ctx: Ctx) -> None:
    """One yes/no question of the Pekerja Rentan screen (questions come from data)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    code = _shown_question(ctx, draft)
    question = next((q for q in questions() if q.code == code), None)
    if question is None:
        _advance(ctx, draft)
        return
    rows = [
        [
            keyboards.button(ctx.t("Yes"), f"reg:scr:{question.code}:y"),
            keyboards.button(ctx.t("No"), f"reg:scr:{question.code}:n"),
        ]
    ]
    ctx.say(
        _with_progress(ctx, draft, Step.SCREENING, ctx.t(_question_text(ctx, question))),
        _markup(ctx, Reg.SCREENING, rows),
    )


def _question_text(ctx: Ctx, question: ScreeningQuestion) -> str:
    return question.text_for(assisted=_mode(ctx) is Mode.ASSISTED)


@router.callback("reg:scr", states=[Reg.SCREENING])
async def screening_answer(ctx: Ctx) -> None:
    """Store one screening answer; when the screen is decided, say what it means."""
    draft = await _draft(ctx)
    if draft is None:
        return
    parts = (ctx.callback_data or "").split(":")
    question = next((q for q in questions() if len(parts) == 4 and q.code == parts[2]), None)
    if question is None or question.code != _shown_question(ctx, draft):
        ctx.toast(ctx.t("This button is no longer active."))
        ctx.ask_next = True
        return
    answer = parts[3] == "y"
    await _save(ctx, draft, screening_answers={**draft.screening_answers, question.code: answer})
    await _refresh_screening(ctx, draft)
    yes_no = ctx.t("Yes") if answer else ctx.t("No")
    ctx.edit(ctx.t(_question_text(ctx, question)) + "\n➜ <b>" + yes_no + "</b>")
    ctx.data.pop("q", None)
    if next_screening_question(draft) is None:
        _say_screen_outcome(ctx, draft)
    _advance(ctx, draft)


def _say_screen_outcome(ctx: Ctx, draft: Submission) -> None:
    key = Text.SCREEN_CANDIDATE if is_candidate(draft) else Text.SCREEN_NOT_CANDIDATE
    ctx.say(_w(ctx, key))


@router.prompt(Reg.PAYER)
async def ask_payer(ctx: Ctx) -> None:
    """A candidate chooses: ask the regency to pay, or pay themselves."""
    draft = await _draft(ctx)
    if draft is None:
        return
    own = _contribution(ctx, draft, payer=Payer.SELF, with_jht=False)
    rows = [
        [keyboards.button(ctx.t("Ask the regency to pay"), f"reg:pay:{Payer.APBD.value}")],
        [
            keyboards.button(
                _w(ctx, Text.PAY_SELF_BUTTON, amount=_amount(ctx, own)),
                f"reg:pay:{Payer.SELF.value}",
            )
        ],
    ]
    ctx.say(
        _with_progress(ctx, draft, Step.PAYER, _w(ctx, Text.ASK_PAYER)),
        _markup(ctx, Reg.PAYER, rows),
    )


@router.callback("reg:pay", states=[Reg.PAYER])
async def payer_choice(ctx: Ctx) -> None:
    """Store who the candidate expects to pay."""
    draft = await _draft(ctx)
    if draft is None:
        return
    value = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if value not in (Payer.APBD.value, Payer.SELF.value):
        ctx.ask_next = True
        return
    await _save(ctx, draft, payer=value)
    ctx.edit(ctx.t("Who pays: <b>{payer}</b>", payer=_payer_label(ctx, Payer(value))))
    _advance(ctx, draft)


def _payer_label(ctx: Ctx, payer: Payer) -> str:
    return _w(ctx, Text.PAYER_APBD if payer is Payer.APBD else Text.PAYER_SELF)


@router.prompt(Reg.JHT)
async def ask_jht(ctx: Ctx) -> None:
    """A self-payer chooses whether to add the optional JHT."""
    draft = await _draft(ctx)
    if draft is None:
        return
    basic = _contribution(ctx, draft, payer=Payer.SELF, with_jht=False)
    full = _contribution(ctx, draft, payer=Payer.SELF, with_jht=True)
    rows = [
        [keyboards.button(ctx.t("Yes, add JHT"), "reg:jht:y")],
        [keyboards.button(ctx.t("No, JKK + JKM only"), "reg:jht:n")],
    ]
    text = _w(ctx, Text.ASK_JHT, amount=_amount(ctx, basic), amount_jht=_amount(ctx, full))
    ctx.say(_with_progress(ctx, draft, Step.JHT, text), _markup(ctx, Reg.JHT, rows))


@router.callback("reg:jht", states=[Reg.JHT])
async def jht_choice(ctx: Ctx) -> None:
    """Store the JHT choice."""
    draft = await _draft(ctx)
    if draft is None:
        return
    with_jht = (ctx.callback_data or "").endswith(":y")
    await _save(ctx, draft, with_jht=with_jht)
    ctx.edit(ctx.t("JHT: <b>{answer}</b>", answer=ctx.t("Yes") if with_jht else ctx.t("No")))
    _advance(ctx, draft)


# --- summary, edit, submit -------------------------------------------------------------------------


def _summary_text(ctx: Ctx, draft: Submission) -> str:
    t = ctx.t
    lines = [_w(ctx, Text.SUMMARY_TITLE)]
    if draft.nik is not None:
        lines.append(t("NIK: {nik}", nik=mask_nik(draft.nik)))
    lines.append(t("Name: <b>{name}</b>", name=draft.full_name or ""))
    if draft.birth_date is not None:
        lines.append(t("Date of birth: <b>{date}</b>", date=t.date(draft.birth_date)))
    if draft.sex is not None and draft.sex in Sex._value2member_map_:
        lines.append(t("Sex: <b>{sex}</b>", sex=t(SEX_LABELS[Sex(draft.sex)])))
    lines.append(t("Mobile number: <b>{phone}</b>", phone=draft.phone or ""))
    desa = wilayah.desa_by_code(draft.desa_code or "")
    kecamatan = wilayah.kecamatan_by_code(draft.kecamatan_code or "")
    if desa is not None and kecamatan is not None:
        lines.append(
            t(
                "Lives in: <b>{desa}, Kec. {kecamatan}</b>",
                desa=desa.name,
                kecamatan=kecamatan.name,
            )
        )
    job = occupation(draft.occupation_code or "")
    if job is not None:
        work = draft.occupation_text if job.free_text and draft.occupation_text else t(job.label)
        lines.append(t("Work: <b>{work}</b>", work=work))
    income = income_range(draft.income_code or "")
    if income is not None:
        lines.append(t("Income: <b>{income}</b>", income=t(income.label)))
    lines.append(_contribution_line(ctx, draft))
    lines.extend(_warning_lines(ctx, draft))
    return "\n".join(lines)


def _contribution_line(ctx: Ctx, draft: Submission) -> str:
    payer = expected_payer(draft) or Payer.SELF
    contribution = _contribution(ctx, draft, payer=payer, with_jht=includes_jht(draft))
    programmes = " + ".join(item.programme.value.upper() for item in contribution.items)
    key = Text.CONTRIBUTION_APBD if payer is Payer.APBD else Text.CONTRIBUTION_SELF
    return _w(ctx, key, amount=_amount(ctx, contribution), programmes=programmes)


def _warning_lines(ctx: Ctx, draft: Submission) -> list[str]:
    lines = []
    if draft.warn_date_mismatch:
        lines.append("⚠️ " + ctx.t("The date of birth differs from the NIK (you confirmed it)."))
    if draft.warn_sex_mismatch:
        lines.append("⚠️ " + ctx.t("The sex differs from the NIK."))
    if draft.warn_nik_outside:
        lines.append("ℹ️ " + ctx.t("The NIK was first issued outside Balangan."))
    return lines


@router.prompt(Reg.SUMMARY)
async def ask_summary(ctx: Ctx) -> None:
    """Every answer for a last check: "Kirim", "Ubah", "Batal"."""
    draft = await _draft(ctx)
    if draft is None:
        return
    if next_step(draft, today=_today(ctx)) is not None:
        _advance(ctx, draft)  # an answer is missing (e.g. after a change): ask it first
        return
    ctx.data.pop("editing", None)
    ctx.say(
        _summary_text(ctx, draft) + "\n\n" + ctx.t("Is everything correct?"),
        keyboards.column(
            [
                keyboards.button("✅ " + ctx.t("Send"), "reg:sum:send"),
                keyboards.button("✏️ " + ctx.t("Change something"), "reg:sum:edit"),
                keyboards.button("✖️ " + ctx.t("Cancel"), "reg:sum:cancel"),
            ]
        ),
    )


@router.callback("reg:sum", states=[Reg.SUMMARY, Reg.EDIT])
async def summary_choice(ctx: Ctx) -> None:
    """The summary's buttons (and "back to the summary" in the edit menu)."""
    draft = await _draft(ctx)
    if draft is None:
        return
    choice = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if choice == "show":
        ctx.clear_buttons()
        ctx.goto(Reg.SUMMARY)
    elif ctx.state != Reg.SUMMARY:
        ctx.toast(ctx.t("This button is no longer active."))
        ctx.ask_next = True
    elif choice == "edit":
        ctx.clear_buttons()
        ctx.goto(Reg.EDIT)
    elif choice == "cancel":
        ctx.clear_buttons()
        _ask_cancel(ctx)
    else:
        await _submit(ctx, draft)


@router.prompt(Reg.EDIT)
async def ask_edit(ctx: Ctx) -> None:
    """Which answer to change."""
    draft = await _draft(ctx)
    if draft is None:
        return
    hidden = set()
    if not is_candidate(draft):
        hidden.add(Step.PAYER)
    if expected_payer(draft) is not Payer.SELF:
        hidden.add(Step.JHT)
    shown = [(step, label) for step, label in EDIT_CHOICES if step not in hidden]
    buttons = [keyboards.button(ctx.t(label), f"reg:edit:{step.value}") for step, label in shown]
    rows = keyboards.grid(buttons, 2)
    rows.append([keyboards.button("« " + ctx.t("Back to the summary"), "reg:sum:show")])
    ctx.say(ctx.t("What do you want to change?"), keyboards.inline(rows))


@router.callback("reg:edit", states=[Reg.EDIT])
async def edit_choice(ctx: Ctx) -> None:
    """Ask one question again; afterwards the conversation returns to the summary."""
    draft = await _draft(ctx)
    if draft is None:
        return
    value = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if value not in Step._value2member_map_:
        ctx.ask_next = True
        return
    step = Step(value)
    ctx.clear_buttons()
    ctx.data["editing"] = True
    if step is Step.SCREENING:
        # The answers depend on each other: ask the screen again from its first question.
        await _save(ctx, draft, screening_answers={}, rentan_candidate=None)
    ctx.goto(state_of(step))


async def _submit(ctx: Ctx, draft: Submission) -> None:
    if next_step(draft, today=_today(ctx)) is not None:
        _advance(ctx, draft)
        return
    desa = wilayah.desa_by_code(draft.desa_code or "")
    refuse = ctx.settings.facilitator_desa_policy != "warn"  # "warn" warned at the desa step
    if refuse and desa is not None and await _desa_refused(ctx, draft, desa):
        # The facilitator's desa changed since the answer: ask the desa again.
        ctx.clear_buttons()
        await _save(ctx, draft, desa_code=None)
        ctx.data["editing"] = True
        ctx.goto(Reg.DESA)
        return
    payer = expected_payer(draft) or Payer.SELF
    with_jht = includes_jht(draft)
    contribution = _contribution(ctx, draft, payer=payer, with_jht=with_jht)
    outcome = screening_outcome(draft)
    await _save(
        ctx,
        draft,
        payer=payer.value,
        with_jht=with_jht,
        rentan_candidate=outcome.candidate,
        contribution_total=contribution.total,
        contribution_estimate=contribution.estimate,
        contribution_discount=None
        if contribution.discount is None
        else contribution.discount.code,
        tariff_date=contribution.on,
    )
    conflict = await ctx.repo.registration.submit(draft, now=ctx.now())
    ctx.clear_buttons()
    if conflict is not None:
        # Someone submitted this NIK meanwhile (the database decided the race).
        ctx.say(_duplicate_text(ctx, conflict.existing))
        ctx.data["editing"] = True
        ctx.goto(Reg.NIK)
        return
    text = _w(ctx, Text.SUBMITTED, reference=draft.reference)  # before end() forgets the mode
    ctx.end()
    ctx.say(text, ctx.menu())


# --- cancel ----------------------------------------------------------------------------------------------


@router.on_cancel(FLOW)
async def cancel(ctx: Ctx) -> None:
    """``/batal`` inside the registration: keep the draft or delete it (the user chooses)."""
    if ctx.state in (Reg.CONSENT, Reg.RESUME) or not isinstance(ctx.data.get("sub"), int):
        ctx.end()
        ctx.say(ctx.t("Stopped.") + "\n" + ctx.t("Choose a menu below:"), ctx.menu())
        return
    _ask_cancel(ctx)


def _ask_cancel(ctx: Ctx) -> None:
    if ctx.state != Reg.CANCEL:
        ctx.data["from"] = ctx.state
    ctx.goto(Reg.CANCEL)


@router.prompt(Reg.CANCEL)
async def ask_cancel(ctx: Ctx) -> None:
    """Save the draft for later, delete the answers, or go on."""
    ctx.say(
        _w(ctx, Text.CANCEL_ASK),
        keyboards.column(
            [
                keyboards.button(ctx.t("Save draft"), "reg:cancel:save"),
                keyboards.button(_w(ctx, Text.CANCEL_DROP), "reg:cancel:drop"),
                keyboards.button(ctx.t("Continue registering"), "reg:cancel:back"),
            ]
        ),
    )


@router.callback("reg:cancel", states=[Reg.CANCEL])
async def cancel_choice(ctx: Ctx) -> None:
    """Carry out the choice made after /batal."""
    draft = await _draft(ctx)
    if draft is None:
        return
    ctx.clear_buttons()
    choice = (ctx.callback_data or "").rsplit(":", 1)[-1]
    if choice == "back":
        previous = ctx.data.pop("from", None)
        if isinstance(previous, str) and previous in Reg._value2member_map_:
            ctx.goto(previous)
        else:
            _advance(ctx, draft)
        return
    if choice == "drop":
        await ctx.repo.registration.discard_draft(draft, now=ctx.now())
        text = _w(ctx, Text.DROPPED)
    else:
        text = _w(ctx, Text.DRAFT_SAVED)
    ctx.end()
    ctx.say(text + "\n" + ctx.t("Choose a menu below:"), ctx.menu())
