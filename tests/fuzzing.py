"""Fuzzing support: personas, tours that drive real conversations into every state, random inputs
(hypothesis strategies), and the invariants checked after every single input.

``tests/test_fuzz.py`` builds one :class:`FuzzWorld` per database backend: the real bot polling the
Bot API emulator. :meth:`FuzzWorld.explore` runs the :data:`TOURS` once, remembering for every
conversation state the shortest prefix of a tour that reaches it; :meth:`FuzzWorld.reach` replays that
prefix for fresh users (as many as the tour has actors), so every example starts from a state reached
the way a person would reach it. :meth:`FuzzWorld.apply` then sends one input and checks:

* nothing was logged at ERROR (``update %s failed`` is ``log.exception``) and the delivery layer did
  not have a message refused;
* the user got an answer: a message, an edit, a file, or — for a button — exactly one
  ``answerCallbackQuery``, and Telegram (the emulator) accepted every call made for the chat;
* the conversation row holds a known state (or none) and JSON data, its draft or claim case exists
  and belongs to the user, and every stored answer is one the domain parsers accept.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from hypothesis import strategies as st
from sqlmodel import col, select

import handlers
from bot.domain import wilayah
from bot.domain.claims import ClaimantType, DeathCause
from bot.domain.income import income_range
from bot.domain.names import PersonName, parse_name
from bot.domain.nik import Nik, Sex, parse_nik
from bot.domain.occupations import occupation
from bot.domain.phones import Phone, parse_phone
from bot.domain.tariffs import Payer
from bot.emulator import ChatClient
from bot.emulator.model import QueuedUpdate, StoredMessage
from bot.router import Routes
from storage.models import ClaimCase, Role, Submission, SubmissionStatus
from storage.models.claims import CloserHeirs, Membership, YearsPaid
from tests.support import BotHarness

# -- personas -----------------------------------------------------------------------------------

#: NIK stem of every persona: Kecamatan Juai (63.11.01), a woman born 17-08-1985 (day + 40).
NIK_STEM = "631101570885"
BIRTH = "17-08-1985"
#: Roster NIKs use serials above this, so a persona's own NIK is never on the roster.
ROSTER_OFFSET = 5000
MAX_PERSONAS = ROSTER_OFFSET - 1
FIRST_USER_ID = 700_000


@dataclass(frozen=True, slots=True)
class Persona:
    """A simulated user with their own NIK, phone and (roster) NIK."""

    user_id: int
    serial: int
    role: str
    language: str

    @property
    def nik(self) -> str:
        """The persona's own NIK (never on the roster)."""
        return f"{NIK_STEM}{self.serial:04d}"

    @property
    def roster_nik(self) -> str:
        """A NIK on the roster with birth date :data:`BIRTH` (for ``/cek`` matches)."""
        return f"{NIK_STEM}{ROSTER_OFFSET + self.serial:04d}"

    @property
    def phone(self) -> str:
        """A mobile number of the persona's own."""
        return f"62812{self.serial:07d}"

    def fill(self, template: str) -> str:
        """``template`` with ``{nik}``, ``{roster_nik}``, ``{birth}`` and ``{phone}`` filled in."""
        return (
            template.replace("{nik}", self.nik)
            .replace("{roster_nik}", self.roster_nik)
            .replace("{birth}", BIRTH)
            .replace("{phone}", "0" + self.phone[2:])
        )


def roster_csv(count: int) -> bytes:
    """A roster with the roster NIKs of the first ``count`` personas, all born on :data:`BIRTH`."""
    lines = ["nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"]
    for serial in range(1, count + 1):
        nik = f"{NIK_STEM}{ROSTER_OFFSET + serial:04d}"
        lines.append(
            f"{nik},Warga Roster,{90_000_000_000 + serial},JKK+JKM,APBD,"
            "2025-01-01,2026-12-31,1985-08-17"
        )
    return ("\n".join(lines) + "\n").encode()


# -- tours --------------------------------------------------------------------------------------


class Do(StrEnum):
    """What one step of a tour does."""

    TEXT = "text"
    PRESS = "press"  # the newest button whose callback data equals or starts with ``arg``
    CONTACT = "contact"  # share one's own number
    LINK = "link"  # open the deep link ``?start=<arg>...`` another actor was given


@dataclass(frozen=True, slots=True)
class Act:
    """One step of a tour, done by one of its actors (``{nik}`` etc. are filled per persona)."""

    do: Do
    arg: str = ""
    actor: str = "main"
    #: For :attr:`Do.LINK`: the actor whose chat holds the link.
    source: str = ""


def text(value: str, actor: str = "main") -> Act:
    """Type ``value``."""
    return Act(Do.TEXT, value, actor)


def press(data: str, actor: str = "main") -> Act:
    """Press the newest button whose data is ``data`` or starts with it."""
    return Act(Do.PRESS, data, actor)


def contact(actor: str = "main") -> Act:
    """Share one's own phone number."""
    return Act(Do.CONTACT, "", actor)


def open_link(prefix: str, *, source: str, actor: str = "main") -> Act:
    """Open the ``?start=<prefix>...`` link found in ``source``'s chat."""
    return Act(Do.LINK, prefix, actor, source)


