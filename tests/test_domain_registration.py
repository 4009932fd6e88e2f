"""Example-based tests for the registration domain layer (FACTS.md §1, §3, §6, §7)."""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

import pytest

from bot.domain import (
    dates,
    facts,
    income,
    names,
    nik,
    occupations,
    screening,
    tariffs,
    wilayah,
)
from bot.domain.dates import DateError, DateInvalid, DatePart, parse_birth_date
from bot.domain.names import PersonName, PersonNameError, PersonNameInvalid, parse_name
from bot.domain.nik import Nik, NikError, NikInvalid, Sex, parse_nik
from bot.domain.phones import Phone, PhoneError, PhoneInvalid, mask_phone, parse_phone
from bot.domain.tariffs import Payer, monthly_contribution

TODAY = date(2026, 5, 1)
#: Juai (63.11.01), born 17 August 1985, serial 0001.
NIK_MALE = "6311011708850001"


def _nik(raw: str, today: date = TODAY) -> Nik:
    result = parse_nik(raw, today=today)
    assert isinstance(result, Nik), result
    return result


def _nik_error(raw: str) -> NikInvalid:
    result = parse_nik(raw, today=TODAY)
    assert isinstance(result, NikInvalid), result
    return result


# --- facts loader ------------------------------------------------------------------------------


def test_load_toml_is_immutable_and_suffix_optional():
    data = facts.load_toml("tariffs")
    assert data == facts.load_toml("tariffs.toml")
    assert isinstance(data, MappingProxyType)
    assert isinstance(data["confirmed_bases"], tuple)
    with pytest.raises(TypeError):
        data["confirmed_bases"] = ()
    assert isinstance(data["jkk"][0], MappingProxyType)


def test_load_csv_rows_are_read_only_mappings():
    rows = facts.load_csv("wilayah")
    assert len(rows) == 157
    assert rows[0]["kode"] == "63.11.01.2001"
    assert rows[0]["nama"] == "Muara Ninian"
    with pytest.raises(TypeError):
        rows[0]["nama"] = "x"


def test_loader_refuses_paths_outside_data_dir():
    with pytest.raises(ValueError, match="plain file name"):
        facts.load_toml("../pyproject.toml")
    with pytest.raises(FileNotFoundError):
        facts.load_toml("no_such_file")


# --- NIK ---------------------------------------------------------------------------------------


def test_valid_male_nik():
    value = _nik(NIK_MALE)
    assert value.digits == NIK_MALE
    assert value.birth_date == date(1985, 8, 17)
    assert value.sex is Sex.MALE
    assert value.region_code == "631101"
    assert value.province_code == "63"
    assert value.serial == "0001"
    assert value.is_balangan
    assert value.masked() == "************0001"


def test_female_day_has_40_added():
    value = _nik("6311015708850001")
    assert value.sex is Sex.FEMALE
    assert value.birth_date == date(1985, 8, 17)


def test_masked_and_repr_hide_digits():
    value = _nik("6311011708853456")
    assert value.masked() == "************3456"
    assert str(value) == "************3456"
    assert "631101" not in repr(value)
    assert nik.mask_nik("6311011708853456") == "************3456"


@pytest.mark.parametrize(
    "typed",
    [
        "6311 0117 0885 0001",
        "6311.0117.0885.0001",
        "6311-01-170885-0001",
        " 6311011708850001\n",
        "６３１１０１１７０８８５０００１",  # full-width digits from some keyboards
        "6311 01 17–08–85 0001",  # en dash
    ],
)
def test_separators_are_ignored(typed):
    assert _nik(typed) == _nik(NIK_MALE)


@pytest.mark.parametrize(
    ("typed", "balangan"),
    [
        ("6311081708850001", True),  # Tebing Tinggi (08)
        ("6311091708850001", False),  # no kecamatan 09 in Balangan
        ("6309011708850001", False),  # another regency of Kalimantan Selatan
        ("3171011708850001", False),  # Jakarta
        ("9601011708850001", False),  # Papua Barat Daya
    ],
)
def test_nik_from_anywhere_is_valid_but_only_6311_01_to_08_is_balangan(typed, balangan):
    assert _nik(typed).is_balangan is balangan


