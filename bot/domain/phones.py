"""Indonesian mobile numbers: parse what people type or share, normalise to E.164, mask.

Accepted: ``0812-3456-7890``, ``+62 812 3456 7890``, ``6281234567890`` (a Telegram shared contact
often comes without the ``+``) and ``81234567890`` (leading 0 forgotten). Validation uses the
``phonenumbers`` metadata, so new operator prefixes arrive with a library update.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

REGION = "ID"
COUNTRY_CODE = 62
#: Besides digits and spaces, only these may be typed in a phone number.
_PUNCTUATION = "+-.()/"
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_KEEP_START = 6  # "+62812": country code and operator prefix
_KEEP_END = 4


class PhoneError(StrEnum):
    """Why a typed phone number was rejected."""

    NOT_A_NUMBER = "not_a_number"
    """Letters or other symbols, or no digits at all."""
    NOT_INDONESIAN = "not_indonesian"
    """A foreign (or non-existent) country code."""
    NOT_MOBILE = "not_mobile"
    """An Indonesian number that is not a mobile number (a landline, an unused prefix)."""
    TOO_SHORT = "too_short"
    """Too few digits for an Indonesian mobile number."""
    TOO_LONG = "too_long"
    """Too many digits for an Indonesian mobile number."""


@dataclass(frozen=True, slots=True)
class Phone:
    """A valid Indonesian mobile number.

    Attributes:
        e164: The number in E.164 form, e.g. ``"+6281234567890"``.
    """

    e164: str

    def __str__(self) -> str:
        return self.e164

    def masked(self) -> str:
        """The number with the middle digits hidden, e.g. ``"+62812****7890"``."""
        return mask_phone(self.e164)


@dataclass(frozen=True, slots=True)
class PhoneInvalid:
    """A rejected phone number.

    Attributes:
        error: Why the number was rejected.
    """

    error: PhoneError

    @property
    def params(self) -> dict[str, int | str]:
        """The message placeholders (none today; present for symmetry with other results)."""
        return {}


PhoneResult = Phone | PhoneInvalid

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: PhoneError.NOT_INDONESIAN,
    NumberParseException.TOO_SHORT_AFTER_IDD: PhoneError.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: PhoneError.TOO_SHORT,
    NumberParseException.TOO_LONG: PhoneError.TOO_LONG,
    # Only digits reach the parser, so "not a number" there means too few digits ("+62").
    NumberParseException.NOT_A_NUMBER: PhoneError.TOO_SHORT,
}
_LENGTH_ERRORS = {
    ValidationResult.TOO_SHORT: PhoneError.TOO_SHORT,
    ValidationResult.TOO_LONG: PhoneError.TOO_LONG,
}


def mask_phone(e164: str) -> str:
    """Hide the middle of a stored number: ``"+6281234567890"`` → ``"+62812****7890"``.

    Numbers too short to keep both ends show only their last 4 characters.
    """
    if len(e164) <= _KEEP_START + _KEEP_END:
        visible = e164[-_KEEP_END:] if len(e164) > _KEEP_END else ""
        return "*" * (len(e164) - len(visible)) + visible
    hidden = len(e164) - _KEEP_START - _KEEP_END
    return e164[:_KEEP_START] + "*" * hidden + e164[-_KEEP_END:]


def _dialable(raw: str) -> str | None:
    """The number as ``+digits`` or national digits, or None if anything else was typed."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not all(("0" <= ch <= "9") or ch.isspace() or ch in _PUNCTUATION for ch in text):
        return None  # phonenumbers would read letters as a vanity number ("0800-FLOWERS")
    if "+" in text[1:]:
        return None
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        return None
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]  # "0062 812…": international call prefix typed instead of "+"
    if digits.startswith(str(COUNTRY_CODE)):
        # A shared Telegram contact is "6281…" without the "+". Only a landline typed without
        # its leading 0 could start with 62, and landlines are rejected anyway.
        return "+" + digits
    return digits


def parse_phone(raw: str) -> PhoneResult:
    """Parse a typed or shared phone number.

    Args:
        raw: What the user typed, or ``Contact.phone_number`` from a shared contact.

    Returns:
        A :class:`Phone` in E.164 form, or a :class:`PhoneInvalid`. Never raises; parsing the
        ``e164`` of a result gives the same result.
    """
    dialable = _dialable(raw)
    if dialable is None:
        return PhoneInvalid(PhoneError.NOT_A_NUMBER)
    try:
        number = phonenumbers.parse(dialable, REGION)
    except NumberParseException as exc:
        return PhoneInvalid(_PARSE_ERRORS.get(exc.error_type, PhoneError.TOO_SHORT))
    if number.country_code != COUNTRY_CODE:
        return PhoneInvalid(PhoneError.NOT_INDONESIAN)
    length = phonenumbers.is_possible_number_for_type_with_reason(number, PhoneNumberType.MOBILE)
    if length in _LENGTH_ERRORS:
        return PhoneInvalid(_LENGTH_ERRORS[length])
    if not (
        phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _MOBILE_TYPES
    ):
        return PhoneInvalid(PhoneError.NOT_MOBILE)
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