@dataclass(frozen=True, slots=True)
class Tour:
    """A scripted conversation between the bot and one or more actors (each a fresh persona)."""

    name: str
    roles: Mapping[str, str]
    acts: tuple[Act, ...]


WORKER, FACILITATOR, ADMIN = Role.WORKER.value, Role.FACILITATOR.value, Role.ADMIN.value


def registration(actor: str = "main", *, submit: bool) -> tuple[Act, ...]:
    """Every registration question once (a wrong birth date first, "Lainnya" occupation)."""
    acts = (
        text("/daftar", actor),
        press("reg:consent:yes", actor),
        text("{nik}", actor),
        text("Siti Aminah", actor),
        text("18-08-1985", actor),  # differs from the NIK: the date check
        press("reg:mm:date", actor),
        text("{birth}", actor),
        press("reg:sex:female", actor),
        contact(actor),
        press("reg:kec:63.11.01", actor),
        press("reg:desa:", actor),
        press("reg:occ:lainnya", actor),
        text("Penjual sayur keliling", actor),
        press("reg:inc:under_1m", actor),
        press("reg:scr:self_employed:y", actor),
        press("reg:scr:civil_servant:n", actor),
        press("reg:scr:covered_elsewhere:n", actor),
        press("reg:pay:self", actor),
        press("reg:jht:n", actor),
    )
    if submit:
        return (*acts, press("reg:sum:send", actor))
    return (
        *acts,
        press("reg:sum:edit", actor),
        press("reg:sum:show", actor),
        text("/batal", actor),
        press("reg:cancel:save", actor),
        text("/daftar", actor),
    )


def broadcast_start(audience: str) -> tuple[Act, ...]:
    """An admin composes an announcement and picks ``audience``."""
    return (
        text("/siaran"),
        text("Pengumuman: <b>rapat</b> desa besok & lusa"),
        press("bc:kind:ann"),
        press(f"bc:aud:{audience}"),
    )


def invitation(admin: str, invitee: str) -> tuple[Act, ...]:
    """An admin invites ``invitee`` as facilitator of one desa; the invitee accepts."""
    return (
        text("/fasilitator", admin),
        press("fas:new", admin),
        press("fas:pk:63.11.01", admin),
        press("fas:pd:", admin),
        press("fas:done", admin),
        open_link("inv_", source=admin, actor=invitee),
        text("Rahmat Hidayat", invitee),
        contact(invitee),
        press("fas:cf:yes", invitee),
    )


TOURS: tuple[Tour, ...] = (
    Tour("registration", {"main": WORKER}, registration(submit=False)),
    Tour(
        "claim guide",
        {"main": WORKER},
        (
            text("/klaim"),
            press("klaim:cov:lookup"),
            text("{nik}"),
            text("{birth}"),
            press("klaim:cov:unknown"),
            press("klaim:cause:jkm"),
            press("klaim:who:proxy"),
            press("klaim:for:spouse"),
            press("klaim:back"),
            press("klaim:back"),
            press("klaim:who:parent"),
            press("klaim:closer:no"),
            press("klaim:benefit"),
            press("klaim:kids:2"),
            press("klaim:years:enough"),
            press("klaim:level:0:sd"),
            press("klaim:level:1:smp"),
            press("klaim:doc:"),
            press("klaim:docs"),
            press("klaim:offices"),
            text("{nik}"),
            press("klaim:help"),
            press("klaim:hkec:63.11.01"),
            press("klaim:hdesa:"),
            text("/batal"),
            text("/klaim"),
        ),
    ),
    Tour(
        "coverage lookup",
        {"main": WORKER},
        (text("/cek"), text("{roster_nik}"), text("{birth}")),
    ),
    Tour(
        "admin review",
        {"main": ADMIN, "worker": WORKER},
        (*registration("worker", submit=True), text("/tinjau"), press("rev:no")),
    ),
    Tour("admin matching", {"main": ADMIN}, (text("/cocokkan"), press("mat:up"))),
    Tour(
        "admin export",
        {"main": ADMIN},
        (text("/ekspor"), press("exp:v:dt"), press("exp:dt:type")),
    ),
    Tour(
        "broadcast to a desa",
        {"main": ADMIN},
        (*broadcast_start("desa"), press("bc:kec:63.11.01"), press("bc:dpage:1")),
    ),
    Tour("broadcast by status", {"main": ADMIN}, broadcast_start("status")),
    Tour("broadcast by end of cover", {"main": ADMIN}, broadcast_start("ending")),
    Tour("broadcast scheduled", {"main": ADMIN}, (*broadcast_start("all"), press("bc:sched"))),
    Tour("erasure", {"main": WORKER}, (text("/hapusdata"),)),
    Tour(
        "correction",
        {"main": WORKER},
        (*registration(submit=True), text("/datasaya"), press("priv:fix")),
    ),
    Tour(
        "facilitator invitation",
        {"admin": ADMIN, "main": WORKER},
        (*invitation("admin", "main")[:-1],),
    ),
    Tour(
        "assisted registration",
        {"admin": ADMIN, "main": WORKER, "resident": WORKER},
        (
            *invitation("admin", "main"),
            text("/daftarkan"),
            press("reg:consent:yes"),
            press("fw:link:"),
            text("{nik}"),
            text("/batal"),
            press("reg:cancel:save"),
            text("/daftarkan"),
            open_link("setuju_", source="main", actor="resident"),
        ),
    ),
)