def test_not_digits_names_the_characters():
    problem = _nik_error("63110117O885000l")
    assert problem.error is NikError.NOT_DIGITS
    assert problem.part == "Ol"
    assert problem.params == {"part": "Ol"}


@pytest.mark.parametrize(("typed", "got"), [("631101170885001", 15), ("63110117088500011", 17)])
def test_wrong_length_reports_count(typed, got):
    problem = _nik_error(typed)
    assert problem.error is NikError.WRONG_LENGTH
    assert problem.got == got
    assert problem.params == {"got": got}


@pytest.mark.parametrize("typed", ["", "   ", " - . "])
def test_empty(typed):
    assert _nik_error(typed).error is NikError.EMPTY


@pytest.mark.parametrize(
    "province", ["00", "10", "20", "22", "37", "50", "54", "66", "77", "83", "97"]
)
def test_unknown_province(province):
    problem = _nik_error(province + "11011708850001")
    assert problem.error is NikError.UNKNOWN_PROVINCE
    assert problem.part == province


@pytest.mark.parametrize(
    "province",
    ["11", "19", "21", "31", "36", "51", "53", "61", "65", "71", "76", "81", "82", "91", "96"],
)
def test_every_listed_province_range_is_valid(province):
    assert isinstance(parse_nik(province + "11011708850001", today=TODAY), Nik)


@pytest.mark.parametrize("day", ["00", "32", "35", "40", "72", "99"])
def test_impossible_day(day):
    problem = _nik_error(f"631101{day}08850001")
    assert problem.error is NikError.IMPOSSIBLE_DAY
    assert problem.part == day


@pytest.mark.parametrize("day", ["01", "31", "41", "71"])
def test_boundary_days_are_valid(day):
    assert isinstance(parse_nik(f"631101{day}08850001", today=TODAY), Nik)


@pytest.mark.parametrize("month", ["00", "13", "99"])
def test_impossible_month(month):
    problem = _nik_error(f"63110117{month}850001")
    assert problem.error is NikError.IMPOSSIBLE_MONTH
    assert problem.part == month


@pytest.mark.parametrize("ddmmyy", ["310285", "710285", "300285", "290201", "310485"])
def test_impossible_date(ddmmyy):
    problem = _nik_error(f"631101{ddmmyy}0001")
    assert problem.error is NikError.IMPOSSIBLE_DATE
    assert problem.part == ddmmyy


def test_29_february_00_is_2000():
    assert _nik("6311012902000001").birth_date == date(2000, 2, 29)


def test_zero_serial():
    assert _nik_error("6311011708850000").error is NikError.ZERO_SERIAL


@pytest.mark.parametrize("digit", "0123456789")
def test_all_same_digit(digit):
    assert _nik_error(digit * 16).error is NikError.ALL_SAME_DIGIT


@pytest.mark.parametrize(
    ("ddmmyy", "expected"),
    [
        ("010125", date(2025, 1, 1)),  # recent past: a baby, still a valid NIK
        ("010426", date(2026, 4, 1)),
        ("010626", date(1926, 6, 1)),  # later this year would be in the future
        ("010130", date(1930, 1, 1)),
        ("010100", date(2000, 1, 1)),
    ],
)
def test_century_is_the_most_recent_past(ddmmyy, expected):
    assert _nik(f"631101{ddmmyy}0001").birth_date == expected


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("siti aminah", "Siti Aminah"),
        ("MUHAMMAD", "Muhammad"),
        ("  siti   nur\taisyah ", "Siti Nur Aisyah"),
        ("H. AHMAD YANI", "H. Ahmad Yani"),
        ("h. ahmad", "H. Ahmad"),
        ("hj. SITI", "Hj. Siti"),
        ("ma'ruf amin", "Ma'ruf Amin"),
        ("MA’RUF", "Ma'ruf"),  # curly apostrophe made plain
        ("nur-aini", "Nur-Aini"),
        ("NUR–AINI", "Nur-Aini"),  # en dash made a hyphen
        ("josé", "José"),
        ("Jose\u0301", "José"),  # decomposed accent composed
        ("m.yusuf", "M.Yusuf"),
        ("Al", "Al"),
    ],
)
def test_name_is_tidied(typed, expected):
    assert parse_name(typed) == PersonName(expected)


