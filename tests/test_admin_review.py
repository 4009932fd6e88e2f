"""Pure review rules: rejection reasons, warnings, the duplicate name rule, the matching file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.dates import DatePart
from bot.review import (
    Candidate,
    MatchFileError,
    MatchFileProblem,
    MatchOutcome,
    MatchProblem,
    MatchReader,
    MatchResult,
    MatchRowError,
    Person,
    TypedReasonError,
    TypedReasonInvalid,
    WarningCode,
    clean_kpj,
    match_headers,
    match_sex,
    name_key,
    parse_result,
    parse_typed_reason,
    rejection_reason,
    rejection_reasons,
    review_warnings,
    same_person_likely,
)
from tests.test_admin_seed import TODAY, make_nik

BIRTH = date(1985, 8, 17)


def person(**changes: object) -> Person:
    values: dict[str, object] = {
        "nik": make_nik(BIRTH, female=True),
        "full_name": "Siti Aminah",
        "birth_date": BIRTH,
        "sex": "female",
        "kecamatan_code": "63.11.01",
        "desa_code": "63.11.01.2001",
    }
    values.update(changes)
    return Person(**values)  # type: ignore[arg-type]


def test_rejection_reasons_have_codes_and_msgids() -> None:
    reasons = rejection_reasons()
    assert len(reasons) >= 5
    assert len({r.code for r in reasons}) == len(reasons)
    assert all(r.code.isascii() and len(f"rev:why:2147483647:{r.code}") <= 64 for r in reasons)
    assert rejection_reason("nik_mismatch") is not None
    assert rejection_reason("nope") is None


def test_typed_reason() -> None:
    assert parse_typed_reason("  Foto   KTP buram ") == "Foto KTP buram"
    assert parse_typed_reason("ab") == TypedReasonInvalid(TypedReasonError.TOO_SHORT, 3)
    assert parse_typed_reason("x" * 301) == TypedReasonInvalid(TypedReasonError.TOO_LONG, 300)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("H. Muh. Yusuf", "MUHAMMAD YUSUF"),
        ("Hj. Siti Aminah", "siti  aminah"),
        ("Ahmad bin Yusuf", "Ahmad Yusuf"),
        ("Ma'ruf Amin", "Maruf Amin"),
        ("José", "Jose"),
        ("St. Nurhaliza", "Siti Nurhaliza"),
    ],
)
def test_names_that_are_the_same_person(a: str, b: str) -> None:
    assert same_person_likely(a, b)


def test_names_that_differ() -> None:
    assert not same_person_likely("Siti Aminah", "Siti Aisyah")
    assert not same_person_likely("", "")
    assert name_key("H.") == "h"  # a name of ignored words only keeps them


@given(st.text(alphabet=st.characters(categories=["L", "Zs", "Po"]), max_size=40))
def test_name_key_is_idempotent(name: str) -> None:
    assert name_key(name_key(name)) == name_key(name)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .'-", max_size=40))
def test_name_key_ignores_case(name: str) -> None:
    assert name_key(name.upper()) == name_key(name.lower())


def test_no_warnings_for_a_clean_submission() -> None:
    assert review_warnings(person(), today=TODAY) == ()


def test_each_warning() -> None:
    found = review_warnings(
        person(
            nik=make_nik(BIRTH, female=True, prefix="637101"),
            birth_date=date(1986, 9, 17),
            sex="male",
            desa_code="63.11.02.2001",
        ),
        today=TODAY,
        candidates=[
            Candidate("BLG-BBBBBB", "Hj. Siti Aminah", make_nik(date(1986, 9, 17), serial=2)),
            Candidate(None, "SITI AMINAH", "6311010000000009"),
            Candidate("BLG-CCCCCC", "Siti Aisyah", make_nik(BIRTH, serial=3)),
        ],
        on_roster=True,
    )
    codes = [w.code for w in found]
    assert codes == [
        WarningCode.ON_ROSTER,
        WarningCode.POSSIBLE_DUPLICATE,
        WarningCode.DATE_MISMATCH,
        WarningCode.SEX_MISMATCH,
        WarningCode.NIK_OUTSIDE,
        WarningCode.DOMICILE_OUTSIDE,
    ]
    duplicate, mismatch = found[1], found[2]
    assert duplicate.references == ("BLG-BBBBBB",)
    assert duplicate.on_roster == 1
    assert mismatch.parts == (DatePart.MONTH, DatePart.YEAR)


def test_invalid_nik_and_missing_desa() -> None:
    codes = [w.code for w in review_warnings(person(nik="1234", desa_code=None), today=TODAY)]
    assert codes == [WarningCode.NIK_INVALID, WarningCode.DOMICILE_OUTSIDE]


def test_a_candidate_with_the_same_nik_is_not_a_duplicate() -> None:
    me = person()
    assert (
        review_warnings(me, today=TODAY, candidates=[Candidate("X", "Siti Aminah", me.nik or "")])
        == ()
    )


# --- the matching file ---------------------------------------------------------------------------


def test_match_file_vocabulary() -> None:
    headers = match_headers()
    assert headers[:3] == ("referensi", "nik", "nama")
    assert headers[-3:] == ("hasil", "kpj", "alasan")
    assert parse_result(" Tidak  Valid ") is MatchOutcome.INVALID
    assert parse_result("TERDAFTAR") is MatchOutcome.REGISTERED
    assert parse_result("mungkin") is None
    assert clean_kpj("9001 2345-678") == "90012345678"
    assert clean_kpj("123") is None
    assert match_sex("female") == "P"
    assert match_sex(None) == ""


def test_reading_a_semicolon_csv(tmp_path: Path) -> None:
    path = tmp_path / "hasil.csv"
    path.write_text(
        "No Referensi;NIK;Hasil;No KPJ;Keterangan\n"
        "blg-aaaaaa;6311015708850001;terdaftar;90012345678;\n"
        "BLG-BBBBBB;;tidak valid;;NIK ganda\n"
        "BLG-CCCCCC;;;;\n"
        ";;terdaftar;90012345678;\n"
        "BLG-DDDDDD;;ok;12;\n"
        "BLG-EEEEEE;;entah;;\n"
        ";;;;\n",
        encoding="utf-8-sig",
    )
    with MatchReader(path) as reader:
        items = list(reader)
        pending = reader.pending
    assert items == [
        MatchResult(
            2, "BLG-AAAAAA", "6311015708850001", MatchOutcome.REGISTERED, "90012345678", None
        ),
        MatchResult(3, "BLG-BBBBBB", None, MatchOutcome.INVALID, None, "NIK ganda"),
        MatchProblem(5, MatchRowError.NO_REFERENCE),
        MatchProblem(6, MatchRowError.BAD_KPJ, "BLG-DDDDDD", "12"),
        MatchProblem(7, MatchRowError.UNKNOWN_RESULT, "BLG-EEEEEE", "entah"),
    ]
    assert pending == 1


def test_reading_an_xlsx_with_numbers_typed_into_excel(tmp_path: Path) -> None:
    path = tmp_path / "hasil.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["referensi", "nik", "hasil", "kpj", "alasan"])
    sheet.append(["BLG-AAAAAA", 6311015708850001, "Terdaftar", 90012345678.0, None])
    book.save(path)
    with MatchReader(path) as reader:
        items = list(reader)
    assert items == [
        MatchResult(
            2, "BLG-AAAAAA", "6311015708850001", MatchOutcome.REGISTERED, "90012345678", None
        )
    ]


@pytest.mark.parametrize(
    ("content", "error", "missing"),
    [
        (b"", MatchFileError.EMPTY, ()),
        (b"referensi,nik\nBLG-AAAAAA,1\n", MatchFileError.MISSING_COLUMNS, ("result",)),
        (b"PK\x03\x04 not really a zip", MatchFileError.UNREADABLE, ()),
        (b"\xff\xfe\x00garbage", MatchFileError.UNREADABLE, ()),
    ],
)
def test_unreadable_files(
    tmp_path: Path, content: bytes, error: MatchFileError, missing: tuple[str, ...]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(MatchFileProblem) as caught:
        MatchReader(path)
    assert caught.value.error is error
    assert tuple(c.value for c in caught.value.missing) == missing