def all_states(routes: Routes | None = None) -> tuple[str, ...]:
    """Every conversation state of the live routing tables (a state is a key of ``steps``)."""
    routes = routes or Routes.merge(handlers.routers())
    return tuple(sorted(routes.steps))


def callback_prefixes(routes: Routes | None = None) -> tuple[str, ...]:
    """Every button route of the live routing tables (forged data is built on them)."""
    routes = routes or Routes.merge(handlers.routers())
    return tuple(sorted(routes.callbacks))


# -- random inputs ------------------------------------------------------------------------------


class Kind(StrEnum):
    """What kind of update an :class:`Input` sends."""

    TEXT = "text"
    ANSWER = "answer"  # a plausible answer (``{nik}`` etc. filled for the persona)
    STICKER = "sticker"
    PHOTO = "photo"
    LOCATION = "location"
    VOICE = "voice"
    OWN_CONTACT = "own_contact"
    OTHER_CONTACT = "other_contact"
    DOCUMENT = "document"
    PRESS = "press"  # a real button of the newest keyboard
    STALE_PRESS = "stale_press"  # a real button of an older message
    FORGED = "forged"  # callback data nobody was given


BUTTON_KINDS = frozenset({Kind.PRESS, Kind.STALE_PRESS, Kind.FORGED})


@dataclass(frozen=True, slots=True)
class Input:
    """One random thing a user sends."""

    kind: Kind
    text: str = ""
    number: int = 0
    blob: bytes = b""
    name: str = ""
    latitude: float = 0.0
    longitude: float = 0.0

    def __repr__(self) -> str:
        """Short, readable in hypothesis' falsifying examples."""
        parts = [self.kind.value]
        if self.text:
            shown = self.text if len(self.text) <= 60 else f"{self.text[:40]}…({len(self.text)})"
            parts.append(repr(shown))
        if self.kind in {Kind.PRESS, Kind.STALE_PRESS, Kind.VOICE}:
            parts.append(str(self.number))
        if self.name:
            parts.append(repr(self.name))
        if self.blob:
            parts.append(f"{len(self.blob)} bytes")
        if self.kind is Kind.LOCATION:
            parts.append(f"{self.latitude},{self.longitude}")
        return f"Input({', '.join(parts)})"


TRICKY_TEXTS = (
    "<b>tebal</b> & <i>miring</i>",
    "<script>alert(1)</script>",
    '<a href="tg://user?id=1">klik</a>',
    "&lt;b&gt; &amp;amp; & &#0; &#x110000;",
    "</b></i></code></pre>",
    "<b><i>belum ditutup",
    "*tebal* _miring_ `kode` [link](http://x) ~coret~ ||spoiler||",
    "\u202eredro\u202c RTL override",
    "\u200b\u200c\u200d\u2060\ufeff",
    "مرحبا بالعالم",
    "שלום עולם",
    "👨\u200d👩\u200d👧\u200d👦🇮🇩🏳️\u200d🌈",
    "Ｓｉｔｉ　Ａｍｉｎａｈ",
    "٦٣١١٠١٥٧٠٨٨٥٠٠٠٣",
    "６３１１０１５７０８８５０００３",
    "6311 0157 0885 0003 9",
    "63110157088500030000000000000000000000",
    "-1",
    "0",
    "99999999999999999999999999999999",
    "1e309",
    "NaN",
    "31-02-2024",
    "29-02-2023",
    "00-00-0000",
    "1-1-1",
    "17/08/1985 17/08/1985",
    "9999-99-99",
    "\x00",
    "a\x00b",
    "\x1b[31mmerah\x1b[0m",
    "\r\n\t",
    "Kembali",
    "kembali",
    "Batal",
    "ya",
    "tidak",
    "Tanpa nomor HP",
    "'; DROP TABLE submissions; --",
    "%s %d {0} {nik} ${x}",
    "@jamsostek_bot",
    "/",
    "//daftar",
    " /daftar",
)

ANSWERS = (
    "{nik}",
    "{roster_nik}",
    "{birth}",
    "17 Agustus 1985",
    "1985-08-17",
    "Siti Aminah",
    "H. Muh. Yusuf",
    "{phone}",
    "+62 812-3456-7890",
    "0812 3456 7890",
    "Juai",
    "Batumandi",
    "Paringin Selatan",
    "Petani karet",
    "1",
    "2",
    "7",
    "30",
    "1-1-2026 sampai 31-3-2026",
    "21-11-2026",
    "22-11-2026 09:00",
    "21-11-2026 23:59",
    "Rapat desa besok jam 9",
    "data tidak lengkap",
)

