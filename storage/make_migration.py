"""``make migration m="..."``: autogenerate the next Alembic revision from the SQLModel tables.

It builds a scratch SQLite database at the current head and compares it with the models, so the
developer needs no running database.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from storage.db import alembic_config


def main(message: str) -> None:
    """Write ``storage/migrations/versions/NNNN_<slug>.py``."""
    if not message.strip():
        raise SystemExit('usage: make migration m="what changed"')
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.sqlite3'}")
        script = ScriptDirectory.from_config(cfg)
        heads = script.get_heads()
        number = len(list(script.walk_revisions())) + 1
        if heads:
            command.upgrade(cfg, "heads")
        command.revision(cfg, message=message, autogenerate=True, rev_id=f"{number:04d}")


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]))
