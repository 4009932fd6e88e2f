"""The benchmark harness works: a tiny closed-loop run against each kind of bot, the registration
script against the real bot, and the report. (Numbers are not checked: CI machines vary.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.database import fresh_sqlite
from bench.harness import (
    BASELINE_A,
    BASELINE_B,
    BotKind,
    BotSpec,
    Measurement,
    aiogram_missing,
    measure,
    ours_app,
    ours_echo,
)
from bench.load import LoadResult, LoadSpec, Step, percentile
from bench.report import Check, Section, render_section
from bench.scenarios import SCENARIOS, load
from bench.scenarios import registration as reg_scenario
from bench.scenarios.base import missing_feature

TINY = LoadSpec(users=3, scripts=((Step.text("halo"),),), warmup_seconds=0.3, seconds=1.0)


def test_load_spec_and_result_survive_json() -> None:
    spec = LoadSpec(
        users=2,
        scripts=((Step.text("/daftar", "reg:consent:yes"), Step.press("Setuju")),),
        repeat=False,
        rate_limits=(30, 1),
    )
    assert LoadSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    result = LoadResult(
        steps=50, seconds=2.0, p50_ms=3.0, p99_ms=9.0, mean_ms=4.0, max_ms=10.0,
        bot_cpu_seconds=0.1, fake_cpu_seconds=0.5, machine_busy=0.4,
        error_samples=("x",), step_p50_ms=(1.0, 2.0),
    )  # fmt: skip
    assert LoadResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert result.updates_per_second == 25.0
    assert result.cpu_ms_per_update == pytest.approx(2.0)
    assert result.fake_utilisation == 0.25


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_report_shows_ratios_and_missed_targets() -> None:
    def m(label: str, kind: BotKind, ups: float, cpu_ms: float) -> Measurement:
        steps = int(ups * 10)
        result = LoadResult(
            steps=steps, seconds=10.0, p50_ms=5.0, p99_ms=20.0, mean_ms=6.0, max_ms=30.0,
            bot_cpu_seconds=steps * cpu_ms / 1000, fake_cpu_seconds=1.0, machine_busy=0.5,
        )  # fmt: skip
        return Measurement(label, kind, result, peak_rss_mb=60.0)

    a = m("baseline A: x", BotKind.BASELINE, 500, 2.0)
    b = m("baseline B: y", BotKind.BASELINE, 1000, 1.0)
    ours = m("ours: z", BotKind.OURS, 250, 4.0)
    check = Check.ratio_at_least("ours / A", 250, 500, 1.0)
    section = Section("s", "Scenario", measurements=(ours,), baselines=(a, b), checks=(check,))
    text = render_section(section)
    assert "| ours: z | 250 | 5.0 | 20.0 | 4.00 | 60 | 0.50 | 0.25 | 2.00 | 4.00 |" in text
    assert "**0.50×** (target ≥ 1.00×) — **missed** (missed by 50%)" in text
    unavailable = Section("b", "Broadcast", unavailable="not available yet: feature X missing")
    assert "*not available yet: feature X missing*" in render_section(unavailable)


def test_every_scenario_loads() -> None:
    for name in SCENARIOS:
        assert load(name).name == name
    assert missing_feature("nothing", "no-such-command") == (
        "not available yet: feature nothing missing (no /no-such-command command)"
    )


@pytest.mark.slow
async def test_closed_loop_echo_against_baseline_a_and_ours(tmp_path: Path) -> None:
    for bot in (BASELINE_A, ours_echo("aiohttp")):
        m = await measure(bot, TINY, tmp_path)
        assert m.result is not None, m.note
        assert m.result.errors == 0, m.result.error_samples
        assert m.result.steps > 0
        assert m.result.bot_cpu_seconds > 0
        assert m.result.calls.get("sendmessage", 0) >= m.result.steps
        assert 0 < m.result.p50_ms <= m.result.p99_ms
        assert m.peak_rss_mb > 10


@pytest.mark.slow
async def test_baseline_b_aiogram(tmp_path: Path) -> None:
    missing = aiogram_missing()
    if missing is not None:
        pytest.skip(f"baseline B needs aiogram: {missing}")
    m = await measure(BASELINE_B, TINY, tmp_path)
    assert m.result is not None, m.note
    assert m.result.errors == 0, m.result.error_samples
    assert m.result.steps > 0


@pytest.mark.slow
async def test_a_bot_that_cannot_start_is_reported_not_raised(tmp_path: Path) -> None:
    broken = BotSpec("broken", "bench.no_such_module")
    m = await measure(broken, TINY, tmp_path)
    assert m.result is None
    assert m.note.startswith("failed: the bot exited with status 1")


@pytest.mark.slow
async def test_registration_script_completes_on_the_real_bot(tmp_path: Path) -> None:
    if missing_feature("registration", "daftar") is not None:
        pytest.skip("registration is not built yet")
    url = await fresh_sqlite(tmp_path / "bench.sqlite3")
    spec = LoadSpec(
        users=2,
        scripts=tuple(reg_scenario.script(i) for i in range(3)),
        repeat=False,
        warmup_users=1,
        step_timeout=20.0,
    )
    m = await measure(ours_app("ours: registration", url), spec, tmp_path)
    assert m.result is not None, m.note
    assert m.result.errors == 0, m.result.error_samples
    assert m.result.users_finished == 2
    assert m.result.steps == 2 * len(reg_scenario.script(0))
    assert await reg_scenario.submitted_count(url) == 3
