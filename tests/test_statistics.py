"""Statistics: the coverage cut-off against the domain rule, the APBD budget, folding aggregates,
numbers from a known data set on the real database, charts, and /statistik end to end."""

from __future__ import annotations

import ast
import inspect
import struct
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

import bot.statistics
from bot.domain.coverage import CoverageState, Payer, coverage_status
from bot.i18n import Catalogs
from bot.statistics import (
    ELSEWHERE,
    MonthCount,
    apbd_budget,
    area_chart,
    build_overview,
    month_starts,
    protected_from,
    target_of,
    targets,
    trend_chart,
)
from handlers.admin import load_overview
from storage.db import Database
from storage.repos.admin import COVERAGE_STATES
from tests.support import BotHarness
from tests.test_admin_seed import TODAY, Person, make_nik, roster_row, seed_people, seed_roster

ID = Catalogs.load().get("id")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- pure rules ----------------------------------------------------------------------------------


def test_sql_state_names_are_the_domain_states() -> None:
    assert set(COVERAGE_STATES) == {state.value for state in CoverageState}


@given(
    today=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    back=st.integers(min_value=0, max_value=200),
)
def test_protected_from_agrees_with_the_domain_rule(today: date, back: int) -> None:
    paid_until = today - timedelta(days=back)
    status = coverage_status(
        paid_until=paid_until, coverage_start=None, today=today, payer=Payer.APBD
    )
    assert (paid_until >= protected_from(today)) == status.is_protected


def test_apbd_budget_is_participants_times_16800_times_12() -> None:
    budget = apbd_budget(participants=1000, pending=50, today=TODAY)
    assert [m.month for m in budget.months] == [
        date(2026, 12, 1),
        *(date(2027, month, 1) for month in range(1, 12)),
    ]
    # FACTS.md §3: Rp16,800 per person per month; no PP 50/2025 discount for APBD.
    assert {m.per_person for m in budget.months} == {16_800}
    assert budget.total == 1000 * 16_800 * 12 == 201_600_000
    assert budget.total_with_pending == 1050 * 16_800 * 12
    assert not budget.estimate


def test_targets_file() -> None:
    assert target_of("63.11") == 70_000
    assert target_of("6311") == 70_000
    assert target_of("63.11.01") is None  # a placeholder 0: no target
    assert target_of("63.11.01.2001") is None
    assert targets()["63.11.01"].mark == "placeholder"


def test_month_starts() -> None:
    assert month_starts(date(2026, 2, 28), 3) == (
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    )


def test_build_overview_folds_rows() -> None:
    overview = build_overview(
        today=TODAY,
        by_area_status=[
            ("63.11.01", "63.11.01.2001", "submitted", 3),
            ("63.11.01", "63.11.01.2001", "rejected", 1),
            ("63.11.01", "63.11.01.2002", "registered", 2),
            ("63.11.02", None, "verified", 1),
            (None, None, "submitted", 1),
            ("63.11.01", "63.11.01.2001", "draft", 5),
        ],
        coverage_rows=[
            ("63.11.01", "63.11.01.2001", None, "apbd", "active", 4),
            (None, None, "631102", "apbd", "grace", 2),
            (None, None, "637101", "self", "active", 1),
            (None, None, "631103", "apbd", "nonaktif", 9),
        ],
        occupation_rows=[("sawah", 2), ("karet", 5), (None, 1)],
        payer_rows=[("apbd", 6), ("self", 1)],
        month_rows=[("2026-11", 4), ("2026-09", 2), ("2025-01", 99)],
        pending_apbd=3,
        months=3,
    )
    assert overview.registrations == 7
    assert overview.covered == 7
    juai = overview.kecamatan[0]
    assert (juai.name, juai.registrations, juai.covered, juai.target) == ("Juai", 5, 4, None)
    halong = overview.kecamatan[1]
    assert (halong.registrations, halong.covered) == (1, 2)
    assert overview.kecamatan[2].covered == 0  # nonaktif does not count
    assert [(d.name, d.registrations, d.covered) for d in overview.desa["63.11.01"]] == [
        ("Hamarung", 2, 0),
        ("Muara Ninian", 3, 4),
    ]
    assert (overview.elsewhere.code, overview.elsewhere.registrations) == (ELSEWHERE, 1)
    assert overview.elsewhere.covered == 1
    assert overview.regency.target == 70_000
    assert overview.regency.covered == 7
    assert overview.occupations == (("karet", 5), ("sawah", 2), (None, 1))
    assert [(p.payer, p.registrations, p.covered) for p in overview.payers] == [
        ("apbd", 6, 6),
        ("self", 1, 1),
    ]
    assert overview.trend == (
        MonthCount(date(2026, 9, 1), 2),
        MonthCount(date(2026, 10, 1), 0),
        MonthCount(date(2026, 11, 1), 4),
    )
    assert overview.budget.participants == 6
    assert overview.budget.pending == 3


