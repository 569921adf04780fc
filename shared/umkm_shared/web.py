"""The service web kit: app factory, RFC 9457 error rendering, body-size limit, OpenAPI tidy-up.

Every service builds its FastAPI app with `create_service_app(...)`; the embedded composition
root mounts those apps under prefixes (`parent.mount("/registry", registry_app)`) and runs their
lifespans with `run_lifespans(...)` (Starlette does not run a mounted app's lifespan).

JSON responses: FastAPI's default path (Pydantic's Rust serializer writing bytes directly when a
response model or return type is declared) is kept on purpose. `ORJSONResponse` is deprecated
in this FastAPI and, set as default class, would switch that faster path off. orjson is used for
the bodies we render ourselves (problems).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from umkm_shared import errors
from umkm_shared.auth.deps import configure_auth
from umkm_shared.errors import AppError, FieldError
from umkm_shared.logging import configure_logging
from umkm_shared.observability import (
    Metrics,
    ObservabilityMiddleware,
    ReadinessCheck,
    current_trace,
    health_router,
    internal_error_response,
    route_path,
)
from umkm_shared.settings import ServiceSettings
from umkm_shared.tracing import configure_tracing

log = structlog.stdlib.get_logger("umkm_shared.web")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BY_STATUS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        errors.BadRequest,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.Gone,
        errors.PreconditionFailed,
        errors.PreconditionRequired,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ValidationFailed,
        errors.TooManyRequests,
        errors.ServiceUnavailable,
    )
}
_MESSAGE_PREFIXES = ("Value error, ", "Assertion failed, ")

# ---------------------------------------------------------------------------------------------
# Problem documents
# ---------------------------------------------------------------------------------------------


class ProblemFieldError(BaseModel):
    field: str = Field(examples=["body.owner.nik"])
    message: str = Field(examples=["NIK must be 16 digits"])
    value: Any | None = None


class Problem(BaseModel):
    """RFC 9457 problem details (extension members allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://umkm.go.id/problems/validation-error"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str | None = Field(None, examples=["body.owner.nik: NIK must be 16 digits"])
    instance: str | None = Field(None, examples=["/registry/v1/umkm"])
    errors: list[ProblemFieldError] | None = None


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: document problem+json bodies for these statuses."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def _instance(request: Request) -> str:
    return request.url.path


def app_error_response(request: Request, exc: AppError) -> Response:
    """AppError -> problem. Subclasses may carry `headers` (e.g. WWW-Authenticate)."""
    headers: Mapping[str, str] | None = getattr(exc, "headers", None)
    return ProblemResponse(
        exc.problem(instance=_instance(request)), status_code=exc.status, headers=headers
    )


# ---------------------------------------------------------------------------------------------
# Exception handlers
# ---------------------------------------------------------------------------------------------


def _clean_message(msg: str) -> str:
    for prefix in _MESSAGE_PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _field_errors(raw: Sequence[Any]) -> list[FieldError]:
    out = []
    for err in raw:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        value = err.get("input")
        show = err.get("type") != "missing" and isinstance(value, str | int | float | bool)
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "…"
        out.append(
            FieldError(loc, _clean_message(str(err.get("msg", ""))), value if show else None)
        )
    return out


def _is_json_media(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    content_type = request.headers.get("content-type")
    for err in raw:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            pos = loc[1] if len(loc) > 1 else "?"
            reason = (err.get("ctx") or {}).get("error", "invalid JSON")
            problem = errors.BadRequest(
                detail="The request body is not valid JSON.",
                errors=[FieldError("body", f"{reason} (at position {pos})")],
            )
            return app_error_response(request, problem)
        # FastAPI hands a JSON-expecting route the raw bytes when the media type is not JSON.
        if (
            loc == ("body",)
            and isinstance(err.get("input"), bytes | bytearray)
            and not _is_json_media(content_type)
        ):
            problem415 = errors.UnsupportedMediaType(
                detail=f"Content-Type must be application/json, got {content_type or 'none'}."
            )
            return app_error_response(request, problem415)
    field_errors = _field_errors(raw)
    detail = "; ".join(f"{e.field}: {e.message}" for e in field_errors[:5])
    return app_error_response(request, errors.ValidationFailed(detail=detail, errors=field_errors))


async def _app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if exc.status >= 500:
        log.error("app_error", status=exc.status, detail=exc.detail, code=exc.code)
    return app_error_response(request, exc)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if status == 404 and detail is None:
        detail = f"No resource at {request.method} {request.url.path}."
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow", "")
        detail = f"Method {request.method} is not allowed here; allowed: {allowed or 'none'}."
    cls = _BY_STATUS.get(status)
    if cls is not None:
        body = cls(detail=detail or phrase).problem(instance=_instance(request))
    else:
        body = {
            "type": "about:blank",
            "title": phrase,
            "status": status,
            "detail": detail or phrase,
        }
        body["instance"] = _instance(request)
    return ProblemResponse(body, status_code=status, headers=exc.headers)


async def _unhandled_handler(request: Request, exc: Exception) -> Response:
    """Only reached when the observability middleware is absent (it catches first)."""
    ctx = current_trace()
    log.error("unhandled_error", exc_info=exc)
    return internal_error_response(request.url.path, ctx.trace_id if ctx else None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


# ---------------------------------------------------------------------------------------------
# Body size limit
# ---------------------------------------------------------------------------------------------


class BodyLimitMiddleware:
    """413 problem for bodies over the limit. A declared Content-Length is refused before
    reading; a streamed body fails when the limit is crossed (an HTTPException, which FastAPI
    lets through its body parsing to our handler). `overrides`: path prefix -> limit, e.g. a
    bulk-import route taking large files."""

    def __init__(self, app: ASGIApp, *, limit: int, overrides: Mapping[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.overrides = sorted((overrides or {}).items(), key=lambda kv: -len(kv[0]))

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(route_path(scope))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            body = errors.PayloadTooLarge(
                detail=f"The request body exceeds {limit} bytes.", extra={"max_bytes": limit}
            ).problem(instance=scope.get("path"))
            await ProblemResponse(body, status_code=413, headers={"Connection": "close"})(
                scope, receive, send
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(413, f"The request body exceeds {limit} bytes.")
            return message

        await self.app(scope, limited_receive, send)


# ---------------------------------------------------------------------------------------------
# OpenAPI: document our problem bodies instead of FastAPI's HTTPValidationError
# ---------------------------------------------------------------------------------------------


def _tidy_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ProblemFieldError"] = ProblemFieldError.model_json_schema()
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem_schema.pop("$defs", None)
    components["Problem"] = problem_schema
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses:
                continue
            for status, response in responses.items():
                content = response.get("content", {})
                if status == "422" or PROBLEM_MEDIA_TYPE in content:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": ref}}
                    if status == "422":
                        response["description"] = "Invalid request (per-field errors)"
    return schema


def _install_openapi(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        return _tidy_openapi(original())

    app.openapi = openapi  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# App factory
# ---------------------------------------------------------------------------------------------

Hook = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _compose_lifespan(
    lifespan: Lifespan | None, on_startup: Sequence[Hook], on_shutdown: Sequence[Hook]
) -> Lifespan:
    @asynccontextmanager
    async def composed(app: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            for hook in on_shutdown:
                await hook()

    return composed


def create_service_app(
    *,
    title: str,
    settings: ServiceSettings,
    routers: Iterable[APIRouter] = (),
    version: str = "0.1.0",
    description: str = "",
    openapi_tags: list[dict[str, Any]] | None = None,
    lifespan: Lifespan | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    body_limit_overrides: Mapping[str, int] | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    """A FastAPI app with our error handlers, middleware, `/healthz`, `/readyz`, `/metrics`.

    App state: `settings`, `metrics` (`Metrics`, per app), `readiness_checks` (a dict; add
    checks later with `add_readiness_check`), and, when keys are configured in `settings`,
    `token_verifier` / `token_issuer` (see `umkm_shared.auth`).
    """
    if configure_logs:  # a no-op if the process (e.g. the embedded root) configured it first
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.json_logs
        )
    configure_tracing(settings.service_name, settings.otel_exporter, settings.otel_endpoint)
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        openapi_tags=openapi_tags,
        lifespan=_compose_lifespan(lifespan, on_startup, on_shutdown),
        responses=problem_responses(500),
    )
    app.state.settings = settings
    app.state.metrics = Metrics(settings.service_name)
    app.state.readiness_checks = dict(readiness_checks or {})
    configure_auth(app, settings)

    install_error_handlers(app)
    # add_middleware prepends: the last added is the outermost.
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.max_request_body_bytes, overrides=body_limit_overrides
    )
    app.add_middleware(
        ObservabilityMiddleware, service=settings.service_name, metrics=app.state.metrics
    )
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    _install_openapi(app)
    return app


def add_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    app.state.readiness_checks[name] = check


@asynccontextmanager
async def run_lifespans(apps: Iterable[FastAPI]) -> AsyncIterator[None]:
    """Run mounted apps' lifespans from the parent's lifespan (in order; exit reversed):

    parent = FastAPI(lifespan=lambda _: run_lifespans(apps.values()))
    for prefix, sub in apps.items(): parent.mount(prefix, sub)
    """
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield
