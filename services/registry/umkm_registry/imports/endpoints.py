"""HTTP endpoints for imports (filled in by its module's owner)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