def test_forbidden_chars_named_once_in_order():
    result = parse_name("Ahmad 123 @ahmad1")
    assert isinstance(result, PersonNameInvalid)
    assert result.error is PersonNameError.FORBIDDEN_CHARS
    assert result.chars == "123@"
    assert result.params == {"chars": "123@"}


@pytest.mark.parametrize("typed", ["", "   ", "...", "'-."])
def test_no_letters(typed):
    result = parse_name(typed)
    assert isinstance(result, PersonNameInvalid)
    assert result.error is PersonNameError.NO_LETTERS


def test_too_short_and_too_long_use_registration_toml_limits():
    limits = names.name_limits()
    assert (limits.min_length, limits.max_length) == (2, 100)
    short = parse_name("a")
    assert isinstance(short, PersonNameInvalid)
    assert short.error is PersonNameError.TOO_SHORT
    assert short.params == {"got": 1, "limit": 2}
    long = parse_name("a" * 101)
    assert isinstance(long, PersonNameInvalid)
    assert long.error is PersonNameError.TOO_LONG
    assert long.params == {"got": 101, "limit": 100}
    assert isinstance(parse_name("a" * 100), PersonName)


# --- birth dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "17-08-1985",
        "17/8/85",
        "17.08.1985",
        "17 8 1985",
        "17 Agustus 1985",
        "17 agt 1985",
        "17 agu 1985",
        "17 Ags 1985",
        "17-Agu-1985",
        "17 agt. 1985",
        "17 AGUSTUS 1985",
        "17 August 1985",
        "17 Aug 1985",
        "August 17, 1985",
        "1985-08-17",
        "17081985",
        "170885",
        "17 agustus '85",
        "17 agust 1985",  # unlisted prefix of one month
        "17 agustsu 1985",  # typo
        "１７/０８/１９８５",
    ],
)
def test_birth_date_formats(typed):
    assert parse_birth_date(typed, today=TODAY) == date(1985, 8, 17)


@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("1 jan 1990", 1),
        ("1 peb 1990", 2),
        ("1 pebruari 1990", 2),
        ("1 mrt 1990", 3),
        ("1 mei 1990", 5),
        ("1 may 1990", 5),
        ("1 jun 1990", 6),
        ("1 juli 1990", 7),
        ("1 sept 1990", 9),
        ("1 okt 1990", 10),
        ("1 oct 1990", 10),
        ("1 nop 1990", 11),
        ("1 nopember 1990", 11),
        ("1 des 1990", 12),
        ("1 dec 1990", 12),
    ],
)
def test_month_names_from_months_toml(typed, month):
    assert parse_birth_date(typed, today=TODAY) == date(1990, month, 1)


@pytest.mark.parametrize("typed", ["", "hello", "17 8", "17 ma 1985", "17/08/985", "17#08#1985"])
def test_unrecognised(typed):
    assert parse_birth_date(typed, today=TODAY) == DateInvalid(DateError.UNRECOGNISED)


@pytest.mark.parametrize("typed", ["31/02/1985", "29/02/1985", "00/01/1985", "17/13/1985"])
def test_impossible_date_typed(typed):
    assert parse_birth_date(typed, today=TODAY) == DateInvalid(DateError.IMPOSSIBLE_DATE)


def test_future():
    assert parse_birth_date("2/5/2026", today=TODAY) == DateInvalid(DateError.IN_FUTURE)


