"""States, audit codes, link formats and message tables of the village-facilitator feature.

Three small conversations live in :mod:`handlers.facilitator`:

* ``fas.*`` — an admin choosing desa (for an invitation or a facilitator's new desa), and an
  invitee confirming their name and phone;
* ``fdr.*`` — a facilitator choosing which resident's registration to continue;
* ``fok.*`` — a resident confirming on their own phone the consent a facilitator recorded.

Everything else (``/wargaku`` and the admin lists) is buttons without a conversation state; each
button re-checks the role (the dispatcher) and the scope of any id it carries (the handler).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from bot.domain.facts import load_toml
from bot.i18n import N_
from bot.registration_flow import REFERENCE_ALPHABET
from storage.models import LinkState
from storage.repos.facilitator import ResidentFilter

#: Deep-link payload prefixes (``t.me/<bot>?start=<prefix><code>``); none is a prefix of another.
INVITE_PREFIX = "inv_"
CONSENT_PREFIX = "setuju_"
POSTER_PREFIX = "ref_"

#: Bytes of randomness in invitation and consent codes (22 URL-safe characters): unguessable.
SECRET_BYTES = 16
#: Characters of a poster code: short enough to type from a printed poster, read aloud safely.
POSTER_CODE_LENGTH = 6

RESIDENTS_PER_PAGE = 5
DRAFTS_PER_PAGE = 6
FACILITATORS_PER_PAGE = 8
HELP_PER_PAGE = 5
DESA_PER_PAGE = 14
OPEN_INVITATIONS_SHOWN = 10


class Fas(StrEnum):
    """Admin desa choice and invitee onboarding (``fas.<step>``)."""

    PICK = "fas.pick"
    NAME = "fas.name"
    PHONE = "fas.phone"
    CONFIRM = "fas.confirm"


class Fdr(StrEnum):
    """Choosing a resident's registration to continue (``fdr.<step>``)."""

    PICK = "fdr.pick"


class Fok(StrEnum):
    """A resident confirming consent on their own phone (``fok.<step>``)."""

    CONFIRM = "fok.confirm"


class PickPurpose(StrEnum):
    """What the admin's desa choice is for."""

    INVITE = "inv"
    EDIT = "edit"


class Scope(StrEnum):
    """Whose residents ``/wargaku`` lists (values go into callback data)."""

    MINE = "m"
    """Residents this facilitator registered."""
    DESA = "d"
    """Residents living in the facilitator's desa, whoever registered them."""


class FacAudit(StrEnum):
    """Audit log action codes written by this feature (never renamed)."""

    INVITE = "facilitator.invite"
    INVITATION_REVOKE = "facilitator.invitation_revoke"
    JOIN = "facilitator.join"
    DESA_CHANGE = "facilitator.desa_change"
    REVOKE = "facilitator.revoke"
    DESA_OUTSIDE = "facilitator.desa_outside"
    READ_DRAFTS = "facilitator.read_drafts"
    READ_RESIDENTS = "facilitator.read_residents"
    READ_RESIDENT = "facilitator.read_resident"
    CORRECT = "facilitator.correct"
    READ_HELP = "facilitator.read_help"
    CONSENT_LINK = "consent.link"
    CONSENT_CONFIRMED = "consent.confirmed"
    CONSENT_DECLINED = "consent.declined"
    # The same codes as the admins' /bantuanklaim, so /audit shows one story per request.
    HELP_CONTACT = "claim_help.contact"
    HELP_HANDLED = "claim_help.handled"


FILTER_LABELS: Mapping[ResidentFilter, str] = MappingProxyType(
    {
        ResidentFilter.ALL: N_("All"),
        ResidentFilter.SUBMITTED: N_("Sent"),
        ResidentFilter.VERIFIED: N_("Checked"),
        ResidentFilter.REJECTED: N_("Not accepted"),
        ResidentFilter.REGISTERED: N_("Registered"),
        ResidentFilter.COVERED: N_("Protected"),
    }
)

SCOPE_TITLES: Mapping[Scope, str] = MappingProxyType(
    {
        Scope.MINE: N_("Residents I registered"),
        Scope.DESA: N_("Residents of my desa"),
    }
)

#: Why an invitation link cannot be accepted.
INVITATION_REFUSALS: Mapping[LinkState, str] = MappingProxyType(
    {
        LinkState.USED: N_(
            "This invitation has already been used. Each invitation link works only once: "
            "please ask the regency admin for a new one."
        ),
        LinkState.EXPIRED: N_(
            "This invitation expired on {date}. Please ask the regency admin for a new one."
        ),
        LinkState.REVOKED: N_(
            "This invitation was cancelled by the regency admin. Please ask them for a new one."
        ),
    }
)

#: Why a consent link cannot be used.
CONSENT_LINK_REFUSALS: Mapping[LinkState, str] = MappingProxyType(
    {
        LinkState.USED: N_("This link has already been used."),
        LinkState.EXPIRED: N_(
            "This link has expired. Please ask your village facilitator for a new one."
        ),
    }
)


# --- data ----------------------------------------------------------------------------------------


@cache
def invitation_validity() -> timedelta:
    """How long an invitation link stays valid (``bot/data/facilitator.toml``)."""
    return timedelta(days=int(load_toml("facilitator.toml")["invitation"]["valid_days"]))


@cache
def consent_link_validity() -> timedelta:
    """How long a resident's consent link stays valid (``bot/data/facilitator.toml``)."""
    return timedelta(days=int(load_toml("facilitator.toml")["consent_link"]["valid_days"]))


# --- codes and links -----------------------------------------------------------------------------


def new_secret_code() -> str:
    """An unguessable code for an invitation or a consent link (URL-safe, 22 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_poster_code(choose: Callable[[str], str] = secrets.choice) -> str:
    """A short poster code such as ``7K3Q9P`` (uniqueness is the database's job).

    Args:
        choose: Picks one character from a string; tests pass a seeded ``random.choice``.
    """
    return "".join(choose(REFERENCE_ALPHABET) for _ in range(POSTER_CODE_LENGTH))


def deep_link(bot_username: str, payload: str) -> str:
    """``https://t.me/<bot>?start=<payload>`` (Telegram allows A–Z, a–z, 0–9, ``_`` and ``-``).

    Raises:
        ValueError: the payload has another character or more than 64 of them.
    """
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    if not payload or len(payload) > 64 or not set(payload) <= allowed:
        raise ValueError("a deep-link payload is 1-64 characters of A-Z a-z 0-9 _ -")
    return f"https://t.me/{bot_username}?start={payload}"


# --- paging --------------------------------------------------------------------------------------


def clamp_page(page_no: int, total: int, per_page: int) -> tuple[int, int]:
    """``(page, last page)`` with ``page_no`` moved into range (an old button may point past it)."""
    last = max(0, (total - 1) // per_page) if total > 0 else 0
    return min(max(page_no, 0), last), last


#: The largest row id (a 32-bit ``INTEGER`` key) and the largest Telegram id (``BIGINT``).
MAX_ROW_ID = 2**31 - 1
MAX_USER_ID = 2**63 - 1


def parse_int(text: str | None, *, maximum: int = MAX_ROW_ID) -> int | None:
    """A whole number from callback data, else None.

    Forged data is ignored rather than passed to the database: only ASCII digits, and nothing
    above ``maximum`` (PostgreSQL refuses an ``INTEGER`` parameter out of range).
    """
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= maximum else None
