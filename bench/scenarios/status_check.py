"""Placeholder."""

from __future__ import annotations

from bench.report import Section
from bench.scenarios.base import RunContext, Scenario

TITLE = "status_check"


async def run(_ctx: RunContext) -> Section:
    """Placeholder."""
    return Section("status_check", TITLE, unavailable="not available yet: scenario not scripted yet")


SCENARIO = Scenario("status_check", TITLE, run)
