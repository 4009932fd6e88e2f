"""Catalogs complete in id and en, placeholders intact, money and dates formatted by babel."""

from __future__ import annotations

from datetime import date

import pytest

from bot.i18n import Catalogs, Html
from bot.i18n_check import placeholders, problems


def test_every_msgid_is_translated_with_the_same_placeholders() -> None:
    assert problems() == []


def test_both_languages_have_catalogs() -> None:
    assert set(Catalogs.load().languages) >= {"id", "en"}


@pytest.mark.parametrize(
    ("language", "amount", "expected"),
    [("id", 16_800, "Rp16.800"), ("id", 42_000_000, "Rp42.000.000"), ("en", 16_800, "Rp16,800")],
)
def test_money(language: str, amount: int, expected: str) -> None:
    assert Catalogs.load().get(language).money(amount) == expected


@pytest.mark.parametrize(
    ("language", "expected"), [("id", "7 Oktober 2025"), ("en", "October 7, 2025")]
)
def test_dates(language: str, expected: str) -> None:
    assert Catalogs.load().get(language).date(date(2025, 10, 7)) == expected


def test_placeholders_are_escaped_unless_marked_html() -> None:
    t = Catalogs.load().get("id")
    assert t("Stopped.") == "Dibatalkan."
    text = "{a} {b}".format  # the translator formats after translating, escaping values
    assert text(a="x", b="y") == "x y"
    assert t.t("{x}", x="<b>&") == "&lt;b&gt;&amp;"
    assert t.t("{x}", x=Html("<b>ok</b>")) == "<b>ok</b>"


def test_unknown_language_falls_back_to_default() -> None:
    catalogs = Catalogs.load()
    assert catalogs.get("fr").language == "id"
    assert catalogs.get(None).language == "id"


def test_placeholder_parser() -> None:
    assert placeholders("Rp{amount} on {date}") == {"amount", "date"}
    assert placeholders("no placeholders") == set()
