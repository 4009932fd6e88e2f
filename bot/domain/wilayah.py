"""Balangan's kecamatan and desa/kelurahan: lists, code look-ups and tolerant name search.

The table is ``bot/data/wilayah.csv`` (Kemendagri codes, Kepmendagri No. 300.2.2-2138/2025);
spelling variants, word abbreviations and words to ignore are in
``bot/data/wilayah_variants.toml``. Search ignores case, spaces and punctuation, so
"lokbatung", "Lok-Batung" and "LOK BATUNG" are all an exact match for "Lok Batung".

Several desa share a name with their kecamatan, and "Galumbang" exists in two kecamatan: the bot
asks for the kecamatan first and then searches only its desa.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from typing import Generic, TypeVar

from bot.domain.facts import load_csv, load_toml

T = TypeVar("T")

_CSV = "wilayah.csv"
_VARIANTS = "wilayah_variants.toml"
#: Fuzzy matches below this difflib ratio are not offered ("Galombang"/"Galumbang" is 0.89).
FUZZY_CUTOFF = 0.75
#: Typed text shorter than this is not used for prefix matching ("Ba" would match half the list).
MIN_PARTIAL_LENGTH = 3
#: At most this many candidates come back from a search without a certain match.
MAX_CANDIDATES = 6
_APOSTROPHES = "'`´‘’ʼʻ"


class DesaKind(StrEnum):
    """Whether a village is a *desa* (village) or a *kelurahan* (urban ward)."""

    DESA = "desa"
    KELURAHAN = "kelurahan"


class MatchKind(StrEnum):
    """How a search result matched; EXACT and VARIANT are certain, the others need confirming."""

    EXACT = "exact"
    VARIANT = "variant"
    PARTIAL = "partial"
    FUZZY = "fuzzy"


_KIND_RANK = {kind: rank for rank, kind in enumerate(MatchKind)}


@dataclass(frozen=True, slots=True)
class Kecamatan:
    """A kecamatan (district) of Balangan.

    Attributes:
        code: Kemendagri code with dots, e.g. ``"63.11.01"``.
        name: Official name, e.g. ``"Juai"``.
    """

    code: str
    name: str

    @property
    def nik_prefix(self) -> str:
        """The first six NIK digits of people first registered here, e.g. ``"631101"``."""
        return self.code.replace(".", "")


@dataclass(frozen=True, slots=True)
class Desa:
    """A desa or kelurahan of Balangan.

    Attributes:
        code: Kemendagri code with dots, e.g. ``"63.11.01.2001"``.
        kecamatan_code: Code of its kecamatan, e.g. ``"63.11.01"``.
        name: Official name (a proper noun, shown as is).
        kind: Desa or kelurahan.
    """

    code: str
    kecamatan_code: str
    name: str
    kind: DesaKind


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """One search result.

    Attributes:
        item: The kecamatan or desa found.
        kind: How it matched.
        score: Similarity from 0 to 1 (1 for exact and variant matches).
    """

    item: T
    kind: MatchKind
    score: float

    @property
    def certain(self) -> bool:
        """True when the bot may take the match without asking "did you mean...?"."""
        return self.kind in (MatchKind.EXACT, MatchKind.VARIANT)


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    item: T
    key: str
    words: tuple[str, ...]
    variant_keys: frozenset[str]


# --- loading ---------------------------------------------------------------------------------


@cache
def _rows() -> tuple[Desa, ...]:
    return tuple(
        Desa(
            code=row["kode"],
            kecamatan_code=row["kode_kecamatan"],
            name=row["nama"],
            kind=DesaKind(row["jenis"]),
        )
        for row in load_csv(_CSV)
    )


@cache
def kecamatan_list() -> tuple[Kecamatan, ...]:
    """The 8 kecamatan, in Kemendagri code order (stable across releases)."""
    names = {row["kode_kecamatan"]: row["kecamatan"] for row in load_csv(_CSV)}
    return tuple(Kecamatan(code, names[code]) for code in sorted(names))


@lru_cache(maxsize=16)  # bounded: the code may come from a (stale or forged) button
def desa_list(kecamatan_code: str) -> tuple[Desa, ...]:
    """The desa/kelurahan of one kecamatan, sorted by name; empty for an unknown code."""
    code = _dotted(kecamatan_code)
    return tuple(
        sorted((d for d in _rows() if d.kecamatan_code == code), key=lambda d: d.name.casefold())
    )


@cache
def kecamatan_nik_prefixes() -> frozenset[str]:
    """Six-digit NIK prefixes of Balangan's kecamatan (``631101`` … ``631108``)."""
    return frozenset(k.nik_prefix for k in kecamatan_list())


def _dotted(code: str) -> str:
    """Accept ``6311012001`` as well as ``63.11.01.2001``."""
    digits = "".join(ch for ch in code if ch.isascii() and ch.isdigit())
    parts = [digits[:2], digits[2:4], digits[4:6], digits[6:]]
    return ".".join(part for part in parts if part)


def kecamatan_by_code(code: str) -> Kecamatan | None:
    """The kecamatan with this code (dots optional), or None."""
    wanted = _dotted(code)
    return next((k for k in kecamatan_list() if k.code == wanted), None)


def desa_by_code(code: str) -> Desa | None:
    """The desa/kelurahan with this code (dots optional), or None."""
    wanted = _dotted(code)
    return next((d for d in _rows() if d.code == wanted), None)