COMMANDS = (
    "/start",
    "/batal",
    "/daftar",
    "/cek",
    "/klaim",
    "/bahasa",
    "/bantuan",
    "/id",
    "/pengingat",
    "/tinjau",
    "/siaran",
    "/ekspor",
    "/cocokkan",
    "/audit",
    "/admin",
    "/fasilitator",
    "/daftarkan",
    "/wargaku",
    "/bantuanklaim",
    "/datasaya",
    "/hapusdata",
    "/start inv_tidakada",
    "/start setuju_tidakada",
    "/start ref_tidakada",
    "/start x" + "y" * 70,
    "/daftar@jamsostek_bot",
    "/DAFTAR",
    "/perintahaneh",
    "/batal sekarang juga",
)

FORGED_DATA = (
    "rev:ok:1",
    "rev:ok:999999",
    "rev:no:1",
    "reg:desa:63.11.99.9999",
    "reg:kec:99.99.99",
    "reg:back:nik",
    "reg:back:tidakada",
    "reg:scr:tidakada:y",
    "reg:edit:tidakada",
    "reg:clink:1",
    "klaim:level:99:sd",
    "klaim:level:-1:xx",
    "klaim:kids:99",
    "klaim:doc:tidakada",
    "klaim:hpage:-5",
    "klaim:hpage:999999999999999999999",
    "klaim:adm:contact:1",
    "bc:days:999999999999",
    "bc:dpage:-1",
    "bc:go",
    "exp:dt:x",
    "mat:dl:exe",
    "fas:fv:1",
    "fas:rvy:1",
    "fw:r:1",
    "fok:yes",
    "lang:xx",
    "lang:en",
    "menu",
    "cek:me",
    ":",
    "::::",
    "x" * 64,
)

#: Characters slipped into an otherwise plausible answer.
NOISE = (
    "\x00",
    "\x1b",
    "\u200b",
    "\u202e",
    "\ufeff",
    "<",
    "&",
    "</b>",
    "\n",
    "\t",
    "٣",
    "６",
    "👍",
    "'",
    " " * 30,
)

DOCUMENT_NAMES = (
    "data.csv",
    "hasil.xlsx",
    "hasil.csv",
    "foto.jpg",
    "tanpa-nama",
    "../../etc/passwd",
    "a" * 200 + ".csv",
    "<b>.csv",
)

DOCUMENT_BODIES = (
    b"",
    b"nik,nama\n",
    b"referensi,nik,hasil,kpj,alasan\nBLG-AAAAAA,6311015708850001,terdaftar,123,\n",
    b"nik,nama,kpj,program,pembayar,mulai,dibayar_sampai\n1,=cmd|' /C calc'!A0,x,y,z,a,b\n",
    "nik;nama\n\u0000\u00ff\ufeff".encode(),
    b"PK\x03\x04" + bytes(60),
    b"\xff\xfe\x00\x00garbage",
)


def _fits_callback(data: str) -> bool:
    return 1 <= len(data.encode()) <= 64


def _telegram_text(value: str) -> bool:
    # Telegram delivers no empty or blank message and nothing over 4096 characters.
    return bool(value.strip()) and len(value) <= 4096


def input_strategy(callback_prefixes: Sequence[str]) -> st.SearchStrategy[Input]:
    """Random updates a user may send: text of every kind, media, contacts, files and buttons."""
    any_text = st.text(min_size=1, max_size=60)
    control = st.text(st.characters(min_codepoint=0, max_codepoint=0x1F), min_size=1, max_size=8)
    long_text = st.tuples(st.text(min_size=1, max_size=12), st.integers(300, 4096)).map(
        lambda pair: (pair[0] * (pair[1] // len(pair[0]) + 1))[: pair[1]]
    )
    mixed = st.tuples(st.sampled_from(TRICKY_TEXTS), any_text).map("".join)
    texts = st.one_of(
        any_text, control, long_text, mixed, st.sampled_from(TRICKY_TEXTS + COMMANDS)
    ).filter(_telegram_text)
    forged = st.one_of(
        st.sampled_from(FORGED_DATA),
        st.tuples(st.sampled_from(tuple(callback_prefixes)), st.text(max_size=24)).map(
            lambda pair: f"{pair[0]}:{pair[1]}"
        ),
        st.text(min_size=1, max_size=64),
    ).filter(_fits_callback)
    caption = st.one_of(st.just(""), st.text(max_size=40), st.sampled_from(TRICKY_TEXTS))
    body = st.one_of(st.sampled_from(DOCUMENT_BODIES), st.binary(max_size=300))
    mime = st.sampled_from(("text/csv", "application/octet-stream", "image/jpeg", "text/plain"))
    phone = st.one_of(
        st.text("0123456789+-() ", min_size=1, max_size=20), st.sampled_from(TRICKY_TEXTS)
    ).filter(lambda v: bool(v.strip()))
    return st.one_of(
        texts.map(lambda v: Input(Kind.TEXT, v)),
        texts.map(lambda v: Input(Kind.TEXT, v)),
        st.sampled_from(ANSWERS).map(lambda v: Input(Kind.ANSWER, v)),
        st.tuples(st.sampled_from(ANSWERS), st.sampled_from(NOISE), st.integers(0, 40)).map(
            lambda t: Input(Kind.ANSWER, t[0], number=t[2], name=t[1])
        ),
        st.integers(0, 40).map(lambda n: Input(Kind.PRESS, number=n)),
        st.integers(0, 40).map(lambda n: Input(Kind.PRESS, number=n)),
        st.integers(0, 40).map(lambda n: Input(Kind.STALE_PRESS, number=n)),
        forged.map(lambda v: Input(Kind.FORGED, v)),
        st.sampled_from(("👍", "😀", "🇮🇩")).map(lambda v: Input(Kind.STICKER, v)),
        caption.map(lambda v: Input(Kind.PHOTO, v)),
        st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False)).map(
            lambda ll: Input(Kind.LOCATION, latitude=ll[0], longitude=ll[1])
        ),
        st.integers(0, 3600).map(lambda n: Input(Kind.VOICE, number=n)),
        st.just(Input(Kind.OWN_CONTACT)),
        st.tuples(phone, st.text(min_size=1, max_size=20)).map(
            lambda pair: Input(Kind.OTHER_CONTACT, pair[0], name=pair[1])
        ),
        st.tuples(st.sampled_from(DOCUMENT_NAMES), body, mime).map(
            lambda t: Input(Kind.DOCUMENT, t[2], blob=t[1], name=t[0])
        ),
    )


