"""`POST /v1/oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).

Client authentication by HTTP Basic or by `client_id`/`client_secret` in the form body
(§2.3.1), never both. Errors are RFC 6749 §5.2 JSON (`{"error", "error_description"}`), not
problem+json, because OAuth client libraries parse exactly that shape.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from umkm_shared.auth.clients import ClientStore
from umkm_shared.auth.tokens import REALM, TokenIssuer
from umkm_shared.errors import ServiceUnavailable

log = structlog.stdlib.get_logger("umkm_shared.auth")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field("Bearer", examples=["Bearer"])
    expires_in: int = Field(examples=[900])
    scope: str = Field(examples=["registry:read registry:write"])


class OAuthError(BaseModel):
    error: str = Field(examples=["invalid_client"])
    error_description: str | None = None


class _OAuthFailure(Exception):
    def __init__(self, error: str, description: str, status: int = 400, basic: bool = False):
        self.error, self.description, self.status, self.basic = error, description, status, basic

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.status == 401 and self.basic:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise _OAuthFailure("invalid_client", "Malformed Basic credentials.", 401, True) from e
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _OAuthFailure("invalid_client", "Malformed Basic credentials.", 401, True)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise _OAuthFailure(
            "invalid_request", "Send the request as application/x-www-form-urlencoded."
        )
    form = await request.form()
    out: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) != 1:  # §3.2: parameters MUST NOT be included more than once
            raise _OAuthFailure("invalid_request", f"Parameter '{key}' is repeated.")
        out[key] = str(values[0])
    return out


_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string", "example": "registry:read"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}


def token_router(
    store_dependency: Callable[..., Any],
    issuer: TokenIssuer | None = None,
    *,
    path: str = "/v1/oauth/token",
) -> APIRouter:
    """The token endpoint. `store_dependency` is a FastAPI dependency giving a `ClientStore`
    (e.g. one built on the request's session); `issuer` defaults to `app.state.token_issuer`."""
    router = APIRouter(tags=["auth"])

    @router.post(
        path,
        summary="Get an access token (OAuth 2.0 client credentials)",
        response_model=TokenResponse,
        responses={400: {"model": OAuthError}, 401: {"model": OAuthError}},
        openapi_extra=_FORM_SCHEMA,
    )
    async def issue_token(
        request: Request, store: ClientStore = Depends(store_dependency)
    ) -> JSONResponse:
        token_issuer = issuer or getattr(request.app.state, "token_issuer", None)
        if token_issuer is None:
            raise ServiceUnavailable(detail="This service does not issue tokens.")
        try:
            return await _issue(request, store, token_issuer)
        except _OAuthFailure as failure:
            log.warning("token_refused", error=failure.error, reason=failure.description)
            return failure.response()

    return router


async def _issue(request: Request, store: ClientStore, issuer: TokenIssuer) -> JSONResponse:
    form = await _form(request)
    basic = _basic_credentials(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _OAuthFailure("invalid_request", "grant_type is required.")
    if grant_type != "client_credentials":
        raise _OAuthFailure("unsupported_grant_type", "Only client_credentials is supported.")

    if basic is not None:
        if "client_secret" in form:
            raise _OAuthFailure("invalid_request", "Use one client authentication method only.")
        if form.get("client_id") not in (None, basic[0]):
            raise _OAuthFailure("invalid_request", "client_id differs from the Basic credentials.")
        client_id, secret = basic
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            raise _OAuthFailure("invalid_client", "Client authentication is required.", 401)

    client = await store.authenticate(client_id, secret)
    if client is None:
        raise _OAuthFailure(
            "invalid_client", "Unknown client or wrong secret.", 401, basic is not None
        )

    requested = frozenset(form.get("scope", "").split())
    if requested and not requested <= client.scopes:
        extra = " ".join(sorted(requested - client.scopes))
        raise _OAuthFailure("invalid_scope", f"Scope not granted to this client: {extra}.")
    granted = requested or client.scopes

    token = issuer.issue(client.actor(granted))
    log.info("token_issued", client_id=client.client_id, scope=token.scope)
    body = TokenResponse(
        access_token=token.access_token, expires_in=token.expires_in, scope=token.scope
    )
    return JSONResponse(body.model_dump(), headers=_NO_STORE)
