"""``python -m bench [--quick] [--only NAME] [--profile]``: run the benchmarks and print the table.

The table is also written to ``bench/results/latest.md`` (and ``latest.json``); process logs, the
SQLite files and (with ``--profile``) cProfile statistics of our bots go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from pathlib import Path

from bench.report import Machine, Section, render, save
from bench.scenarios import SCENARIOS, RunContext, load

RESULTS = Path(__file__).resolve().parent / "results"


def _names(only: list[str] | None) -> list[str]:
    if not only:
        return list(SCENARIOS)
    names = [n.strip().replace("-", "_") for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return names


async def run(names: list[str], ctx: RunContext, command: str) -> int:
    """Run the scenarios named, print and save the report; 1 when a scenario crashed."""
    sections: list[Section] = []
    status = 0
    # Import every scenario first: a broken module fails the run now, not twenty minutes in.
    for scenario in [load(name) for name in names]:
        name = scenario.name
        print(f"== {scenario.title}", flush=True)
        try:
            section = await scenario.run(ctx)
        except Exception as exc:
            traceback.print_exc()
            status = 1
            section = Section(
                name, scenario.title, unavailable=f"failed: {type(exc).__name__}: {exc}"
            )
        sections.append(section)
    machine = Machine.describe(command)
    text = render(machine, sections)
    print()
    print(text)
    save(ctx.results, machine, sections, text)
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="short windows and small data (about 2 minutes)"
    )
    parser.add_argument(
        "--only", action="append", metavar="NAME", help=f"run only these: {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run our bots under cProfile (figures inflated)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    args = parser.parse_args(argv)
    names = _names(args.only)
    ctx = RunContext(quick=args.quick, results=args.results, profile=args.profile)
    command = "python -m bench" + " ".join(["", *(argv if argv is not None else sys.argv[1:])])
    return asyncio.run(run(names, ctx, command.strip()))


if __name__ == "__main__":
    raise SystemExit(main())