def test_default_age_limits_are_15_to_65_and_inclusive():
    assert dates.age_limits() == dates.AgeLimits(min_age=15, max_age=65)
    assert parse_birth_date("1/5/2011", today=TODAY) == date(2011, 5, 1)  # 15 today
    young = parse_birth_date("2/5/2011", today=TODAY)
    assert young == DateInvalid(DateError.TOO_YOUNG, limit=15, age=14)
    assert isinstance(young, DateInvalid)
    assert young.params == {"limit": 15, "age": 14}
    assert parse_birth_date("2/5/1960", today=TODAY) == date(1960, 5, 2)  # 65 until tomorrow
    assert parse_birth_date("1/5/1960", today=TODAY) == DateInvalid(
        DateError.TOO_OLD, limit=65, age=66
    )


def test_age_limits_can_be_overridden():
    assert parse_birth_date("1/1/2009", today=TODAY, min_age=18) == DateInvalid(
        DateError.TOO_YOUNG, limit=18, age=17
    )
    assert parse_birth_date("1/1/1950", today=TODAY, max_age=80) == date(1950, 1, 1)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("17/8/85", date(1985, 8, 17)),
        ("1/1/10", date(2010, 1, 1)),  # 16: 2010, not 1910
        ("1/1/61", date(1961, 1, 1)),  # 65
        ("29/2/00", date(2000, 2, 29)),
    ],
)
def test_two_digit_year_is_most_recent_plausible(typed, expected):
    assert parse_birth_date(typed, today=TODAY) == expected


def test_two_digit_year_without_plausible_century_reports_age():
    # 2020 (age 6) is the most recent past candidate: reported as too young, not as 1920.
    assert parse_birth_date("1/1/20", today=TODAY) == DateInvalid(
        DateError.TOO_YOUNG, limit=15, age=6
    )


def test_age_on_leap_day_birthday():
    assert dates.age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert dates.age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18


def test_compare_with_nik():
    value = _nik(NIK_MALE)
    assert dates.compare_with_nik(value, date(1985, 8, 17)) == []
    assert dates.compare_with_nik(value, date(1985, 8, 18)) == [DatePart.DAY]
    assert dates.compare_with_nik(value, date(1986, 7, 17)) == [DatePart.MONTH, DatePart.YEAR]
    # Only two year digits are in the NIK: a different century is not a mismatch.
    assert dates.compare_with_nik(value, date(1885, 8, 17)) == []


def test_regency_today_is_a_date():
    assert isinstance(dates.regency_today(), date)


# --- phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "081234567890",
        "0812-3456-7890",
        "0812 3456 7890",
        "+62 812 3456 7890",
        "+6281234567890",
        "6281234567890",  # Telegram shared contact without "+"
        "81234567890",  # leading 0 forgotten
        "(0812) 3456.7890",
        "0062 812 3456 7890",
    ],
)
def test_phone_normalised_to_e164(typed):
    assert parse_phone(typed) == Phone("+6281234567890")


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", PhoneError.NOT_A_NUMBER),
        ("abc", PhoneError.NOT_A_NUMBER),
        ("0812 3456 789O", PhoneError.NOT_A_NUMBER),
        ("0812+3456", PhoneError.NOT_A_NUMBER),
        ("+14155552671", PhoneError.NOT_INDONESIAN),
        ("+60 12-345 6789", PhoneError.NOT_INDONESIAN),
        ("021-1234567", PhoneError.NOT_MOBILE),
        ("+62 511 3301234", PhoneError.NOT_MOBILE),
        ("0812345", PhoneError.TOO_SHORT),
        ("0811", PhoneError.TOO_SHORT),
        ("+62", PhoneError.TOO_SHORT),
        ("08123456789012345", PhoneError.TOO_LONG),
    ],
)
def test_phone_errors(typed, error):
    assert parse_phone(typed) == PhoneInvalid(error)


def test_mask_phone():
    assert mask_phone("+6281234567890") == "+62812****7890"
    assert Phone("+62811234567").masked() == "+62811**4567"
    assert mask_phone("12345") == "*2345"


