"""``python -m bench.profiled OUT MODULE``: run ``python -m MODULE`` under cProfile, counting CPU time.

The stock ``python -m cProfile`` measures wall-clock time, so an event loop waiting in ``epoll``
dominates it; this wrapper uses :func:`time.process_time`, which shows where the CPU goes. The
statistics are written to ``OUT`` when the module returns (the bots stop cleanly on SIGTERM).
Imports only the standard library, so it works under baseline B's interpreter too.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    """Profile the module named on the command line."""
    out, module = sys.argv[1], sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