#: Inputs every state receives once, in this order, before the random examples (hypothesis'
#: explicit example): the classic troublemakers, some of them inside otherwise valid answers.
NASTY: tuple[Input, ...] = (
    Input(Kind.TEXT, "\x00"),
    Input(Kind.ANSWER, "Siti Aminah", number=4, name="\x00"),
    Input(Kind.ANSWER, "Penjual sayur keliling", number=7, name="\x00"),
    Input(Kind.ANSWER, "{nik}", number=6, name="\u200b"),
    Input(Kind.ANSWER, "{phone}", number=4, name="\x00"),
    Input(Kind.ANSWER, "data tidak lengkap", number=4, name="\x00"),
    Input(Kind.TEXT, "<b>tebal</b> & <i>miring & <a href='x'>"),
    Input(Kind.TEXT, "\u202eredro\u202c \u200b\u200d 👨\u200d👩\u200d👧 مرحبا"),
    Input(Kind.TEXT, "Panjang sekali " * 273),
    Input(Kind.OTHER_CONTACT, "+1 (555) 0100", name="Orang\x00<b>Lain</b>"),
    Input(Kind.OWN_CONTACT),
    Input(Kind.DOCUMENT, "text/csv", blob=b"nik,nama\n1,\x00\n", name="da\x00ta<b>.csv"),
    Input(Kind.PHOTO, "<b>foto</b>\x00"),
    Input(Kind.STICKER, "👍"),
    Input(Kind.FORGED, "x" * 64),
    Input(Kind.STALE_PRESS, number=0),
    Input(Kind.PRESS, number=0),
)


# -- invariants ---------------------------------------------------------------------------------

#: Bot API calls that count as an answer to a message.
ANSWER_METHODS = frozenset({"sendMessage", "editMessageText", "sendDocument", "sendPhoto"})
#: Refusals the delivery layer handles by design (an edit that changes nothing, or an edit of a
#: message that cannot be edited, which it replaces by a new message).
BENIGN_REFUSALS = ("message is not modified", "message to edit not found", "can't be edited")


class LogWatch(logging.Handler):
    """Collects log records at WARNING and above; the fuzz fails on any ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        """The records since the last call."""
        taken, self.records = self.records, []
        return taken


def record_problems(
    state: str | None,
    data: Any,
    submissions: Sequence[Submission],
    cases: Sequence[ClaimCase],
    *,
    known_states: frozenset[str],
    user_id: int,
    today: date,
) -> list[str]:
    """What is wrong with one user's conversation row, drafts and claim cases (empty: nothing)."""
    problems: list[str] = []
    if state is not None and state not in known_states:
        problems.append(f"unknown state {state!r}")
    if not isinstance(data, dict):
        problems.append(f"conversation data is {type(data).__name__}, not a dict")
        data = {}
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        problems.append(f"conversation data is not JSON: {exc}")
    by_id = {s.id: s for s in submissions}
    if state and state.startswith("reg.") and state != "reg.consent":
        draft = by_id.get(data.get("sub"))
        if draft is None or draft.status != SubmissionStatus.DRAFT.value:
            problems.append(f"in {state} without an own draft (sub={data.get('sub')!r})")
    if state and state.startswith("klaim."):
        case_ids = {c.id for c in cases}
        if data.get("case") not in case_ids:
            problems.append(f"in {state} without an own claim case (case={data.get('case')!r})")
    for sub in submissions:
        problems.extend(f"submission {sub.id}: {p}" for p in submission_problems(sub, today))
    for case in cases:
        if case.user_id != user_id:
            problems.append(f"claim case {case.id} belongs to {case.user_id}")
        problems.extend(f"claim case {case.id}: {p}" for p in claim_case_problems(case))
    return problems


def _member(value: str | None, allowed: type[StrEnum]) -> bool:
    return value is None or value in allowed._value2member_map_


