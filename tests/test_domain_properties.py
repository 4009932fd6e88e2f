"""Property-based tests (hypothesis) for the registration parsers."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.domain.dates import DateInvalid, age_on, parse_birth_date
from bot.domain.facts import load_toml
from bot.domain.names import PersonName, parse_name
from bot.domain.nik import Nik, NikInvalid, Sex, parse_nik, province_codes
from bot.domain.phones import Phone, parse_phone

TODAY = date(2026, 5, 1)
# Loaders are cached after the first call; no example should hit the deadline afterwards.
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SEPARATORS = st.sampled_from(["", "", "", " ", ".", "-", " - ", "  "])


# --- NIK ---------------------------------------------------------------------------------------


@st.composite
def valid_niks(draw: st.DrawFn) -> tuple[str, date, Sex]:
    """A valid NIK with the birth date and sex it encodes (within the last 100 years)."""
    province = draw(st.sampled_from(sorted(province_codes())))
    region = draw(st.integers(0, 9999))
    born = draw(st.dates(min_value=TODAY - timedelta(days=36_000), max_value=TODAY))
    sex = draw(st.sampled_from(list(Sex)))
    serial = draw(st.integers(1, 9999))
    day = born.day + (40 if sex is Sex.FEMALE else 0)
    digits = f"{province}{region:04d}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    assume(len(set(digits)) > 1)
    return digits, born, sex


@PROFILE
@given(st.text())
def test_parse_nik_never_raises(raw):
    assert isinstance(parse_nik(raw, today=TODAY), Nik | NikInvalid)


@PROFILE
@given(st.text(alphabet="0123456789 .-O", max_size=24))
def test_parse_nik_never_raises_on_digit_like_text(raw):
    assert isinstance(parse_nik(raw, today=TODAY), Nik | NikInvalid)


@PROFILE
@given(valid_niks())
def test_valid_nik_round_trips(case):
    digits, born, sex = case
    result = parse_nik(digits, today=TODAY)
    assert isinstance(result, Nik)
    assert result.digits == digits
    assert result.birth_date == born
    assert result.sex is sex
    assert result.masked().endswith(digits[-4:])
    assert digits[:12] not in result.masked()


@PROFILE
@given(valid_niks(), st.lists(_SEPARATORS, min_size=17, max_size=17))
def test_nik_formatting_variants_parse_identically(case, separators):
    digits = case[0]
    typed = separators[0] + "".join(d + s for d, s in zip(digits, separators[1:], strict=True))
    assert parse_nik(typed, today=TODAY) == parse_nik(digits, today=TODAY)


# --- dates -------------------------------------------------------------------------------------


def _month_words() -> dict[int, list[str]]:
    return {int(m["number"]): list(m["names"]) for m in load_toml("months")["month"]}


_FORMATS = [
    "{d:02d}-{m:02d}-{y}",
    "{d}/{m}/{yy:02d}",
    "{d:02d}.{m:02d}.{y}",
    "{d} {m} {y}",
    "{d:02d}{m:02d}{y}",
    "{d:02d}{m:02d}{yy:02d}",
    "{y}-{m:02d}-{d:02d}",
    "{d} {word} {y}",
    "{d}-{Word}-{y}",
    "{d} {WORD} {yy:02d}",
    "{Word} {d}, {y}",
    "{d} {word}. {y}",
]


@PROFILE
@given(
    st.dates(
        min_value=TODAY.replace(year=TODAY.year - 65) + timedelta(days=1),
        max_value=TODAY.replace(year=TODAY.year - 15),
    ),
    st.sampled_from(_FORMATS),
    st.data(),
)
def test_typed_date_formats_parse_to_the_same_date(born, fmt, data):
    word = data.draw(st.sampled_from(_month_words()[born.month]))
    typed = fmt.format(
        d=born.day,
        m=born.month,
        y=born.year,
        yy=born.year % 100,
        word=word,
        Word=word.title(),
        WORD=word.upper(),
    )
    assert 15 <= age_on(born, TODAY) <= 65
    assert parse_birth_date(typed, today=TODAY, min_age=15, max_age=65) == born


@PROFILE
@given(st.text())
def test_parse_birth_date_never_raises(raw):
    assert isinstance(parse_birth_date(raw, today=TODAY), date | DateInvalid)


# --- phones ------------------------------------------------------------------------------------

_MOBILE_PREFIXES = ["811", "812", "813", "821", "822", "852", "853", "857", "878", "896", "899"]


@st.composite
def typed_mobiles(draw: st.DrawFn) -> str:
    """An Indonesian mobile number in one of the ways people type or share it."""
    prefix = draw(st.sampled_from(_MOBILE_PREFIXES))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=8))
    national = prefix + rest
    lead = draw(st.sampled_from(["0", "+62", "62", "+62 ", "0062"]))
    sep = draw(st.sampled_from(["", " ", "-"]))
    groups = [national[:3], national[3:7], national[7:]]
    return lead + sep.join(groups)


@PROFILE
@given(typed_mobiles())
def test_typed_mobiles_are_valid_and_normalisation_is_idempotent(typed):
    result = parse_phone(typed)
    assert isinstance(result, Phone), typed
    assert result.e164.startswith("+628")
    assert parse_phone(result.e164) == result
    assert parse_phone(result.e164[1:]) == result  # shared contact without "+"


@PROFILE
@given(st.one_of(st.text(), st.text(alphabet="0123456789+- ()", max_size=20)))
def test_phone_normalisation_is_idempotent_on_any_text(raw):
    result = parse_phone(raw)
    if isinstance(result, Phone):
        assert parse_phone(result.e164) == result


# --- names -------------------------------------------------------------------------------------

_NAME_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCZÉéßİıǆ '’.-\t", max_size=110),
)


@PROFILE
@given(_NAME_TEXT)
def test_names_never_raise_and_output_reparses_to_itself(raw):
    result = parse_name(raw)
    if isinstance(result, PersonName):
        assert parse_name(result.text) == result
        assert result.text == result.text.strip()
        assert "  " not in result.text
