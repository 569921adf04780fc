"""Root test fixtures: a real PostgreSQL and a real Kafka for every test suite in the repo.

Contract (docs/CONTRIBUTING-helpers.md):
- DATABASE_URL (a server admin URL) and KAFKA_BOOTSTRAP_SERVERS are used when set. When not set,
  the servers are started on first use via scripts/devstack.py and released at session end
  (stopped unless another session or `devstack.py up` still uses them).
- A server that cannot be reached or started is a test error, never a skip (in CI or not).

Fixtures (all session-scoped):
- pg_admin_url: str, `postgresql+asyncpg://...` admin URL of the server.
- make_database: `url = await make_database("prefix")` creates a fresh empty database and returns
  its `postgresql+asyncpg://` URL; every database made is dropped (WITH (FORCE)) at session end.
- kafka_bootstrap: str, `host:port`.
- keys: dev token and NIK keys; and, for a service's tests whose conftest defines `service`
  (its started app and runtime, made with `started_service`): app, runtime, bus, client.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

MakeDatabase = Callable[[str], Awaitable[str]]


def _devstack() -> ModuleType:
    """scripts/devstack.py, imported by path (scripts/ is not a package)."""
    if (module := sys.modules.get("devstack")) is not None:
        return module
    path = Path(__file__).parent / "scripts" / "devstack.py"
    spec = importlib.util.spec_from_file_location("devstack", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["devstack"] = module
    spec.loader.exec_module(module)
    return module


def _server_url(env_name: str, service: str) -> Iterator[str]:
    """The env var's value, or a devstack server leased for this session."""
    if value := os.environ.get(env_name):
        yield value
        return
    devstack = _devstack()
    server = devstack.Postgres() if service == "postgres" else devstack.Kafka()
    holder = devstack.session_holder()
    try:
        url: str = server.ensure(holder)
    except Exception as exc:
        pytest.fail(
            f"{env_name} is not set and the local {service} could not be started "
            f"(scripts/devstack.py): {exc}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        server.release(holder)


def to_asyncpg_url(url: str) -> str:
    """A postgres://, postgresql:// or postgresql+<driver>:// URL as a SQLAlchemy asyncpg URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or not (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql+asyncpg://{rest}"


def _asyncpg_dsn(url: str) -> str:
    """A `postgresql+asyncpg://` URL as a DSN asyncpg.connect() accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    for url in _server_url("DATABASE_URL", "postgres"):
        yield to_asyncpg_url(url)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    yield from _server_url("KAFKA_BOOTSTRAP_SERVERS", "kafka")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def make_database(pg_admin_url: str) -> AsyncIterator[MakeDatabase]:
    import asyncpg

    admin_dsn = _asyncpg_dsn(pg_admin_url)
    created: list[str] = []

    async def _make(prefix: str = "test") -> str:
        slug = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:40] or "test"
        name = f"{slug}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)

    yield _make

    if created:
        conn = await asyncpg.connect(admin_dsn)
        try:
            for name in created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# -- one service under test -------------------------------------------------------------------
# A service's conftest defines a session fixture `service` yielding its started (app, runtime),
# made with the `start_service` fixture; the fixtures below then give every service's tests the
# same app, runtime, bus and client.


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    """Dev keys for services under test: token signing and NIK encryption/hash keys."""
    from umkm_shared.devkeys import dev_secrets

    return dev_secrets()


@asynccontextmanager
async def started_service(
    make_database: MakeDatabase,
    name: str,
    migrations: Path,
    build: Callable[[str], tuple[Any, Any]],
) -> AsyncIterator[tuple[Any, Any]]:
    """A fresh database for `name` migrated to head, and the app `build(database_url)` makes,
    with its lifespan (relay, consumers, workers) running."""
    from umkm_shared.db import upgrade

    url = await make_database(name)
    await upgrade(url, migrations)
    app, runtime = build(url)
    async with app.router.lifespan_context(app):
        yield app, runtime


@pytest.fixture(scope="session")
def start_service(make_database: MakeDatabase) -> Callable[..., Any]:
    """`async with start_service("registry", MIGRATIONS, lambda url: build(...)) as (app, rt):`"""

    def start(name: str, migrations: Path, build: Callable[[str], tuple[Any, Any]]) -> Any:
        return started_service(make_database, name, migrations, build)

    return start


@pytest.fixture
def app(service: tuple[Any, Any]) -> Any:
    return service[0]


@pytest.fixture
def runtime(service: tuple[Any, Any]) -> Any:
    return service[1]


@pytest.fixture
def bus(runtime: Any) -> Any:
    return runtime.bus


@pytest_asyncio.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service.test"
    ) as c:
        yield c