def submission_problems(sub: Submission, today: date) -> list[str]:
    """Answers of a submission that the registration's own parsers would not have accepted."""
    problems: list[str] = []
    if sub.status not in SubmissionStatus._value2member_map_:
        problems.append(f"status {sub.status!r}")
    if (sub.status == SubmissionStatus.DRAFT.value) != (sub.submitted_nik_index is None):
        problems.append(
            f"status {sub.status} with submitted_nik_index set="
            f"{sub.submitted_nik_index is not None}"
        )
    if sub.status != SubmissionStatus.DRAFT.value:
        if sub.submitted_nik_index != sub.nik_index:
            problems.append("submitted_nik_index differs from nik_index")
        missing = [
            name
            for name in ("nik", "full_name", "birth_date", "sex", "kecamatan_code", "desa_code")
            if getattr(sub, name) is None
        ]
        if missing:
            problems.append(f"submitted without {missing}")
    if sub.nik is not None and not (
        sub.nik.isascii() and isinstance(parse_nik(sub.nik, today=today), Nik)
    ):
        problems.append("stored NIK is not a valid NIK")
    if sub.full_name is not None:
        parsed = parse_name(sub.full_name)
        if not isinstance(parsed, PersonName) or parsed.text != sub.full_name:
            problems.append("stored name is not a tidy valid name")
    if sub.phone is not None:
        phone = parse_phone(sub.phone)
        if not isinstance(phone, Phone) or phone.e164 != sub.phone:
            problems.append("stored phone is not a valid E.164 mobile number")
    if not _member(sub.sex, Sex):
        problems.append(f"sex {sub.sex!r}")
    if not _member(sub.payer, Payer):
        problems.append(f"payer {sub.payer!r}")
    if sub.kecamatan_code is not None and wilayah.kecamatan_by_code(sub.kecamatan_code) is None:
        problems.append(f"kecamatan {sub.kecamatan_code!r}")
    if sub.desa_code is not None:
        desa = wilayah.desa_by_code(sub.desa_code)
        if desa is None or desa.kecamatan_code != sub.kecamatan_code:
            problems.append(f"desa {sub.desa_code!r} not in kecamatan {sub.kecamatan_code!r}")
    if sub.occupation_code is not None and occupation(sub.occupation_code) is None:
        problems.append(f"occupation {sub.occupation_code!r}")
    if sub.income_code is not None:
        found = income_range(sub.income_code)
        if found is None or sub.contribution_base not in (None, found.base):
            problems.append(f"income {sub.income_code!r} / base {sub.contribution_base!r}")
    return problems


def claim_case_problems(case: ClaimCase) -> list[str]:
    """Answers of a claim case outside the guide's own choices."""
    problems = [
        f"{name} {getattr(case, name)!r}"
        for name, allowed in (
            ("membership", Membership),
            ("cause", DeathCause),
            ("claimant", ClaimantType),
            ("heir", ClaimantType),
            ("closer_heirs", CloserHeirs),
            ("years_paid", YearsPaid),
        )
        if not _member(getattr(case, name), allowed)
    ]
    if case.school_children is not None and not 0 <= case.school_children <= 10:
        problems.append(f"school_children {case.school_children}")
    if len(case.child_levels) > max(case.school_children or 0, 0):
        problems.append(f"{len(case.child_levels)} levels for {case.school_children} children")
    if len(set(case.ticked)) != len(case.ticked):
        problems.append("a document ticked twice")
    masked = case.deceased_nik_masked
    if masked and (len(masked) > 20 or not masked[-4:].isdigit()):
        problems.append("deceased NIK not masked")
    return problems


# -- the world ----------------------------------------------------------------------------------


@dataclass
class Stats:
    """Counts reported in the README's reliability section."""

    inputs: Counter[str] = field(default_factory=Counter)
    inputs_at_state: Counter[str] = field(default_factory=Counter)
    seconds_by_kind: dict[str, float] = field(default_factory=dict)
    slowest: list[tuple[float, str, str]] = field(default_factory=list)
    tour_updates: int = 0
    replay_updates: int = 0
    personas: int = 0
    examples: int = 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "inputs": sum(self.inputs.values()),
            "inputs_by_kind": dict(sorted(self.inputs.items())),
            "states_fuzzed": len(self.inputs_at_state),
            "inputs_by_state": dict(sorted(self.inputs_at_state.items())),
            "seconds_by_kind": {k: round(v, 1) for k, v in sorted(self.seconds_by_kind.items())},
            "slowest_inputs": [
                {"seconds": round(sec, 2), "state": state, "input": what}
                for sec, state, what in sorted(self.slowest, reverse=True)[:10]
            ],
            "tour_updates": self.tour_updates,
            "replay_updates": self.replay_updates,
            "personas": self.personas,
            "examples": self.examples,
        }


Path = tuple[Tour, int, str]  # the tour, how many of its acts, whose state