# --- charts --------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_charts_are_phone_sized_pngs() -> None:
    overview = build_overview(
        today=TODAY,
        by_area_status=[("63.11.01", "63.11.01.2001", "submitted", 1200)],
        coverage_rows=[("63.11.01", "63.11.01.2001", None, "apbd", "active", 3400)],
        occupation_rows=[],
        payer_rows=[],
        month_rows=[("2026-11", 1200), ("2026-10", 300)],
        pending_apbd=0,
    )
    bars = area_chart(
        overview.kecamatan,
        title="Per kecamatan",
        registrations_label="Pendaftaran",
        covered_label="Terlindungi",
        target_label="Target",
        number=ID.number,
    )
    width, height = png_size(bars)
    assert 900 <= width <= 1400
    assert 900 <= height <= 1400
    assert 15_000 < len(bars) < 1_000_000
    trend = trend_chart(
        overview.trend,
        title="Per bulan",
        month_labels=[p.month.strftime("%b %y") for p in overview.trend],
        number=ID.number,
    )
    width, height = png_size(trend)
    assert 900 <= width <= 1400
    assert 500 <= height <= 900
    assert 10_000 < len(trend) < 1_000_000


def test_charts_never_touch_pyplot() -> None:
    tree = ast.parse(inspect.getsource(bot.statistics))
    imported = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any("pyplot" in name for name in imported)
    assert "matplotlib.backends.backend_agg.FigureCanvasAgg" in imported


# --- a known data set on the database ------------------------------------------------------------

#: 31 October 2026 17:00 UTC is already 1 November in Balangan (WITA, UTC+8).
LATE_OCTOBER_UTC = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)


async def seed_known(db: Database) -> None:
    halong = {"kecamatan": "63.11.02", "desa": "63.11.02.2001"}
    await seed_people(
        db,
        [
            Person("S1", serial=1, status="submitted"),
            Person("S2", serial=2, status="verified", occupation="sawah"),
            Person("S3", serial=3, status="registered", payer="self"),
            Person("S4", serial=4, status="rejected"),
            Person("S5", serial=5, status="draft"),
            Person("S6", serial=6, status="submitted", submitted_at=LATE_OCTOBER_UTC, **halong),
            Person(
                "S7",
                serial=7,
                status="submitted",
                submitted_at=LATE_OCTOBER_UTC - timedelta(hours=2),
                kecamatan=None,
                desa=None,
            ),
        ],
    )
    birth = date(1985, 8, 17)
    await seed_roster(
        db,
        [
            roster_row(make_nik(birth, female=True, serial=3)),  # S3, Juai: active
            roster_row(make_nik(birth, female=True, serial=6), paid_until=date(2026, 9, 30)),
            roster_row(make_nik(birth, serial=8, prefix="631102")),  # Halong by NIK
            roster_row(make_nik(birth, serial=9, prefix="631102"), paid_until=date(2026, 1, 31)),
            roster_row(make_nik(birth, serial=10, prefix="637101"), payer="self"),
            roster_row(make_nik(birth, serial=11), start=date(2027, 1, 1)),  # not started
        ],
    )


async def test_statistics_of_a_known_data_set(db: Database) -> None:
    await seed_known(db)
    async with db.transaction() as repo:
        overview = await load_overview(repo, TODAY)
    assert dict(overview.statuses) == {
        "submitted": 3,
        "verified": 1,
        "registered": 1,
        "rejected": 1,
        "draft": 1,
    }
    assert dict(overview.coverage) == {"active": 3, "grace": 1, "nonaktif": 1, "not_started": 1}
    assert overview.registrations == 5
    assert overview.covered == 4
    juai, halong = overview.kecamatan[0], overview.kecamatan[1]
    assert (juai.registrations, juai.covered) == (3, 1)
    # S6 lives in Halong (its roster row too); another participant is placed by the NIK.
    assert (halong.registrations, halong.covered) == (1, 2)
    assert (overview.elsewhere.registrations, overview.elsewhere.covered) == (1, 1)
    assert [(d.name, d.registrations, d.covered) for d in overview.desa["63.11.02"]] == [
        ("Hauwai", 1, 1)
    ]
    assert overview.occupations == (("karet", 4), ("sawah", 1))
    assert [(p.payer, p.registrations, p.covered) for p in overview.payers] == [
        ("apbd", 4, 3),
        ("self", 1, 1),
    ]
    # Months in WITA: S6 (31 Oct 17:00 UTC) is November, S7 (15:00 UTC) is October.
    assert overview.trend[-2:] == (
        MonthCount(date(2026, 10, 1), 1),
        MonthCount(date(2026, 11, 1), 5),
    )
    assert len(overview.trend) == 12
    assert overview.budget.participants == 3
    # S1, S2 and S7 expect the regency to pay; S6 too, but it is on the roster already.
    assert overview.budget.pending == 3
    assert overview.budget.total == 3 * 16_800 * 12


async def test_statistik_end_to_end(harness: BotHarness) -> None:
    await seed_known(harness.db)
    admin = harness.admin()
    await admin.send("/statistik")
    text = admin.history[-3].text or ""
    assert "Statistik — 21 November 2026" in text
    assert "Pendaftaran: 5 (menunggu 3 · terverifikasi 1 · terdaftar 1)" in text
    assert "Peserta terlindungi: 4 dari target 70.000 (0%)" in text
    assert "Juai: 3 / 1 / –" in text
    assert "3 peserta × Rp16.800 × 12 = Rp604.800" in text
    photos = admin.photos()
    assert len(photos) == 2
    for photo in photos:
        assert photo.data.startswith(PNG_MAGIC)
    async with harness.db.transaction() as repo:
        entry = (await repo.audit.latest(limit=1))[0]
    assert entry.action == "stats.view"
    await admin.press("Per desa")
    await admin.press("Halong")
    assert "Kec. Halong" in admin.last_text
    assert "Hauwai: 1 / 1 / –" in admin.last_text