# --- wilayah -----------------------------------------------------------------------------------


def test_kecamatan_list_in_code_order():
    listed = wilayah.kecamatan_list()
    assert [k.name for k in listed] == [
        "Juai",
        "Halong",
        "Awayan",
        "Batu Mandi",
        "Lampihong",
        "Paringin",
        "Paringin Selatan",
        "Tebing Tinggi",
    ]
    assert listed[0].code == "63.11.01"
    assert wilayah.kecamatan_nik_prefixes() == {f"6311{n:02d}" for n in range(1, 9)}


def test_desa_lists():
    counts = {k.code: len(wilayah.desa_list(k.code)) for k in wilayah.kecamatan_list()}
    assert sum(counts.values()) == 157
    assert counts["63.11.06"] == 16
    paringin = wilayah.desa_list("631106")  # dots optional
    assert [d.name for d in paringin] == sorted((d.name for d in paringin), key=str.casefold)
    kelurahan = [d.name for d in paringin if d.kind is wilayah.DesaKind.KELURAHAN]
    assert sorted(kelurahan) == ["Paringin Kota", "Paringin Timur"]
    assert wilayah.desa_list("63.11.99") == ()


def test_lookup_by_code():
    assert wilayah.kecamatan_by_code("63.11.08") == wilayah.Kecamatan("63.11.08", "Tebing Tinggi")
    desa = wilayah.desa_by_code("6311082004")
    assert desa is not None
    assert desa.name == "Ju'uh"
    assert desa.kecamatan_code == "63.11.08"
    assert wilayah.desa_by_code("63.11.08.9999") is None
    assert wilayah.kecamatan_by_code("") is None


def test_source_note_for_csv():
    source = facts.load_toml("wilayah_variants")["source"]
    assert source["regulation"] == "Kepmendagri No. 300.2.2-2138/2025"
    assert source["file"] == "wilayah.csv"


def test_every_variant_key_is_an_official_name():
    data = facts.load_toml("wilayah_variants")
    desa_names = {row["nama"] for row in facts.load_csv("wilayah")}
    kecamatan_names = {row["kecamatan"] for row in facts.load_csv("wilayah")}
    assert set(data["desa_variants"]) <= desa_names
    assert set(data["kecamatan_variants"]) <= kecamatan_names


@pytest.mark.parametrize(
    ("kecamatan", "typed", "official"),
    [
        # FACTS.md §7 spelling variants
        ("63.11.03", "Ambakiyang", "Ambakiang"),
        ("63.11.03", "Sungai Pumpung", "Sei Pumpung"),
        ("63.11.04", "Hamparaya", "Hampa Raya"),
        ("63.11.02", "Buntut Pilanduk", "Buntu Pilanduk"),
        ("63.11.02", "Ha'uwai", "Hauwai"),
        ("63.11.06", "Lamida", "Lamida Bawah"),
        ("63.11.06", "Lokbatung", "Lok Batung"),
        ("63.11.06", "Sungai Katapi", "Sungai Ketapi"),
        ("63.11.01", "Galombang", "Galumbang"),
        ("63.11.07", "Galombang", "Galumbang"),
        ("63.11.08", "Simpang Nadung", "Simpang Nadong"),
        ("63.11.08", "Juuh", "Ju'uh"),
        ("63.11.04", "Batu Mandi", "Batumandi"),
        # case, spacing, punctuation, prefixes, abbreviations
        ("63.11.01", "  MUARA   ninian ", "Muara Ninian"),
        ("63.11.06", "lok-batung", "Lok Batung"),
        ("63.11.01", "Desa Juai", "Juai"),
        ("63.11.06", "Kel. Paringin Kota", "Paringin Kota"),
        ("63.11.05", "sei tabuk", "Sungai Tabuk"),
    ],
)
def test_find_desa_certain(kecamatan, typed, official):
    found = wilayah.find_desa(kecamatan, typed)
    assert [m.item.name for m in found] == [official]
    assert found[0].certain
    assert found[0].item.kecamatan_code == kecamatan