class FuzzWorld:
    """The real bot on one database, personas, the tours' paths to every state, and the checks."""

    def __init__(self, harness: BotHarness) -> None:
        self.harness = harness
        self.routes = harness.botapp.services.routes
        self.states = all_states(self.routes)
        self.known_states = frozenset(self.states)
        self.paths: dict[str, Path] = {}
        self.stats = Stats()
        self.logs = LogWatch()
        self._next_serial = 1

    # -- set-up ---------------------------------------------------------------------------------
    async def setup(self, roster_rows: int) -> None:
        """Load a roster (as an admin sending the file), then run every tour once."""
        logging.getLogger().addHandler(self.logs)
        admin = self.harness.admin()
        await admin.send_document("roster.csv", roster_csv(roster_rows), "text/csv")
        assert "Baris dibaca" in admin.last_text, admin.transcript()
        self.logs.take()
        await self.explore()

    def close(self) -> None:
        """Detach the log watcher."""
        logging.getLogger().removeHandler(self.logs)

    @property
    def unreached(self) -> list[str]:
        """States no tour reaches."""
        return [s for s in self.states if s not in self.paths]

    async def explore(self) -> None:
        """Run every tour once, remembering the shortest prefix that reaches each state."""
        for tour in TOURS:
            cast = await self.cast(tour.roles)
            for count, act in enumerate(tour.acts, start=1):
                await self.perform(cast, act, tour=tour.name)
                self.stats.tour_updates += 1
                persona, _chat = cast[act.actor]
                state, _data = await self.check_records(persona)
                if state is not None and state not in self.paths:
                    self.paths[state] = (tour, count, act.actor)

    async def cast(self, roles: Mapping[str, str]) -> dict[str, tuple[Persona, ChatClient]]:
        """Fresh personas for a tour's actors."""
        return {actor: await self.new_persona(role) for actor, role in roles.items()}

    async def new_persona(self, role: str) -> tuple[Persona, ChatClient]:
        """A user who never wrote to the bot (every fifth one's Telegram is in English)."""
        serial = self._next_serial
        self._next_serial += 1
        if serial > MAX_PERSONAS:
            raise AssertionError("too many personas for the NIK scheme")
        language = "en" if serial % 5 == 0 else "id"
        persona = Persona(FIRST_USER_ID + serial, serial, role, language)
        self.stats.personas += 1
        if role == ADMIN:
            async with self.harness.db.transaction() as repo:
                await repo.users.set_role(user_id=persona.user_id, role=Role.ADMIN)
        chat = self.harness.chat(persona.user_id, first_name=f"P{serial}", language_code=language)
        return persona, chat

    async def reach(self, state: str) -> tuple[Persona, ChatClient]:
        """A fresh persona at ``state``, brought there by replaying its tour."""
        path = self.paths.get(state)
        if path is None:
            raise AssertionError(
                f"no tour reaches the state {state!r}: add the steps that lead there to "
                "TOURS in tests/fuzzing.py"
            )
        tour, count, actor = path
        cast = await self.cast(tour.roles)
        for act in tour.acts[:count]:
            await self.perform(cast, act, tour=tour.name)
            self.stats.replay_updates += 1
        persona, chat = cast[actor]
        got, _data = await self.conversation(persona.user_id)
        assert got == state, (
            f"replaying tour {tour.name!r} led to {got!r}, not {state!r}\n{chat.transcript()}"
        )
        return persona, chat

    # -- acting ---------------------------------------------------------------------------------
    async def perform(
        self, cast: Mapping[str, tuple[Persona, ChatClient]], act: Act, *, tour: str
    ) -> None:
        """Do one tour step as its actor, with every check of a random input."""
        persona, chat = cast[act.actor]
        emu = self.harness.emu
        match act.do:
            case Do.TEXT:
                inject = emu.send_text(persona.user_id, persona.fill(act.arg))
            case Do.CONTACT:
                inject = emu.send_contact(persona.user_id, persona.phone, own=True)
            case Do.PRESS:
                message, data = _find_button(chat, act.arg, tour)
                inject = emu.press(persona.user_id, message.message_id, data)
            case Do.LINK:
                payload = _find_link(cast[act.source][1], act.arg, tour)
                inject = emu.send_text(persona.user_id, f"/start {payload}")
        await self._deliver(persona, chat, inject, is_button=act.do is Do.PRESS, what=repr(act))

    async def apply(self, persona: Persona, chat: ChatClient, item: Input) -> None:
        """Send one random input and check every invariant."""
        state, _data = await self.conversation(persona.user_id)
        self.stats.inputs[item.kind.value] += 1
        self.stats.inputs_at_state[str(state)] += 1
        emu = self.harness.emu
        uid = persona.user_id
        is_button = item.kind in BUTTON_KINDS
        match item.kind:
            case Kind.TEXT:
                inject = emu.send_text(uid, item.text)
            case Kind.ANSWER:
                answer = persona.fill(item.text)
                at = item.number % (len(answer) + 1)
                inject = emu.send_text(uid, answer[:at] + item.name + answer[at:])
            case Kind.STICKER:
                inject = emu.send_sticker(uid, item.text)
            case Kind.PHOTO:
                inject = emu.send_photo(uid, caption=item.text or None)
            case Kind.LOCATION:
                inject = emu.send_location(uid, item.latitude, item.longitude)
            case Kind.VOICE:
                inject = emu.send_voice(uid, item.number)
            case Kind.OWN_CONTACT:
                inject = emu.send_contact(uid, persona.phone, own=True)
            case Kind.OTHER_CONTACT:
                inject = emu.send_contact(uid, item.text, own=False, first_name=item.name)
            case Kind.DOCUMENT:
                inject = emu.send_document(uid, item.name, item.blob, item.text)
            case Kind.PRESS | Kind.STALE_PRESS:
                keyboards = [m for m in chat.history if m.from_bot and m.inline_keyboard]
                if item.kind is Kind.STALE_PRESS:
                    keyboards = keyboards[:-1]
                if not keyboards:
                    inject = emu.press(uid, 1, "menu", forge=True)
                else:
                    message = keyboards[
                        -1 if item.kind is Kind.PRESS else item.number % len(keyboards)
                    ]
                    data = [d for row in message.button_data() for d in row if d]
                    chosen = data[item.number % len(data)] if data else "menu"
                    inject = emu.press(uid, message.message_id, chosen, forge=True)
            case Kind.FORGED:
                last = chat.last
                inject = emu.press(uid, last.message_id if last else 1, item.text, forge=True)
        started = time.monotonic()
        await self._deliver(persona, chat, inject, is_button=is_button, what=repr(item))
        seconds = time.monotonic() - started
        kind = item.kind.value
        self.stats.seconds_by_kind[kind] = self.stats.seconds_by_kind.get(kind, 0.0) + seconds
        self.stats.slowest.append((seconds, str(state), repr(item)))
        if len(self.stats.slowest) > 100:
            self.stats.slowest = sorted(self.stats.slowest, reverse=True)[:10]

    async def _deliver(
        self,
        persona: Persona,
        chat: ChatClient,
        inject: Any,
        *,
        is_button: bool,
        what: str,
    ) -> None:
        emu = self.harness.emu
        first_call = len(emu.calls)
        update: QueuedUpdate = await inject
        try:
            await emu.wait_delivered(update, 15.0)
            await self.harness.settle()
        except TimeoutError:
            raise AssertionError(f"no answer to {what}\n{chat.transcript()}") from None
        calls = [c for c in emu.calls[first_call:] if c.chat_id == persona.user_id]
        failures = self._check_logs()
        refused = [
            f"{c.method} refused: {c.description}"
            for c in calls
            if not c.ok and not any(b in (c.description or "") for b in BENIGN_REFUSALS)
        ]
        failures.extend(refused)
        if is_button:
            query_id = str(update.payload["id"])
            answers = [
                c
                for c in calls
                if c.method == "answerCallbackQuery"
                and c.ok
                and str(c.params.get("callback_query_id")) == query_id
            ]
            if len(answers) != 1:
                failures.append(f"button answered {len(answers)} times")
        elif not any(c.ok and c.method in ANSWER_METHODS for c in calls):
            failures.append("no reply")
        _state, _data = await self.check_records(persona, failures)

    def _check_logs(self) -> list[str]:
        problems = []
        for record in self.logs.take():
            bad = record.levelno >= logging.ERROR or record.name in {
                "bot.delivery",
                "bot.dispatch",
            }
            if bad:
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    error = record.exc_info[1]
                    text += f" [{type(error).__name__}: {error}]"
                problems.append(f"log {record.levelname} {record.name}: {text}")
        return problems

    async def conversation(self, user_id: int) -> tuple[str | None, Any]:
        """The stored state and data of a user's conversation."""
        async with self.harness.db.transaction() as repo:
            conv = await repo.conversations.get(user_id)
        return (None, {}) if conv is None else (conv.state, conv.data)

    async def check_records(
        self, persona: Persona, failures: list[str] | None = None
    ) -> tuple[str | None, Any]:
        """Check the persona's conversation, drafts and claim cases; raise on any problem."""
        failures = list(failures or [])
        uid = persona.user_id
        async with self.harness.db.transaction() as repo:
            conv = await repo.conversations.get(uid)
            session = repo.session
            subs = (
                await session.exec(
                    select(Submission).where(col(Submission.entered_by_user_id) == uid)
                )
            ).all()
            cases = (
                await session.exec(select(ClaimCase).where(col(ClaimCase.user_id) == uid))
            ).all()
        state, data = (None, {}) if conv is None else (conv.state, conv.data)
        failures.extend(
            record_problems(
                state,
                data,
                subs,
                cases,
                known_states=self.known_states,
                user_id=uid,
                today=self.harness.clock().date(),
            )
        )
        if failures:
            chat = self.harness.chat(uid)
            raise AssertionError(
                f"user {uid} ({persona.role}) in {state!r}:\n  "
                + "\n  ".join(failures)
                + f"\n{chat.transcript()[-6000:]}"
            )
        return state, data


def _find_button(chat: ChatClient, prefix: str, tour: str) -> tuple[StoredMessage, str]:
    for message in reversed(chat.history):
        if not message.from_bot:
            continue
        for row in message.button_data():
            for data in row:
                if data and (data == prefix or data.startswith(prefix)):
                    return message, data
    raise AssertionError(
        f"tour {tour!r}: no button {prefix!r} (the tour no longer matches the bot)\n"
        f"{chat.transcript()[-4000:]}"
    )


def _find_link(chat: ChatClient, prefix: str, tour: str) -> str:
    pattern = re.compile(rf"start=({re.escape(prefix)}[A-Za-z0-9_-]+)")
    for message in reversed(chat.history):
        found = pattern.search(message.text or "") if message.from_bot else None
        if found:
            return found.group(1)
    raise AssertionError(f"tour {tour!r}: no {prefix} link\n{chat.transcript()[-4000:]}")
