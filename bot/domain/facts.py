"""Cached, read-only loaders for the fact files in ``bot/data``.

Facts (amounts, rates, dates, lists) live in TOML and CSV files so an admin can correct a figure
without a release. The files are read through :mod:`importlib.resources` so they are found both
in a source checkout and in an installed wheel, never from the shared research folder.

Every loader is cached and returns deeply immutable data (mappings become
:class:`types.MappingProxyType`, lists become tuples) so a caller cannot corrupt the cached copy
that every other caller sees.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

#: The package whose ``data`` directory holds the fact files. ``bot/data`` has no ``__init__.py``,
#: so it is addressed as a directory of the regular ``bot`` package.
_PACKAGE = "bot"
_DATA_DIR = "data"


def _resource(name: str) -> Traversable:
    if "/" in name or "\\" in name or name.startswith("."):
        # Only plain file names: a loader must never be pointed outside bot/data.
        raise ValueError(f"fact file name must be a plain file name: {name!r}")
    return files(_PACKAGE).joinpath(_DATA_DIR, name)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


@cache
def load_toml(name: str) -> Mapping[str, Any]:
    """Load ``bot/data/<name>`` as TOML.

    Args:
        name: File name such as ``"tariffs.toml"``; the ``.toml`` suffix may be left out.

    Returns:
        The document as a read-only mapping; nested tables are read-only mappings, arrays tuples.

    Raises:
        FileNotFoundError: there is no such file in ``bot/data``.
        tomllib.TOMLDecodeError: the file is not valid TOML.
    """
    if not name.endswith(".toml"):
        name = f"{name}.toml"
    with _resource(name).open("rb") as handle:
        document = tomllib.load(handle)
    frozen: Mapping[str, Any] = _freeze(document)
    return frozen


@cache
def load_csv(name: str) -> tuple[Mapping[str, str], ...]:
    """Load ``bot/data/<name>`` as a CSV table with a header row.

    Args:
        name: File name such as ``"wilayah.csv"``; the ``.csv`` suffix may be left out.

    Returns:
        One read-only mapping per data row, keyed by the header names, in file order. Cell values
        are stripped of surrounding whitespace.

    Raises:
        FileNotFoundError: there is no such file in ``bot/data``.
    """
    if not name.endswith(".csv"):
        name = f"{name}.csv"
    text = _resource(name).read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return tuple(
        MappingProxyType({key.strip(): (value or "").strip() for key, value in row.items() if key})
        for row in reader
    )
