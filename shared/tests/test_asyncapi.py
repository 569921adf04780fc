"""The committed AsyncAPI document must match the event payloads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from umkm_shared.events.asyncapi import DEFAULT_PATH, build_document, render

REGENERATE = "uv run python -m umkm_shared.events.asyncapi --write"


def test_committed_asyncapi_document_is_up_to_date() -> None:
    # A fresh interpreter: payload classes that other tests define must not leak in.
    fresh = subprocess.run(
        [sys.executable, "-m", "umkm_shared.events.asyncapi"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert DEFAULT_PATH.exists(), f"{DEFAULT_PATH} is missing; generate it with: {REGENERATE}"
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == fresh, (
        f"{DEFAULT_PATH} is stale: the event payloads changed. Regenerate it with: {REGENERATE}"
    )


def test_generation_is_deterministic_and_complete() -> None:
    assert render() == render()
    doc = yaml.safe_load(render())
    assert doc["asyncapi"] == "3.0.0"
    channel = doc["channels"]["umkm_registry_v1"]
    assert channel["address"] == "umkm.registry.v1"
    registered = "id.umkm.registry.umkm.registered.v1"
    assert channel["messages"][registered] == {"$ref": f"#/components/messages/{registered}"}
    message = doc["components"]["messages"][registered]
    assert message["payload"] == {"$ref": "#/components/schemas/UmkmRegistered"}
    assert message["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == registered
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    schemas = doc["components"]["schemas"]
    assert {"UmkmRegistered", "UmkmSnapshot", "KbliRef", "Certification"} <= set(schemas)
    assert "owner_nik_hash" in schemas["UmkmSnapshot"]["properties"]
    assert "nik" not in schemas["UmkmSnapshot"]["properties"]
    headers = schemas["CloudEventsKafkaHeaders"]
    assert set(headers["required"]) >= {"ce_id", "ce_source", "ce_type", "ce_specversion"}
    # Every $ref resolves inside the document.
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(build_document())
    for ref in refs:
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"dangling $ref {ref}"
            target = target[part]


def test_check_flag_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text("asyncapi: 3.0.0\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "umkm_shared.events.asyncapi", "--check", str(stale)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "--write" in result.stderr
