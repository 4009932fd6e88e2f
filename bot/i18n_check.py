"""Check the catalogs: every msgid translated in every language, placeholders identical.

Used by ``make i18n`` (prints the problems) and by ``tests/test_i18n.py`` (fails on any).
"""

from __future__ import annotations

import string
import sys
from collections.abc import Callable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, LOCALES_DIR


def placeholders(text: str) -> set[str]:
    """The named ``{placeholders}`` of a format string."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load(language: str, locales_dir: Path = LOCALES_DIR) -> Catalog:
    """Read one language's catalog."""
    with (locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=language)


def problems(locales_dir: Path = LOCALES_DIR) -> list[str]:
    """Every missing translation, placeholder mismatch and template msgid absent from a catalog."""
    found: list[str] = []
    template_ids: set[str] = set()
    pot = locales_dir / f"{DOMAIN}.pot"
    if pot.exists():
        with pot.open("rb") as fh:
            template_ids = {
                str(m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(fh) if m.id
            }
    for po in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name
        catalog = load(language, locales_dir)
        seen: set[str] = set()
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
            strs = (
                message.string if isinstance(message.string, tuple | list) else (message.string,)
            )
            seen.add(str(ids[0]))
            label = f"{language}: {str(ids[0])[:60]!r}"
            if message.fuzzy:
                found.append(f"{label} is marked fuzzy")
            if any(not s for s in strs):
                found.append(f"{label} has no translation")
                continue
            wanted = set().union(*(placeholders(str(i)) for i in ids))
            for s in strs:
                got = placeholders(str(s))
                if got != wanted:
                    found.append(f"{label} placeholders {sorted(got)} != {sorted(wanted)}")
        found.extend(f"{language}: {m[:60]!r} is not in the catalog" for m in template_ids - seen)
    return found


def save(catalog: Catalog, language: str, locales_dir: Path = LOCALES_DIR) -> None:
    """Write one language's catalog back (unwrapped lines, stable order)."""
    from babel.messages.pofile import write_po

    with (locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False, sort_output=True, no_location=True)


def fill_english(locales_dir: Path = LOCALES_DIR) -> int:
    """msgids are English: copy each untranslated msgid into the English catalog."""
    catalog = load("en", locales_dir)
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not all(message.string or ()):
                message.string = (message.id[0], message.id[1])
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
    if filled:
        save(catalog, "en", locales_dir)
    return filled


def todo(language: str) -> dict[str, object]:
    """Untranslated msgids of ``language`` as a JSON-ready mapping (plurals as [singular, plural])."""
    out: dict[str, object] = {}
    for message in load(language):
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not all(message.string or ()):
                out[str(message.id[0])] = ["", ""]
        elif not message.string:
            out[str(message.id)] = ""
    return out


def apply(language: str, translations: dict[str, object]) -> list[str]:
    """Write translations ({msgid: msgstr or [one, other]}) into a catalog; returns unknown msgids."""
    catalog = load(language)
    unknown: list[str] = []
    for msgid, text in translations.items():
        message = next(
            (
                m
                for m in catalog
                if m.id
                and (m.id == msgid or (isinstance(m.id, tuple | list) and m.id[0] == msgid))
            ),
            None,
        )
        if message is None:
            unknown.append(msgid)
            continue
        if isinstance(message.id, tuple | list):
            forms = text if isinstance(text, list) else [text, text]
            message.string = tuple(str(f) for f in forms)
        else:
            message.string = str(text)
        message.flags.discard("fuzzy")
    save(catalog, language)
    return unknown


def _locked(fn: Callable[[], int]) -> int:
    """Run ``fn`` holding ``locales/.lock`` (several people may update the catalogs at once)."""
    import fcntl

    with (LOCALES_DIR / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return fn()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> int:
    """``python -m bot.i18n_check [todo LANG | apply LANG FILE.json | fill-en]``; default: check."""
    import json

    args = sys.argv[1:]
    if args[:1] == ["todo"]:
        print(json.dumps(todo(args[1]), ensure_ascii=False, indent=1))
        return 0
    if args[:1] == ["apply"]:
        with open(args[2], encoding="utf-8") as fh:
            wanted = json.load(fh)

        def run_apply() -> int:
            unknown = apply(args[1], wanted)
            for msgid in unknown:
                print(f"not in the catalog (run make i18n first?): {msgid[:70]!r}")
            return 1 if unknown else 0

        return _locked(run_apply)
    if args[:1] == ["fill-en"]:
        # Called by `make i18n`, which already holds the lock.
        print(f"filled {fill_english()} English entries")
        return 0
    issues = problems()
    for issue in issues:
        print(issue)
    if issues:
        print(
            f"{len(issues)} catalog problem(s): translate them in locales/*/LC_MESSAGES/messages.po"
        )
        return 1
    print("Catalogs complete.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
