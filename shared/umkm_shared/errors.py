"""Typed application errors rendered as RFC 9457 problem+json by one handler.

Services raise these (never HTTPException); `install_error_handlers(app)` (in
`umkm_shared.web`) renders them, FastAPI's validation errors and anything unexpected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "https://umkm.go.id/problems/"


@dataclass(frozen=True)
class FieldError:
    """One invalid field: `field` is a dotted path such as `body.owner.nik` or `query.limit`."""

    field: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class AppError(Exception):
    """Base of every error a service raises on purpose."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __str__(self) -> str:
        return self.detail

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.code

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class BadRequest(AppError):
    status = 400
    code = "bad-request"
    title = "Bad request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(AppError):
    """409. For illegal state transitions put the allowed steps in `extra["allowed"]`."""

    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(AppError):
    status = 410
    code = "gone"
    title = "Gone"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(AppError):
    status = 428
    code = "precondition-required"
    title = "Precondition required"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(AppError):
    """422 with per-field errors."""

    status = 422
    code = "validation-error"
    title = "Invalid request"


class TooManyRequests(AppError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status = 503
    code = "service-unavailable"
    title = "Service unavailable"


def invalid(field_path: str, message: str, value: Any = None) -> ValidationFailed:
    """Shortcut for a single-field 422."""
    return ValidationFailed(
        detail=f"{field_path}: {message}", errors=[FieldError(field_path, message, value)]
    )