# --- tolerant search -------------------------------------------------------------------------


@cache
def _aliases() -> tuple[Mapping[str, str], frozenset[str]]:
    data = load_toml(_VARIANTS)
    return data["word_aliases"], frozenset(data["ignored_words"]["words"])


def _words(text: str) -> tuple[str, ...]:
    aliases, ignored = _aliases()
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    letters = []
    for char in decomposed:
        if unicodedata.combining(char) or char in _APOSTROPHES:
            continue  # "Ha'uwai" = "Hauwai", "Ju'uh" = "Juuh", accents ignored
        letters.append(char if char.isalnum() else " ")
    words = "".join(letters).split()
    while len(words) > 1 and words[0] in ignored:
        words = words[1:]  # "Desa Juai", "Kec. Halong"
    return tuple(aliases.get(word, word) for word in words)


def normalise_key(text: str) -> str:
    """The comparison key of a place name: lower case, no accents, spaces or punctuation.

    Example: ``normalise_key("Sei Pumpung") == normalise_key("sungai-pumpung")``.
    """
    return "".join(_words(text))


def _entry(item: T, name: str, variants: Iterable[str]) -> _Entry[T]:
    return _Entry(
        item=item,
        key=normalise_key(name),
        words=_words(name),
        variant_keys=frozenset(normalise_key(v) for v in variants),
    )


@cache
def _kecamatan_entries() -> tuple[_Entry[Kecamatan], ...]:
    variants = load_toml(_VARIANTS)["kecamatan_variants"]
    return tuple(_entry(k, k.name, variants.get(k.name, ())) for k in kecamatan_list())


@lru_cache(maxsize=16)
def _desa_entries(kecamatan_code: str | None) -> tuple[_Entry[Desa], ...]:
    variants = load_toml(_VARIANTS)["desa_variants"]
    desa = _rows() if kecamatan_code is None else desa_list(kecamatan_code)
    return tuple(_entry(d, d.name, variants.get(d.name, ())) for d in desa)


def _similarity(key: str, entry: _Entry[T]) -> float:
    targets = [entry.key, *entry.variant_keys, *(w for w in entry.words if len(w) > 3)]
    return max(difflib.SequenceMatcher(None, key, target).ratio() for target in targets)


def _search(entries: Sequence[_Entry[T]], typed: str) -> list[Match[T]]:
    key = normalise_key(typed)
    if not key:
        return []
    exact = [Match(e.item, MatchKind.EXACT, 1.0) for e in entries if e.key == key]
    if exact:
        return exact
    variant = [Match(e.item, MatchKind.VARIANT, 1.0) for e in entries if key in e.variant_keys]
    if variant:
        return variant

    found: list[Match[T]] = []
    for entry in entries:
        score = _similarity(key, entry)
        partial = len(key) >= MIN_PARTIAL_LENGTH and (
            entry.key.startswith(key) or any(word.startswith(key) for word in entry.words)
        )
        if partial:
            found.append(Match(entry.item, MatchKind.PARTIAL, score))
        elif score >= FUZZY_CUTOFF:
            found.append(Match(entry.item, MatchKind.FUZZY, score))
    found.sort(key=lambda m: (_KIND_RANK[m.kind], -m.score))
    return found[:MAX_CANDIDATES]


def find_kecamatan(typed: str) -> list[Match[Kecamatan]]:
    """Find a kecamatan by a typed name.

    Args:
        typed: What the user typed, e.g. ``"batumandi"`` or ``"Kec. Halong"``.

    Returns:
        Exact or variant matches alone when there are any (normally one, ``certain``);
        otherwise prefix and close-spelling candidates, best first (at most
        :data:`MAX_CANDIDATES`); empty when nothing is close.
    """
    return _search(_kecamatan_entries(), typed)


def find_desa(kecamatan_code: str | None, typed: str) -> list[Match[Desa]]:
    """Find a desa/kelurahan by a typed name within one kecamatan.

    Args:
        kecamatan_code: The kecamatan chosen first (dots optional); None searches all of
            Balangan (e.g. to tell the user that the desa is in another kecamatan).
        typed: What the user typed, e.g. ``"sungai pumpung"``, ``"Lokbatung"``, ``"galombang"``.

    Returns:
        Exact or variant matches alone when there are any; otherwise prefix and
        close-spelling candidates, best first (at most :data:`MAX_CANDIDATES`), which the bot
        offers as buttons; empty when nothing is close. Several exact matches are possible only
        when searching all kecamatan ("Galumbang").
    """
    code = None if kecamatan_code is None else _dotted(kecamatan_code)
    return _search(_desa_entries(code), typed)


# --- paging ----------------------------------------------------------------------------------


def page(items: Sequence[T], page_no: int, per_page: int) -> tuple[tuple[T, ...], bool, bool]:
    """One page of a button list.

    Args:
        items: The whole list.
        page_no: Zero-based page number; out-of-range numbers (a stale button) are clamped to the
            first or last page.
        per_page: Items per page (at least 1).

    Returns:
        ``(items on the page, has_prev, has_next)``.
    """
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    last = max(0, (len(items) - 1) // per_page)
    page_no = min(max(page_no, 0), last)
    start = page_no * per_page
    return tuple(items[start : start + per_page]), page_no > 0, page_no < last
