"""Generate the AsyncAPI 3.0 document of every registered event payload.

    uv run python -m umkm_shared.events.asyncapi            # print YAML
    uv run python -m umkm_shared.events.asyncapi --write    # write docs/asyncapi.yaml
    uv run python -m umkm_shared.events.asyncapi --check    # exit 1 if the file is stale

One channel per topic, one message per event type (`components.messages` keyed by the wire type),
the CloudEvents Kafka-binding headers as the message headers (with `ce_type` pinned per message),
and the payload JSON Schemas from Pydantic (serialization mode: what is on the wire). Output is
deterministic: payloads are sorted by topic and type, and no timestamps are written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from umkm_shared.events import EventPayload, all_payloads

__all__ = ["DEFAULT_PATH", "build_document", "main", "render"]

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
KAFKA_BINDING_VERSION = "0.5.0"
HEADERS_SCHEMA = "CloudEventsKafkaHeaders"

DESCRIPTION = """\
Events published by the UMKM platform's services. Every message is a CloudEvents 1.0 event in
the Kafka protocol binding's binary content mode: the context attributes travel as `ce_*`
headers, the message value is the JSON `data`, and the message key is the aggregate's id, so one
entity's events keep their order. Delivery is at least once (transactional outbox on the
producer side): consumers deduplicate by `ce_id`. Payload types are versioned: the `.vN` suffix
of `ce_type` changes only on a breaking change; consumers ignore fields they do not know.
A message whose handler keeps failing is moved to `<topic>.dlq` with the same key, value and
headers plus `dlq_error`, `dlq_original_topic`, `dlq_original_partition`,
`dlq_original_offset`, `dlq_group`, `dlq_attempts` and `dlq_failed_at`.
"""

_HEADER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka protocol binding, binary content mode.",
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "content-type"],
    "properties": {
        "ce_id": {"type": "string", "description": "Event id (a UUIDv7); the dedup key."},
        "ce_source": {"type": "string", "description": "Producing service, e.g. /registry."},
        "ce_type": {"type": "string", "description": "Versioned event type."},
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time", "description": "UTC, RFC 3339."},
        "ce_subject": {"type": "string", "description": "The aggregate id, as the key."},
        "ce_dataschema": {"type": "string", "format": "uri"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {
            "type": "string",
            "description": "W3C Trace Context of the change that produced the event.",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        },
    },
}


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def _summary(cls: type[EventPayload]) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else cls.__name__


def _description(cls: type[EventPayload]) -> str | None:
    lines = (cls.__doc__ or "").strip().splitlines()
    rest = " ".join(line.strip() for line in lines[1:] if line.strip())
    return rest or None


def build_document(payloads: list[type[EventPayload]] | None = None) -> dict[str, Any]:
    """The AsyncAPI document as plain data."""
    classes = payloads if payloads is not None else all_payloads()
    classes = sorted(classes, key=lambda c: (c.topic, c.type_name()))

    refs, top = models_json_schema(
        [(cls, "serialization") for cls in classes],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {HEADERS_SCHEMA: _HEADER_SCHEMA}
    schemas.update(dict(sorted(top.get("$defs", {}).items())))

    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for cls in classes:
        type_name = cls.type_name()
        key_schema = _key_schema(cls, schemas)
        message: dict[str, Any] = {
            "name": cls.__name__,
            "title": f"{cls.__name__} (v{cls.version})",
            "summary": _summary(cls),
        }
        description = _description(cls)
        if description:
            message["description"] = description
        message.update(
            {
                "contentType": "application/json",
                "headers": {
                    "allOf": [
                        {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                        {"type": "object", "properties": {"ce_type": {"const": type_name}}},
                    ]
                },
                "payload": refs[(cls, "serialization")],
                "bindings": {"kafka": {"key": key_schema, "bindingVersion": KAFKA_BINDING_VERSION}},
            }
        )
        messages[type_name] = message

        channel_id = _channel_id(cls.topic)
        channel = channels.setdefault(
            channel_id,
            {
                "address": cls.topic,
                "description": f"Events of topic {cls.topic}; key = aggregate id.",
                "messages": {},
                "bindings": {
                    "kafka": {"topic": cls.topic, "bindingVersion": KAFKA_BINDING_VERSION}
                },
            },
        )
        channel["messages"][type_name] = {"$ref": f"#/components/messages/{type_name}"}
        operation = operations.setdefault(
            f"publish_{channel_id}",
            {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"The producing service publishes to {cls.topic} via its outbox.",
                "messages": [],
            },
        )
        operation["messages"].append({"$ref": f"#/channels/{channel_id}/messages/{type_name}"})

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "UMKM platform events",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KRaft); the address differs per deployment.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _key_schema(cls: type[EventPayload], schemas: dict[str, Any]) -> dict[str, Any]:
    """Schema of the message key: the string form of the `key_field` value."""
    schema: dict[str, Any] = {"type": "string", "description": f"Value of `{cls.key_field}`."}
    model: Any = cls
    parts = cls.key_field.split(".")
    for i, part in enumerate(parts):
        annotation = model.model_fields[part].annotation
        if i < len(parts) - 1:
            model = annotation
            continue
        if getattr(annotation, "__name__", "") == "UUID":
            schema["format"] = "uuid"
    return schema


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so descriptions stay readable in the file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(payloads: list[type[EventPayload]] | None = None) -> str:
    """The AsyncAPI document as YAML text."""
    body: str = yaml.dump(
        build_document(payloads),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return (
        "# Generated from the event payloads in shared/umkm_shared/events: do not edit.\n"
        "# Regenerate: uv run python -m umkm_shared.events.asyncapi --write\n" + body
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umkm_shared.events.asyncapi")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write", nargs="?", const=str(DEFAULT_PATH), metavar="PATH", help="write the file"
    )
    group.add_argument(
        "--check", nargs="?", const=str(DEFAULT_PATH), metavar="PATH", help="fail if stale"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        path = Path(args.write)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    elif args.check:
        path = Path(args.check)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(
                f"{path} is stale; run: uv run python -m umkm_shared.events.asyncapi --write",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
