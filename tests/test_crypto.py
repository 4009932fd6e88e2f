"""Encryption at rest: authenticated, rotatable, with a stable blind index."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.crypto import INDEX_INFO, CryptoError, Encrypted, KeyRing, attach, generate_key


def test_round_trip_and_randomised_ciphertext() -> None:
    ring = KeyRing.from_text(generate_key())
    a, b = ring.encrypt("6311014508900002"), ring.encrypt("6311014508900002")
    assert a != b
    assert "6311014508900002" not in a
    assert ring.decrypt(a) == ring.decrypt(b) == "6311014508900002"


def test_tampering_is_detected() -> None:
    ring = KeyRing.from_text(generate_key())
    token = ring.encrypt("+6281234567890")
    body = token.rsplit(".", 1)[1]
    flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
    with pytest.raises(CryptoError):
        ring.decrypt(token.rsplit(".", 1)[0] + "." + flipped)


def test_rotation_keeps_old_values_readable_and_the_index_stable() -> None:
    old = generate_key()
    ring_old = KeyRing.from_text(old)
    token = ring_old.encrypt("Siti Aminah")
    ring_new = KeyRing.from_text(f"{generate_key()},{old}")
    assert ring_new.decrypt(token) == "Siti Aminah"
    assert ring_new.key_id_of(ring_new.encrypt("x")) != ring_old.current_id
    assert ring_new.index("6311014508900002") == ring_old.index("6311014508900002")


def test_missing_key_is_a_clear_error() -> None:
    token = KeyRing.from_text(generate_key()).encrypt("x")
    with pytest.raises(CryptoError, match="no key"):
        KeyRing.from_text(generate_key()).decrypt(token)


@pytest.mark.parametrize("bad", ["", "not base64 !!", "c2hvcnQ="])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(CryptoError):
        KeyRing.from_text(bad)


def test_key_file_is_created_once_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "data.key"
    first = KeyRing.load_or_create(path)
    second = KeyRing.load_or_create(path)
    assert first.current_id == second.current_id
    assert path.stat().st_mode & 0o777 == 0o600


async def test_encrypted_column_stores_ciphertext_and_reads_plaintext(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}")
    attach(engine.sync_engine.dialect, KeyRing.from_text(generate_key()))
    meta = MetaData()
    people = Table(
        "people", meta, Column("id", Integer, primary_key=True), Column("nik", Encrypted())
    )
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(people.insert().values(id=1, nik="6311014508900002"))
        raw = (await conn.execute(text("SELECT nik FROM people"))).scalar_one()
        decoded = (await conn.execute(select(people.c.nik))).scalar_one()
    await engine.dispose()
    assert raw.startswith("v1.")
    assert "6311014508900002" not in raw
    assert decoded == "6311014508900002"


async def test_rotation_reencrypts_in_batches_and_recomputes_indexes(tmp_path: Path) -> None:
    from sqlalchemy import String

    from storage.db import Database
    from storage.rotation import rotate

    url = f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}"
    old_key = generate_key()
    meta = MetaData()
    people = Table(
        "people",
        meta,
        Column("id", Integer, primary_key=True),
        Column("nik", Encrypted()),
        Column("nik_index", String(64), info={INDEX_INFO: ("nik", None)}),
        Column("phone", Encrypted(), nullable=True),
    )
    old = Database(url, keyring=KeyRing.from_text(old_key))
    async with old.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(
            people.insert(),
            [
                {"id": i, "nik": f"63110145089{i:05d}", "nik_index": "stale", "phone": None}
                for i in range(1, 13)
            ],
        )
    await old.dispose()

    new_ring = KeyRing.from_text(f"{generate_key()},{old_key}")
    db = Database(url, keyring=new_ring)
    try:
        report = await rotate(db, meta, batch_size=5)
        assert (report.values_reencrypted, report.indexes_recomputed) == (12, 12)
        async with db.engine.connect() as conn:
            raws = (await conn.execute(text("SELECT nik, nik_index FROM people"))).all()
            plain = (await conn.execute(select(people.c.nik).order_by(people.c.id))).scalars()
            assert next(iter(plain)) == "6311014508900001"
        assert all(new_ring.key_id_of(r[0]) == new_ring.current_id for r in raws)
        assert raws[0][1] == new_ring.index("6311014508900001")
        again = await rotate(db, meta, batch_size=5)
        assert again.values_reencrypted == 0
    finally:
        await db.dispose()
