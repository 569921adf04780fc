"""The test infrastructure itself: real PostgreSQL and Kafka, and devstack's server lifecycle."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration

MakeDatabase = Callable[[str], Awaitable[str]]


def _devstack() -> ModuleType:
    # Same module object as the root conftest's (both register it as "devstack").
    if (module := sys.modules.get("devstack")) is not None:
        return module
    path = Path(__file__).resolve().parents[1] / "scripts" / "devstack.py"
    spec = importlib.util.spec_from_file_location("devstack", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["devstack"] = module
    spec.loader.exec_module(module)
    return module


async def test_make_database_gives_a_fresh_database_on_a_real_server(
    make_database: MakeDatabase,
) -> None:
    url = await make_database("devstack check")
    assert url.startswith("postgresql+asyncpg://")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("select version()"))).scalar_one()
            database = (await conn.execute(text("select current_database()"))).scalar_one()
            tables_query = text("select count(*) from pg_tables where schemaname = 'public'")
            tables = (await conn.execute(tables_query)).scalar_one()
    finally:
        await engine.dispose()
    assert version.startswith("PostgreSQL ")
    assert database.startswith("devstack_check_")
    assert url.endswith("/" + database)
    assert tables == 0


async def test_make_database_names_are_unique(make_database: MakeDatabase) -> None:
    first, second = await make_database("same"), await make_database("same")
    assert first != second


async def test_kafka_round_trip_with_headers(kafka_bootstrap: str) -> None:
    topic = f"devstack-test-{uuid.uuid4().hex}"
    headers = [("ce_id", b"0192f0c4-0000-7000-8000-000000000001"), ("ce_type", b"devstack.ping")]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"ok": true}', key=b"k1", headers=headers)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"devstack-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (message.partition, message.offset) == (sent.partition, sent.offset)
    assert message.key == b"k1"
    assert message.value == b'{"ok": true}'
    assert list(message.headers) == headers


def test_admin_url_is_sqlalchemy_asyncpg(pg_admin_url: str) -> None:
    assert pg_admin_url.startswith("postgresql+asyncpg://")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_postgres_lifecycle_idempotent_leases_and_stale_state(tmp_path: Path) -> None:
    """A second, private PostgreSQL (own state dir and port): start twice, share, stop, restart."""
    devstack = _devstack()
    port = _free_port()
    pg = devstack.Postgres(root=tmp_path / "pg", port=port)
    try:
        url = pg.ensure("pid-1")  # pid 1 always exists: the lease stays live
        pid = pg.state()["pid"]
        assert url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        assert _can_connect(port)

        # Idempotent: a second user shares the same server.
        assert pg.ensure("session-b") == url
        assert pg.state()["pid"] == pid

        # Stopped only when the last user leaves.
        assert pg.release("pid-1") is False
        assert _can_connect(port)
        assert pg.release("session-b") is True
        assert pg.state() is None
        assert not _can_connect(port)

        # A stale state file (dead pid) and a dead session's lease do not block a restart.
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (pg.root / "state.json").write_text(f'{{"pid": {dead.pid}, "port": {port}}}')
        assert pg.state() is None
        pg.ensure(f"pid-{dead.pid}")
        assert pg.state()["pid"] != pid
        assert pg.leases() == []  # the dead holder's lease was pruned
        assert _can_connect(port)
    finally:
        pg.stop()
    assert pg.state() is None
    assert not _can_connect(port)


def test_occupied_port_is_reported_not_stolen(tmp_path: Path) -> None:
    devstack = _devstack()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        pg = devstack.Postgres(root=tmp_path / "pg", port=port)
        with pytest.raises(devstack.DevstackError, match="DEVSTACK_PG_PORT"):
            pg.ensure("pid-1")
        assert pg.state() is None
        assert pg.leases() == []


def test_kafka_metadata_probe(kafka_bootstrap: str) -> None:
    devstack = _devstack()
    host, _, port = kafka_bootstrap.rpartition(":")
    assert devstack.kafka_metadata_ready(int(port), host) is True
    assert devstack.kafka_metadata_ready(_free_port()) is False


def test_kafka_cluster_ids_never_look_like_command_line_options() -> None:
    devstack = _devstack()
    ids = {devstack._kafka_cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


async def _databases(admin_url: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch("select datname from pg_database where not datistemplate")
    finally:
        await conn.close()
    return {row["datname"] for row in rows}


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.mark.parametrize("durable", [False, True])
async def test_postgres_restart_keeps_data_only_when_durable(tmp_path: Path, durable: bool) -> None:
    devstack = _devstack()
    pg = devstack.Postgres(root=tmp_path / "pg", port=_free_port(), durable=durable)
    try:
        url = pg.ensure()
        await _create_database(url, "left_behind")
        assert pg.stop() is True
        url = pg.ensure()
        assert ("left_behind" in await _databases(url)) is durable
    finally:
        pg.stop()
