"""Import and export: a 50,000-row roster import and a 100,000-row export (time, peak RSS).

Not implemented until the admin import and export (issue 8) exist: the section then says so
instead of printing a number.
"""

from __future__ import annotations

from bench.report import Section
from bench.scenarios.base import RunContext, Scenario, missing_feature

TITLE = "Import 50,000 roster rows and export 100,000 rows"


async def run(_ctx: RunContext) -> Section:
    """Report that the scenario cannot run yet (the feature is missing)."""
    missing = missing_feature("admin export (issue 8)", "ekspor", "export")
    return Section(
        "import_export",
        TITLE,
        unavailable=missing or "not available yet: the import/export scenario is not scripted yet",
    )


SCENARIO = Scenario("import_export", TITLE, run)
