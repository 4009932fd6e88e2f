"""The benchmark scenarios, one module each; ``SCENARIOS`` lists them in the order they run."""

from __future__ import annotations

import importlib

from bench.scenarios.base import RunContext, Scenario

#: Module names under ``bench.scenarios``; each defines ``SCENARIO``.
SCENARIOS = ("echo", "registration", "status_check", "broadcast", "import_export")


def load(name: str) -> Scenario:
    """The scenario defined by module ``bench.scenarios.<name>``."""
    module = importlib.import_module(f"bench.scenarios.{name}")
    scenario: Scenario = module.SCENARIO
    return scenario


__all__ = ["SCENARIOS", "RunContext", "Scenario", "load"]
