"""The four services as separate processes over the test PostgreSQL and Kafka (end-to-end tests).

Each service gets a fresh database, its own port, and a Kafka topic prefix unique to the run, so
the processes see only each other's events (not those of other tests on the same broker). They
export spans to their log (`OTEL_EXPORTER=console`), which lets a test follow one trace across
processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from umkm_platform.stack import STACK_SERVICES, StackService, service_env, start_service
from umkm_shared.auth import Actor, ActorKind
from umkm_shared.auth.tokens import TokenIssuer
from umkm_shared.devkeys import dev_secrets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningService:
    spec: StackService
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class DistributedStack:
    log_dir: Path
    secrets: dict[str, Any]
    services: dict[str, RunningService] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.services[name].url

    def token(
        self,
        kind: str,
        *,
        actor_id: str | None = None,
        wilayah: str | None = None,
        scopes: frozenset[str] = frozenset(),
    ) -> dict[str, str]:
        issuer = TokenIssuer(
            self.secrets["jwt_private_key"],
            issuer="https://auth.umkm.go.id",
            audience="umkm-platform",
        )
        actor = Actor(
            kind=ActorKind(kind),
            client_id=f"e2e-{kind}-{uuid.uuid4().hex[:8]}",
            actor_id=actor_id,
            wilayah=wilayah,
            scopes=scopes,
        )
        return {"Authorization": f"Bearer {issuer.issue(actor).access_token}"}

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    async def start(self, name: str) -> None:
        running = self.services[name]
        running.proc = start_service(running.spec, running.env, self.log_dir, port=running.port)
        await wait_ready(running)

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, as in a crashed pod."""
        proc = self.services[name].proc
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for running in self.services.values():
            if running.proc.poll() is None:
                os.killpg(running.proc.pid, signal.SIGTERM)
        for running in self.services.values():
            try:
                running.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(running.proc.pid, signal.SIGKILL)


async def wait_ready(running: RunningService, limit_s: float = 90.0) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if running.proc.poll() is not None:
                raise RuntimeError(f"{running.spec.name} exited with {running.proc.returncode}")
            try:
                if (await client.get(f"{running.url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{running.spec.name} not ready after {limit_s:.0f} s")


async def start_stack(
    make_database: Callable[[str], Awaitable[str]], kafka_bootstrap: str, log_dir: Path
) -> DistributedStack:
    secrets = dev_secrets()
    stack = DistributedStack(log_dir=log_dir, secrets=secrets)
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    for spec in STACK_SERVICES:
        database = await make_database(f"e2e_{spec.name.replace('-', '_')}")
        env = service_env(spec, database, kafka_bootstrap, secrets)
        p = spec.env_prefix
        env |= {
            f"{p}ENVIRONMENT": "test",
            f"{p}KAFKA_TOPIC_PREFIX": prefix,
            f"{p}OTEL_EXPORTER": "console",
        }
        port = free_port()
        proc = start_service(spec, env, log_dir, port=port)
        stack.services[spec.name] = RunningService(spec, port, env, proc)
    try:
        await asyncio.gather(*(wait_ready(r) for r in stack.services.values()))
    except BaseException:
        stack.stop_all()
        raise
    return stack


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, limit_s: float = 60.0, interval: float = 0.3
) -> Any:
    """Poll `probe` until it returns something truthy (the events travel asynchronously)."""
    deadline = time.monotonic() + limit_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit_s:.0f} s (last: {result!r})")
        await asyncio.sleep(interval)