@pytest.mark.parametrize(
    ("kecamatan", "typed", "official"),
    [
        ("63.11.01", "galumbng", "Galumbang"),
        ("63.11.03", "pumpong", "Sei Pumpung"),
        ("63.11.02", "hauwi", "Hauwai"),
        ("63.11.05", "Lampihong Kana", "Lampihong Kanan"),
    ],
)
def test_find_desa_typo_is_offered_not_certain(kecamatan, typed, official):
    found = wilayah.find_desa(kecamatan, typed)
    assert found
    assert found[0].item.name == official
    assert not found[0].certain


def test_find_desa_ambiguous_returns_several():
    found = wilayah.find_desa("63.11.05", "lampihong")
    assert {m.item.name for m in found} == {
        "Lampihong Kanan",
        "Lampihong Kiri",
        "Lampihong Selatan",
    }
    assert not any(m.certain for m in found)
    assert len(wilayah.find_desa("63.11.06", "Paringin")) == 2


def test_find_desa_exact_wins_over_partial():
    # "Awayan" is a desa and the prefix of "Awayan Hilir": the exact name wins alone.
    assert [m.item.name for m in wilayah.find_desa("63.11.03", "awayan")] == ["Awayan"]


def test_find_desa_anywhere_and_nothing():
    found = wilayah.find_desa(None, "Galumbang")
    assert {m.item.kecamatan_code for m in found} == {"63.11.01", "63.11.07"}
    assert wilayah.find_desa("63.11.01", "Mantimin") == []  # it is in Batu Mandi
    assert wilayah.find_desa("63.11.01", "zzzz") == []
    assert wilayah.find_desa("63.11.01", " ' ") == []


@pytest.mark.parametrize(
    ("typed", "official", "certain"),
    [
        ("batumandi", "Batu Mandi", True),
        ("Kec. Halong", "Halong", True),
        ("PARINGIN", "Paringin", True),
        ("parigin selatan", "Paringin Selatan", False),
        ("Tebing", "Tebing Tinggi", False),
        ("juwai", "Juai", False),
    ],
)
def test_find_kecamatan(typed, official, certain):
    found = wilayah.find_kecamatan(typed)
    assert found[0].item.name == official
    assert found[0].certain is certain


def test_page():
    items = list(range(10))
    assert wilayah.page(items, 0, 4) == ((0, 1, 2, 3), False, True)
    assert wilayah.page(items, 1, 4) == ((4, 5, 6, 7), True, True)
    assert wilayah.page(items, 2, 4) == ((8, 9), True, False)
    assert wilayah.page(items, 7, 4) == ((8, 9), True, False)  # stale button: last page
    assert wilayah.page(items, -1, 4) == ((0, 1, 2, 3), False, True)
    assert wilayah.page([], 0, 4) == ((), False, False)
    with pytest.raises(ValueError, match="per_page"):
        wilayah.page(items, 0, 0)


# --- occupations -------------------------------------------------------------------------------


def test_occupation_codes_and_flags():
    listed = occupations.occupations()
    codes = [o.code for o in listed]
    assert len(codes) == len(set(codes))
    assert all(c.isascii() and c.replace("_", "").isalnum() and len(c) <= 20 for c in codes)
    assert all(o.label for o in listed)
    assert {"karet", "sawah", "ojek", "sopir", "lainnya"} <= set(codes)
    assert {o.code for o in listed if o.transport} == {"ojek", "sopir", "kurir"}
    assert [o.code for o in listed if o.free_text] == ["lainnya"]
    assert codes[-1] == "lainnya"
    assert occupations.is_transport("ojek")
    assert not occupations.is_transport("karet")
    assert not occupations.is_transport(None)
    assert not occupations.is_transport("no_such_code")
    assert occupations.occupation("no_such_code") is None


