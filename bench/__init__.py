"""Benchmarks: ``python -m bench [--quick] [--only NAME]`` (or ``make bench``).

Three kinds of process take part in every measurement, so none competes with another for the GIL:

* the **harness** (this package's ``__main__``) prepares databases, starts the other two, and
  prints the table (:mod:`bench.report`);
* the **fake Bot API** (:mod:`bench.fakeapi`): the project's Bot API emulator plus a closed-loop
  load generator — N simulated users, each sending its next message only after the bot's reply;
* the **bot under test** (:mod:`bench.bots`): baseline A (bare python-telegram-bot echo),
  baseline B (bare aiogram 3 echo), our echo stack, or the real application (``python -m bot``).

The bot's CPU time and peak RSS are read from ``/proc/<pid>/stat`` and ``/proc/<pid>/status``.
Each scenario is one module in :mod:`bench.scenarios`; scenarios whose feature does not exist yet
print a "not available yet" row instead of a number.
"""
