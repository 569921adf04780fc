"""The distributed mode on one machine, without Docker: `make up` / `make down`.

    uv run python -m umkm_platform.stack up      # PostgreSQL, Kafka, four service processes
    uv run python -m umkm_platform.stack status
    uv run python -m umkm_platform.stack down

A local PostgreSQL (data kept in .data/stack/postgres between runs) and a single-node Kafka broker
in KRaft mode (empty on every `up`) come from scripts/devstack.py, on their own ports so they never
touch the test servers. Each service then runs as its own process (`python -m umkm_<svc> serve
--migrate`) on its own port with its own database, and the services talk to each other only
through Kafka. Logs go to .data/stack/logs/<service>.log; pids to .data/stack/pids.json.

The registry hosts the token endpoint; every service verifies tokens with the same public key.
Dev keys are generated once into .data/stack/keys (never used in production).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from umkm_shared.db import Database
from umkm_shared.devkeys import dev_secrets

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackService:
    name: str
    module: str
    env_prefix: str
    database: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


STACK_SERVICES = (
    StackService("registry", "umkm_registry", "REGISTRY_", "umkm_registry", 8101),
    StackService("clustering", "umkm_clustering", "CLUSTERING_", "umkm_clustering", 8102),
    StackService("financing", "umkm_financing", "FINANCING_", "umkm_financing", 8103),
    StackService("supply-chain", "umkm_supply_chain", "SUPPLY_CHAIN_", "umkm_supply_chain", 8104),
)

# Ports of the stack's own PostgreSQL and Kafka (the test servers use 55432 / 59092).
PG_PORT = int(os.environ.get("STACK_PG_PORT", "55532"))
KAFKA_PORT = int(os.environ.get("STACK_KAFKA_PORT", "59192"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("STACK_KAFKA_CONTROLLER_PORT", "59193"))
HOLDER = "stack"


def _devstack() -> ModuleType:
    """scripts/devstack.py is a stdlib script, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("devstack", module)
    spec.loader.exec_module(module)
    return module


def _servers(data_dir: Path) -> tuple[Any, Any]:
    devstack = _devstack()
    postgres = devstack.Postgres(data_dir / "postgres", PG_PORT, durable=True)
    kafka = devstack.Kafka(data_dir / "kafka", KAFKA_PORT, KAFKA_CONTROLLER_PORT)
    return postgres, kafka


def service_database_url(pg_admin_url: str, service: StackService) -> str:
    return pg_admin_url.rsplit("/", 1)[0] + f"/{service.database}"


def service_env(
    service: StackService, database_url: str, kafka: str, secrets: dict[str, Any]
) -> dict[str, str]:
    """Environment of one service process (its settings are `<PREFIX>_*` variables)."""
    p = service.env_prefix
    env = {
        f"{p}DATABASE_URL": database_url,
        f"{p}KAFKA_BOOTSTRAP_SERVERS": kafka,
        f"{p}ENVIRONMENT": "dev",
        f"{p}LOG_JSON": "true",
        f"{p}JWT_PUBLIC_KEYS": secrets["jwt_public_keys"],
    }
    if service.name in ("registry", "financing", "supply-chain"):  # each hosts a token endpoint
        env[f"{p}JWT_PRIVATE_KEY"] = secrets["jwt_private_key"]
    if service.name == "financing":  # encrypts the banks' request-signing secrets at rest
        env[f"{p}SIGNING_SECRET_KEYS"] = json.dumps(secrets["nik_encryption_keys"])
        env[f"{p}SIGNING_SECRET_ACTIVE_KEY_ID"] = secrets["nik_active_key_id"]
    if service.name in ("registry", "financing"):  # both store owners' NIKs (with consent)
        env[f"{p}NIK_ENCRYPTION_KEYS"] = json.dumps(secrets["nik_encryption_keys"])
        env[f"{p}NIK_ACTIVE_KEY_ID"] = secrets["nik_active_key_id"]
        env[f"{p}NIK_HASH_KEY"] = secrets["nik_hash_key"]
    return env