def test_other_occupation_text():
    assert occupations.parse_other_occupation("  tukang   pangkas rambut ") == (
        "tukang pangkas rambut"
    )
    short = occupations.parse_other_occupation("ab")
    assert isinstance(short, occupations.OccupationTextInvalid)
    assert short.error is occupations.OccupationTextError.TOO_SHORT
    too_long = occupations.parse_other_occupation("x" * 61)
    assert isinstance(too_long, occupations.OccupationTextInvalid)
    assert too_long.params == {"limit": 60}
    no_letters = occupations.parse_other_occupation("123 456")
    assert isinstance(no_letters, occupations.OccupationTextInvalid)
    assert no_letters.error is occupations.OccupationTextError.NO_LETTERS


# --- income ------------------------------------------------------------------------------------


def test_income_ranges():
    ranges = income.income_ranges()
    codes = [r.code for r in ranges]
    assert len(codes) == len(set(codes))
    lowest = income.income_range("under_1m")
    assert lowest is not None
    assert lowest.base == 1_000_000
    assert not lowest.estimate
    assert lowest.label == "Under Rp1,000,000"
    assert income.income_range("nope") is None


def test_only_the_confirmed_base_is_not_an_estimate():
    confirmed = tariffs.confirmed_bases()
    assert confirmed == {1_000_000}
    for item in income.income_ranges():
        assert item.estimate is (item.base not in confirmed), item.code
        if item.min_income is not None and item.min_income >= 1_000_000:
            assert item.estimate, item.code


# --- tariffs -----------------------------------------------------------------------------------


def _contribution(
    *,
    on: date = date(2025, 6, 1),
    base: int = 1_000_000,
    occupation: str | None = "karet",
    payer: Payer = Payer.SELF,
    with_jht: bool = False,
) -> tariffs.Contribution:
    return monthly_contribution(
        base=base, on=on, occupation_code=occupation, payer=payer, with_jht=with_jht
    )


def test_facts_jkk_jkm_at_base_is_16800():
    result = _contribution()
    assert (result.jkk, result.jkm, result.jht, result.total) == (10_000, 6_800, 0, 16_800)
    assert result.discount is None
    assert not result.estimate
    assert result.regulations == ("PP 44/2015 Lampiran II", "PP 44/2015")


def test_facts_with_jht_is_36800():
    result = _contribution(with_jht=True)
    assert (result.jkk, result.jkm, result.jht, result.total) == (10_000, 6_800, 20_000, 36_800)
    assert "PP 46/2015" in result.regulations


def test_facts_pp50_discount_is_8400():
    result = _contribution(on=date(2026, 1, 15), occupation="ojek")
    assert (result.jkk, result.jkm, result.total, result.full_total) == (
        5_000,
        3_400,
        8_400,
        16_800,
    )
    assert result.discount is not None
    assert result.discount.regulation == "PP 50/2025"
    assert result.discount.code == "pp50_2025_transport"
    assert "PP 50/2025" in result.regulations


def test_jht_is_not_discounted():
    result = _contribution(on=date(2026, 6, 1), with_jht=True)
    assert (result.jkk, result.jkm, result.jht, result.total) == (5_000, 3_400, 20_000, 28_400)


@pytest.mark.parametrize(
    ("occupation", "on", "discounted"),
    [
        ("ojek", date(2025, 12, 31), False),
        ("ojek", date(2026, 1, 1), True),
        ("sopir", date(2027, 3, 31), True),
        ("kurir", date(2026, 2, 1), True),
        ("ojek", date(2027, 4, 1), False),
        ("karet", date(2026, 1, 1), False),
        ("karet", date(2026, 3, 31), False),
        ("karet", date(2026, 4, 1), True),
        ("lainnya", date(2026, 12, 31), True),
        (None, date(2026, 7, 1), True),
        ("karet", date(2027, 1, 1), False),
    ],
)
def test_pp50_windows_by_sector(occupation, on, discounted):
    result = _contribution(occupation=occupation, on=on)
    assert (result.total == 8_400) is discounted
    assert (result.discount is not None) is discounted


