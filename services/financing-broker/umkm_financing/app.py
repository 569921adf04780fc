"""The financing broker service: for now its health, readiness and metrics endpoints, its database
and its outbox relay; its domain arrives in a later release."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from umkm_shared.messaging.bus import EventBus
from umkm_shared.runtime import ServiceRuntime, build_service

from .config import Settings
from .models import messaging_tables

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings, bus: EventBus | None = None) -> tuple[FastAPI, ServiceRuntime]:
    return build_service(
        settings,
        title="UMKM Financing broker",
        description="Banks, anchor programmes, applications, offers and loans (later release).",
        tables=messaging_tables,
        bus=bus,
    )


def create_app() -> FastAPI:
    return build(Settings())[0]
