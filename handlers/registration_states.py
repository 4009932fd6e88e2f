"""States, wording and message tables of the registration conversation.

The order of the questions is not here: it is the one table :data:`bot.registration_flow.STEPS`,
and every question state is ``"reg." + step``. This module adds the states around the questions
(resume, consent, summary, edit, cancel) and the wording that depends on *who* is typing.

Wording: the same conversation serves a worker registering themselves (:attr:`Mode.SELF`) and,
later, a village facilitator registering a resident (:attr:`Mode.ASSISTED`: "NIK warga", "nama
warga"). Every sentence that speaks about the person goes through :func:`wording`, which takes the
assisted text when one is defined and the self text otherwise, so assisted wording is added to
:data:`ASSISTED_WORDING` without copying the flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from bot.domain.dates import DateError
from bot.domain.names import PersonNameError
from bot.domain.nik import NikError, Sex
from bot.domain.occupations import OccupationTextError
from bot.domain.phones import PhoneError
from bot.i18n import N_
from bot.registration_flow import Step
from storage.models.registration import SubmissionStatus

FLOW = "reg"


class Reg(StrEnum):
    """Conversation states of the registration (``"reg.<step>"``)."""

    RESUME = "reg.resume"
    CONSENT = "reg.consent"
    NIK = "reg.nik"
    NAME = "reg.name"
    BIRTH_DATE = "reg.birth_date"
    DATE_CHECK = "reg.date_check"
    SEX = "reg.sex"
    PHONE = "reg.phone"
    KECAMATAN = "reg.kecamatan"
    DESA = "reg.desa"
    OCCUPATION = "reg.occupation"
    OCCUPATION_OTHER = "reg.occupation_other"
    INCOME = "reg.income"
    SCREENING = "reg.screening"
    PAYER = "reg.payer"
    JHT = "reg.jht"
    SUMMARY = "reg.summary"
    EDIT = "reg.edit"
    CANCEL = "reg.cancel"


def state_of(step: Step) -> Reg:
    """The conversation state that asks ``step``."""
    return Reg(f"{FLOW}.{step.value}")


def step_of(state: str | None) -> Step | None:
    """The question a state asks (None for resume, consent, summary, edit and cancel)."""
    if not state or not state.startswith(f"{FLOW}."):
        return None
    name = state[len(FLOW) + 1 :]
    return Step(name) if name in Step._value2member_map_ else None


#: The states that ask a question of the step table (each has a "Kembali" button).
QUESTION_STATES = tuple(state_of(step) for step in Step)


class Mode(StrEnum):
    """Who is typing the answers (kept in the conversation data)."""

    SELF = "self"
    """A worker registering themselves."""
    ASSISTED = "assisted"
    """A facilitator registering a resident on their behalf."""


class Text(StrEnum):
    """Sentences whose wording depends on :class:`Mode`."""

    CONSENT = "consent"
    ASK_NIK = "ask_nik"
    ASK_NAME = "ask_name"
    ASK_BIRTH_DATE = "ask_birth_date"
    DATE_CHECK = "date_check"
    ASK_SEX = "ask_sex"
    SEX_NOTE = "sex_note"
    ASK_PHONE = "ask_phone"
    ASK_KECAMATAN = "ask_kecamatan"
    ASK_DESA = "ask_desa"
    ASK_OCCUPATION = "ask_occupation"
    ASK_OCCUPATION_OTHER = "ask_occupation_other"
    ASK_INCOME = "ask_income"
    ASK_PAYER = "ask_payer"
    ASK_JHT = "ask_jht"
    SCREEN_CANDIDATE = "screen_candidate"
    SCREEN_NOT_CANDIDATE = "screen_not_candidate"
    SUMMARY_TITLE = "summary_title"
    DUPLICATE_OWN = "duplicate_own"
    RESUME = "resume"
    SUBMITTED = "submitted"
    CONSENT_YES = "consent_yes"
    CONSENT_NO = "consent_no"
    CONSENT_DECLINED = "consent_declined"
    DUPLICATE_OTHER = "duplicate_other"
    NIK_OUTSIDE = "nik_outside"
    SEX_OTHER = "sex_other"
    PHONE_TYPE = "phone_type"
    SELF_PAY = "self_pay"
    SELF_PAY_ESTIMATE = "self_pay_estimate"
    SCREEN_INTRO = "screen_intro"
    PAY_SELF_BUTTON = "pay_self_button"
    PAYER_APBD = "payer_apbd"
    PAYER_SELF = "payer_self"
    CONTRIBUTION_APBD = "contribution_apbd"
    CONTRIBUTION_SELF = "contribution_self"
    DRAFT_GONE = "draft_gone"
    CANCEL_ASK = "cancel_ask"
    CANCEL_DROP = "cancel_drop"
    DROPPED = "dropped"
    DRAFT_SAVED = "draft_saved"


SELF_WORDING: Mapping[Text, str] = MappingProxyType(
    {
        Text.CONSENT: N_(
            "<b>Registration for BPJS Ketenagakerjaan</b>\n"
            "Your data is used only to register you for work-accident (JKK) and death (JKM) "
            "protection through the Balangan regency programme. Only regency officers and "
            "BPJS Ketenagakerjaan see it. You may ask to see, correct or delete it at any time.\n\n"
            "Do you agree?"
        ),
        Text.ASK_NIK: N_("Type your <b>NIK</b>: the 16-digit number on your KTP (identity card)."),
        Text.ASK_NAME: N_("Type your <b>full name</b> exactly as on your KTP."),
        Text.ASK_BIRTH_DATE: N_(
            "Type your <b>date of birth</b>, for example 17-08-1985 or 17 Agustus 1985."
        ),
        Text.DATE_CHECK: N_(
            "Your NIK says you were born on <b>{nik_date}</b>, but you typed <b>{typed_date}</b>. "
            "Which is right?"
        ),
        Text.ASK_SEX: N_("According to your NIK you are <b>{sex}</b>. Is that right?"),
        Text.SEX_NOTE: N_(
            "Noted. Your NIK says otherwise: please make sure you typed the NIK from your KTP, "
            "not the family card (KK) number."
        ),
        Text.ASK_PHONE: N_(
            "Your <b>mobile number</b>: press the button below to send it, "
            "or type it (for example 0812 3456 7890)."
        ),
        Text.ASK_KECAMATAN: N_("Where do you live? Choose your <b>kecamatan</b>:"),
        Text.ASK_DESA: N_(
            "Choose your <b>desa or kelurahan</b> in Kecamatan {kecamatan}, or type its name:"
        ),
        Text.ASK_OCCUPATION: N_("What is your main <b>work</b>?"),
        Text.ASK_OCCUPATION_OTHER: N_(
            "Type your work in a few words (for example: tailor, seller of cakes)."
        ),
        Text.ASK_INCOME: N_("About how much do you <b>earn per month</b>?"),
        Text.ASK_PAYER: N_(
            "Who should pay your contribution? If the regency does not accept you, "
            "you can still pay yourself later."
        ),
        Text.ASK_JHT: N_(
            "Do you also want the optional <b>old-age savings (JHT)</b>?\n"
            "JKK + JKM: {amount} per month\n"
            "JKK + JKM + JHT: {amount_jht} per month"
        ),
        Text.SCREEN_CANDIDATE: N_(
            "From your answers you <b>may qualify as a Pekerja Rentan</b>: the regency would pay "
            "your JKK + JKM contribution. The regency decides after checking your data."
        ),
        Text.SCREEN_NOT_CANDIDATE: N_(
            "From your answers you probably do not qualify for the regency-paid programme, so "
            "you would pay the contribution yourself. The regency still checks every registration."
        ),
        Text.SUMMARY_TITLE: N_("<b>Please check your data</b>"),
        Text.DUPLICATE_OWN: N_(
            "You have already registered with this NIK: number <b>{reference}</b>, "
            "status: {status}. It cannot be registered twice."
        ),
        Text.RESUME: N_(
            "You have a registration that is not finished yet (step {step} of {total}). "
            "Continue where you stopped?"
        ),
        Text.SUBMITTED: N_(
            "<b>Sent!</b> Your registration number is <b>{reference}</b>.\n\n"
            "Next: regency officers check your data. When it is accepted you are registered with "
            "BPJS Ketenagakerjaan, and we tell you here.\n"
            "To see the status at any time, type /daftar."
        ),
        Text.CONSENT_YES: N_("I agree"),
        Text.CONSENT_NO: N_("I do not agree"),
        Text.CONSENT_DECLINED: N_(
            "All right. Without your consent we do not ask for or keep any of your data. "
            "You can register at any time with /daftar."
        ),
        Text.DUPLICATE_OTHER: N_(
            "This NIK has already been registered (status: {status}). It cannot be registered "
            "twice. If it is yours and you did not register it, please contact the regency office."
        ),
        Text.NIK_OUTSIDE: N_(
            "This NIK was first issued outside Balangan. That is fine: "
            "we ask where you live now later."
        ),
        Text.SEX_OTHER: N_("No, I am {sex}"),
        Text.PHONE_TYPE: N_("Please press the button below, or type the number."),
        Text.SELF_PAY: N_(
            "If you pay yourself: <b>{amount}</b> per month for JKK + JKM, or {amount_jht} "
            "with the optional old-age savings (JHT)."
        ),
        Text.SELF_PAY_ESTIMATE: N_(
            "If you pay yourself: about <b>{amount}</b> per month for JKK + JKM, or about "
            "{amount_jht} with the optional old-age savings (JHT). This is an estimate "
            "(perkiraan); BPJS Ketenagakerjaan confirms the exact amount."
        ),
        Text.SCREEN_INTRO: N_(
            "The regency pays JKK + JKM for some workers with low or irregular income "
            "(Pekerja Rentan). A few questions check whether you may qualify; "
            "the regency decides after checking your data."
        ),
        Text.PAY_SELF_BUTTON: N_("I pay myself ({amount} per month)"),
        Text.PAYER_APBD: N_("the regency, if it accepts you"),
        Text.PAYER_SELF: N_("you"),
        Text.CONTRIBUTION_APBD: N_(
            "Contribution: <b>{amount}</b> per month ({programmes}), paid by the regency "
            "if it accepts you"
        ),
        Text.CONTRIBUTION_SELF: N_(
            "Contribution: <b>{amount}</b> per month ({programmes}), paid by you"
        ),
        Text.DRAFT_GONE: N_("This registration is no longer open. Type /daftar to start again."),
        Text.CANCEL_ASK: N_(
            "Stop registering? You can save your answers as a draft and continue later "
            "with /daftar, or delete them."
        ),
        Text.CANCEL_DROP: N_("Delete my answers"),
        Text.DROPPED: N_("Your answers were deleted."),
        Text.DRAFT_SAVED: N_("Draft saved. Type /daftar to continue later."),
    }
)

#: Third-person wording for a village facilitator registering a resident ("NIK warga"). A key
#: missing here falls back to :data:`SELF_WORDING`.
ASSISTED_WORDING: Mapping[Text, str] = MappingProxyType(
    {
        Text.CONSENT: N_(
            "<b>Registering a resident</b>\n"
            "Read this aloud to the resident:\n\n"
            "<i>“Your data is used only to register you for work-accident (JKK) and death (JKM) "
            "protection through the Balangan regency programme. Only regency officers and "
            "BPJS Ketenagakerjaan see it. You may ask to see, correct or delete it at any time. "
            "Do you agree?”</i>\n\n"
            "Did the resident agree? Your answer is recorded with your name and the time."
        ),
        Text.CONSENT_YES: N_("The resident agrees"),
        Text.CONSENT_NO: N_("The resident does not agree"),
        Text.CONSENT_DECLINED: N_(
            "All right. Without the resident's consent nothing is asked or kept. "
            "To register another resident, type /daftarkan."
        ),
        Text.ASK_NIK: N_(
            "Type the resident's <b>NIK</b>: the 16-digit number on their KTP (identity card)."
        ),
        Text.ASK_NAME: N_("Type the resident's <b>full name</b> exactly as on their KTP."),
        Text.ASK_BIRTH_DATE: N_(
            "Type the resident's <b>date of birth</b>, for example 17-08-1985 or 17 Agustus 1985."
        ),
        Text.DATE_CHECK: N_(
            "The resident's NIK says they were born on <b>{nik_date}</b>, but you typed "
            "<b>{typed_date}</b>. Which is right?"
        ),
        Text.ASK_SEX: N_("According to the NIK the resident is <b>{sex}</b>. Is that right?"),
        Text.SEX_NOTE: N_(
            "Noted. The NIK says otherwise: please make sure you typed the NIK from the "
            "resident's KTP, not the family card (KK) number."
        ),
        Text.SEX_OTHER: N_("No, the resident is {sex}"),
        Text.ASK_PHONE: N_(
            "Type the resident's own <b>mobile number</b> (not yours), for example 0812 3456 7890."
        ),
        Text.PHONE_TYPE: N_("Please type the resident's mobile number."),
        Text.ASK_KECAMATAN: N_("Where does the resident live? Choose the <b>kecamatan</b>:"),
        Text.ASK_DESA: N_(
            "Choose the resident's <b>desa or kelurahan</b> in Kecamatan {kecamatan}, "
            "or type its name:"
        ),
        Text.ASK_OCCUPATION: N_("What is the resident's main <b>work</b>?"),
        Text.ASK_OCCUPATION_OTHER: N_(
            "Type the resident's work in a few words (for example: tailor, seller of cakes)."
        ),
        Text.ASK_INCOME: N_("About how much does the resident <b>earn per month</b>?"),
        Text.ASK_PAYER: N_(
            "Who should pay the resident's contribution? If the regency does not accept them, "
            "they can still pay themselves later."
        ),
        Text.ASK_JHT: N_(
            "Does the resident also want the optional <b>old-age savings (JHT)</b>?\n"
            "JKK + JKM: {amount} per month\n"
            "JKK + JKM + JHT: {amount_jht} per month"
        ),
        Text.SCREEN_CANDIDATE: N_(
            "From the answers the resident <b>may qualify as a Pekerja Rentan</b>: the regency "
            "would pay their JKK + JKM contribution. The regency decides after checking the data."
        ),
        Text.SCREEN_NOT_CANDIDATE: N_(
            "From the answers the resident probably does not qualify for the regency-paid "
            "programme, so they would pay the contribution themselves. The regency still checks "
            "every registration."
        ),
        Text.SCREEN_INTRO: N_(
            "The regency pays JKK + JKM for some workers with low or irregular income "
            "(Pekerja Rentan). A few questions check whether the resident may qualify; "
            "the regency decides after checking the data."
        ),
        Text.SELF_PAY: N_(
            "If the resident pays: <b>{amount}</b> per month for JKK + JKM, or {amount_jht} "
            "with the optional old-age savings (JHT)."
        ),
        Text.SELF_PAY_ESTIMATE: N_(
            "If the resident pays: about <b>{amount}</b> per month for JKK + JKM, or about "
            "{amount_jht} with the optional old-age savings (JHT). This is an estimate "
            "(perkiraan); BPJS Ketenagakerjaan confirms the exact amount."
        ),
        Text.PAY_SELF_BUTTON: N_("The resident pays ({amount} per month)"),
        Text.PAYER_APBD: N_("the regency, if it accepts the resident"),
        Text.PAYER_SELF: N_("the resident"),
        Text.CONTRIBUTION_APBD: N_(
            "Contribution: <b>{amount}</b> per month ({programmes}), paid by the regency "
            "if it accepts the resident"
        ),
        Text.CONTRIBUTION_SELF: N_(
            "Contribution: <b>{amount}</b> per month ({programmes}), paid by the resident"
        ),
        Text.SUMMARY_TITLE: N_("<b>Please check the resident's data</b>"),
        Text.NIK_OUTSIDE: N_(
            "This NIK was first issued outside Balangan. That is fine: "
            "we ask where the resident lives now later."
        ),
        Text.DUPLICATE_OWN: N_(
            "You have already registered this resident: number <b>{reference}</b>, "
            "status: {status}. It cannot be registered twice."
        ),
        Text.DUPLICATE_OTHER: N_(
            "This NIK has already been registered (status: {status}). It cannot be registered "
            "twice. If the resident did not register it, they can contact the regency office."
        ),
        Text.RESUME: N_(
            "This resident's registration is not finished yet (step {step} of {total}). "
            "Continue where you stopped?"
        ),
        Text.SUBMITTED: N_(
            "<b>Sent!</b> The resident's registration number is <b>{reference}</b>.\n\n"
            "Next: regency officers check the data. When it is accepted the resident is "
            "registered with BPJS Ketenagakerjaan, and we tell you here.\n"
            "Follow your residents with /wargaku; register another one with /daftarkan."
        ),
        Text.DRAFT_GONE: N_(
            "This registration is no longer open. Type /daftarkan to see your open registrations."
        ),
        Text.CANCEL_ASK: N_(
            "Stop this registration? You can save the answers as a draft and continue later "
            "with /daftarkan, or delete them."
        ),
        Text.CANCEL_DROP: N_("Delete the answers"),
        Text.DROPPED: N_("The answers were deleted."),
        Text.DRAFT_SAVED: N_("Draft saved. Type /daftarkan to continue later."),
    }
)

#: Callback data prefix of the "link for the resident's phone" button shown after assisted consent
#: (answered by :mod:`handlers.facilitator`, followed by ``:<submission id>``).
ASSISTED_CONSENT_LINK = "fw:link"

_BY_MODE: Mapping[Mode, Mapping[Text, str]] = MappingProxyType(
    {Mode.SELF: SELF_WORDING, Mode.ASSISTED: ASSISTED_WORDING}
)


def wording(mode: Mode, key: Text) -> str:
    """The msgid of ``key`` for ``mode`` (the self wording when the mode has none)."""
    return _BY_MODE[mode].get(key) or SELF_WORDING[key]


# --- message tables: the handlers map domain codes to these msgids -----------------------------

MSG_BACK = N_("Back")
MSG_USE_BUTTONS = N_("Please answer with one of the buttons below.")
MSG_TYPE_TEXT = N_("Please type your answer as text.")

SEX_LABELS: Mapping[Sex, str] = MappingProxyType({Sex.MALE: N_("Male"), Sex.FEMALE: N_("Female")})

STATUS_LABELS: Mapping[SubmissionStatus, str] = MappingProxyType(
    {
        SubmissionStatus.DRAFT: N_("not sent yet"),
        SubmissionStatus.SUBMITTED: N_("sent, waiting to be checked by the regency"),
        SubmissionStatus.VERIFIED: N_("checked by the regency, waiting for BPJS Ketenagakerjaan"),
        SubmissionStatus.REJECTED: N_("not accepted"),
        SubmissionStatus.REGISTERED: N_("registered with BPJS Ketenagakerjaan"),
    }
)

NIK_ERRORS: Mapping[NikError, str] = MappingProxyType(
    {
        NikError.EMPTY: N_("Please type the 16 digits of the NIK."),
        NikError.NOT_DIGITS: N_("A NIK has only numbers. Please remove: {part}"),
        NikError.WRONG_LENGTH: N_("A NIK must have 16 digits; you typed {got}."),
        NikError.ALL_SAME_DIGIT: N_("That is not a real NIK: all the digits are the same."),
        NikError.UNKNOWN_PROVINCE: N_(
            "A NIK cannot start with {part}: the first two digits are a province code. "
            "Please check the KTP."
        ),
        NikError.IMPOSSIBLE_DAY: N_(
            "Digits 7-8 of a NIK are the day of birth (for women, day + 40); {part} is not possible. "
            "Please check the KTP."
        ),
        NikError.IMPOSSIBLE_MONTH: N_(
            "Digits 9-10 of a NIK are the month of birth; {part} is not possible. "
            "Please check the KTP."
        ),
        NikError.IMPOSSIBLE_DATE: N_(
            "The birth date in this NIK ({part}) does not exist. Please check the KTP."
        ),
        NikError.ZERO_SERIAL: N_(
            "The last 4 digits of a NIK cannot be 0000. Please check the KTP."
        ),
    }
)

NAME_ERRORS: Mapping[PersonNameError, str] = MappingProxyType(
    {
        PersonNameError.FORBIDDEN_CHARS: N_(
            "A name may have only letters, spaces and the signs ' . - — please remove: {chars}"
        ),
        PersonNameError.NO_LETTERS: N_("Please type the name with letters."),
        PersonNameError.TOO_SHORT: N_("That name is too short: at least {limit} letters."),
        PersonNameError.TOO_LONG: N_("That name is too long: at most {limit} characters."),
    }
)

DATE_ERRORS: Mapping[DateError, str] = MappingProxyType(
    {
        DateError.UNRECOGNISED: N_(
            "I could not read that date. Type it like 17-08-1985 or 17 Agustus 1985."
        ),
        DateError.IMPOSSIBLE_DATE: N_("That date does not exist. Please check the day and month."),
        DateError.IN_FUTURE: N_("That date is in the future. Please check the year."),
        DateError.TOO_YOUNG: N_(
            "Registration is for people aged {limit} and over; this date gives age {age}."
        ),
        DateError.TOO_OLD: N_(
            "Registration is for people aged up to {limit}; this date gives age {age}."
        ),
    }
)

PHONE_ERRORS: Mapping[PhoneError, str] = MappingProxyType(
    {
        PhoneError.NOT_A_NUMBER: N_(
            "A phone number has only digits, for example 0812 3456 7890. Please try again."
        ),
        PhoneError.NOT_INDONESIAN: N_(
            "Please give an Indonesian mobile number, for example 0812 3456 7890 or +62 812 3456 7890."
        ),
        PhoneError.NOT_MOBILE: N_(
            "That is not a mobile (HP) number. Please give a mobile number, "
            "for example 0812 3456 7890."
        ),
        PhoneError.TOO_SHORT: N_("That number is too short. A full number: 0812 3456 7890."),
        PhoneError.TOO_LONG: N_("That number is too long. A full number: 0812 3456 7890."),
    }
)

OCCUPATION_ERRORS: Mapping[OccupationTextError, str] = MappingProxyType(
    {
        OccupationTextError.NO_LETTERS: N_("Please describe the work with letters."),
        OccupationTextError.TOO_SHORT: N_("Please write a little more: at least {limit} letters."),
        OccupationTextError.TOO_LONG: N_("Please write it shorter: at most {limit} characters."),
    }
)

#: The edit menu: which question each button re-asks, in summary order.
EDIT_CHOICES: tuple[tuple[Step, str], ...] = (
    (Step.NIK, N_("NIK")),
    (Step.NAME, N_("Name")),
    (Step.BIRTH_DATE, N_("Date of birth")),
    (Step.SEX, N_("Sex")),
    (Step.PHONE, N_("Mobile number")),
    (Step.KECAMATAN, N_("Kecamatan")),
    (Step.DESA, N_("Desa / kelurahan")),
    (Step.OCCUPATION, N_("Work")),
    (Step.INCOME, N_("Income")),
    (Step.SCREENING, N_("Pekerja Rentan questions")),
    (Step.PAYER, N_("Who pays")),
    (Step.JHT, N_("Old-age savings (JHT)")),
)