@pytest.mark.parametrize("payer", [Payer.APBD, Payer.APBN, "apbd"])
@pytest.mark.parametrize("occupation", ["ojek", "karet"])
def test_no_discount_for_state_budget_payers(payer, occupation):
    result = _contribution(on=date(2026, 6, 1), occupation=occupation, payer=payer)
    assert result.total == 16_800
    assert result.discount is None


def test_third_party_payer_gets_discount():
    assert _contribution(on=date(2026, 6, 1), payer=Payer.OTHER).total == 8_400


def test_unknown_payer_is_rejected():
    with pytest.raises(ValueError, match="pemda"):
        _contribution(payer="pemda")


def test_jkk_min_max_and_estimates():
    low = _contribution(base=500_000)
    assert low.jkk == 10_000  # minimum
    assert low.estimate
    mid = _contribution(base=1_500_000, with_jht=True)
    assert (mid.jkk, mid.jht, mid.total) == (15_000, 30_000, 51_800)
    assert mid.estimate
    top = _contribution(base=50_000_000)
    assert top.jkk == 207_000  # maximum [C1]


def test_no_tariff_before_pp44_2015():
    with pytest.raises(LookupError, match="jkk"):
        _contribution(on=date(2010, 1, 1))


def test_every_tariff_fact_has_regulation_and_mark():
    data = facts.load_toml("tariffs")
    for key in ("jkk", "jkm", "jht", "discount"):
        for period in data[key]:
            assert period["regulation"]
            assert period["mark"] in {"C2", "C1", "U"}
            assert isinstance(period["valid_from"], date)


def test_pemda_budget_pattern_from_facts():
    # FACTS.md §3: N pemda-paid workers for 12 months = N × 16,800 × 12 (no PP 50/2025 discount).
    monthly = _contribution(on=date(2026, 6, 1), payer=Payer.APBD).total
    assert 1_000 * monthly * 12 == 201_600_000


# --- screening ---------------------------------------------------------------------------------

_ELIGIBLE = {"self_employed": True, "civil_servant": False, "covered_elsewhere": False}


def test_screening_questions_from_data():
    asked = screening.questions()
    assert [q.code for q in asked] == [
        "self_employed",
        "civil_servant",
        "covered_elsewhere",
        "irregular_income",
    ]
    assert all(q.text.endswith("?") for q in asked)
    income_codes = {r.code for r in income.income_ranges()}
    assert screening.low_income_codes() <= income_codes


def test_screen_candidate_with_low_income():
    outcome = screening.screen({**_ELIGIBLE, "irregular_income": False}, "under_1m")
    assert outcome.candidate
    assert outcome.met == ("self_employed", "civil_servant", "covered_elsewhere", "low_income")
    assert outcome.not_met == ()
    assert outcome.unanswered == ()


def test_screen_irregular_income_is_an_alternative():
    outcome = screening.screen({**_ELIGIBLE, "irregular_income": True}, "3m_5m")
    assert outcome.candidate
    assert "irregular_income" in outcome.met


def test_screen_not_candidate_reasons():
    outcome = screening.screen(
        {**_ELIGIBLE, "civil_servant": True, "irregular_income": False}, "3m_5m"
    )
    assert not outcome.candidate
    assert outcome.not_met == ("civil_servant", "low_income", "irregular_income")


def test_screen_unanswered():
    outcome = screening.screen({"self_employed": True}, None)
    assert not outcome.candidate
    assert outcome.unanswered == (
        "civil_servant",
        "covered_elsewhere",
        "low_income",
        "irregular_income",
    )


# --- data hygiene ------------------------------------------------------------------------------


def test_registration_defaults_marked_unconfirmed():
    age = facts.load_toml("registration")["age"]
    assert (age["min"], age["max"], age["mark"]) == (15, 65, "U")


def test_province_table_matches_facts():
    ranges = [(11, 19), (21, 21), (31, 36), (51, 53), (61, 65), (71, 76), (81, 82), (91, 96)]
    expected = [code for low, high in ranges for code in range(low, high + 1)]
    assert nik.province_codes() == {str(code) for code in expected}