def start_service(
    service: StackService,
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
) -> subprocess.Popen[bytes]:
    """One service process in its own process group (so a stop also reaches its children)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{service.name}.log", "ab")  # the child owns it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            service.module,
            "serve",
            "--migrate",
            "--port",
            str(port or service.port),
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Wait until `url`/readyz answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with code {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz did not answer 200 within {timeout:.0f} s")


def stop_process(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def up(data_dir: Path) -> int:
    postgres, kafka = _servers(data_dir)
    print("starting PostgreSQL and Kafka (first run downloads the Kafka jars) ...", flush=True)
    pg_url = postgres.ensure(HOLDER)
    bootstrap = kafka.ensure(HOLDER)
    secrets = dev_secrets(data_dir / "keys")
    pids_file = data_dir / "pids.json"
    pids: dict[str, int] = _read_pids(pids_file)
    for service in STACK_SERVICES:
        if service.name in pids and _alive(pids[service.name]):
            print(f"{service.name:13} already running (pid {pids[service.name]})")
            continue
        env = service_env(service, service_database_url(pg_url, service), bootstrap, secrets)
        proc = start_service(service, env, data_dir / "logs")
        pids[service.name] = proc.pid
        pids_file.write_text(json.dumps(pids, indent=2))
        try:
            wait_ready(service.url, proc)
        except (RuntimeError, TimeoutError) as exc:
            print(f"{service.name}: {exc}; see {data_dir / 'logs' / service.name}.log")
            return 1
        print(f"{service.name:13} {service.url}/docs  (pid {proc.pid})", flush=True)
    clients = asyncio.run(_demo_clients(pg_url, data_dir / "credentials.json"))
    registry = STACK_SERVICES[0]
    print("\nDemo clients (secrets in .data/stack/credentials.json):")
    for client in clients:
        print(f"  {client['name']:34} client_id={client['client_id']}")
    print(
        f"  token: curl -s -u <client_id>:<client_secret> -d grant_type=client_credentials "
        f"{registry.url}/v1/oauth/token\n"
    )
    print(f"PostgreSQL    {pg_url}\nKafka         {bootstrap}")
    print(f"logs          {data_dir / 'logs'}/<service>.log\nstop with     make down")
    return 0


async def _demo_clients(pg_admin_url: str, path: Path) -> list[dict[str, Any]]:
    """The ministry and Dinas demo clients in the registry's database (created once)."""
    from umkm_platform.demo import ensure_clients

    registry = STACK_SERVICES[0]
    db = Database(service_database_url(pg_admin_url, registry))
    try:
        return await ensure_clients(db, path)
    finally:
        await db.dispose()


def down(data_dir: Path) -> int:
    pids_file = data_dir / "pids.json"
    for name, pid in _read_pids(pids_file).items():
        if _alive(pid):
            stop_process(pid)
            print(f"stopped {name} (pid {pid})")
    pids_file.unlink(missing_ok=True)
    postgres, kafka = _servers(data_dir)
    for server in (kafka, postgres):
        if server.stop():
            print(f"stopped {server.name}")
    return 0


def status(data_dir: Path) -> int:
    pids = _read_pids(data_dir / "pids.json")
    for service in STACK_SERVICES:
        pid = pids.get(service.name)
        state = "running" if pid and _alive(pid) else "stopped"
        ready = ""
        if state == "running":
            with contextlib.suppress(httpx.HTTPError):
                ready = f"readyz {httpx.get(f'{service.url}/readyz', timeout=2).status_code}"
        print(f"{service.name:13} {state:8} {service.url} {ready}")
    postgres, kafka = _servers(data_dir)
    for server in (postgres, kafka):
        print(f"{server.name:13} {'running' if server.state() else 'stopped'}")
    return 0


def _read_pids(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umkm_platform.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "stack")
    args = parser.parse_args(argv)
    handlers = {"up": up, "down": down, "status": status}
    return handlers[args.command](args.data_dir)


if __name__ == "__main__":
    raise SystemExit(main())
