"""jamsostek-bot: BPJS Ketenagakerjaan coverage for the informal workers of Kabupaten Balangan."""

import os

# python-telegram-bot 22 reports durations (e.g. a 429's retry_after) as datetime.timedelta when this
# is set, and warns on every such value otherwise; opt in before telegram is imported anywhere.
os.environ.setdefault("PTB_TIMEDELTA", "1")

__version__ = "0.1.0"
