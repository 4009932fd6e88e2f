"""Command line: ``python -m bot [run|migrate|playground|import-roster FILE]``."""

from __future__ import annotations

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
