"""Broadcast: 10,000 recipients under Telegram's flood limits (30/s overall, 1/s per chat).

Not implemented until the admin broadcast (issue 8) exists: the section then says so instead of
printing a number.
"""

from __future__ import annotations

from bench.report import Section
from bench.scenarios.base import RunContext, Scenario, missing_feature

TITLE = "Broadcast (10,000 recipients, 30 msg/s overall, 1/s per chat)"


async def run(_ctx: RunContext) -> Section:
    """Report that the scenario cannot run yet (the feature is missing)."""
    missing = missing_feature("admin broadcast (issue 8)", "siaran", "broadcast")
    return Section(
        "broadcast",
        TITLE,
        unavailable=missing or "not available yet: the broadcast scenario is not scripted yet",
    )


SCENARIO = Scenario("broadcast", TITLE, run)
