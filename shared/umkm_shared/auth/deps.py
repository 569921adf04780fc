"""FastAPI dependencies: one per actor kind, plus `require_actor` for combinations.

    @router.get("/v1/umkm")
    async def search(actor: DinasActor): ...

    Writer = Annotated[Actor, Depends(require_actor("dinas", "ministry", scope="registry:write"))]

The verifier comes from `request.app.state.token_verifier` (set by `configure_auth`, which the
app factory calls), so each service app, the embedded app and tests can configure their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from umkm_shared.auth.actor import Actor, ActorKind
from umkm_shared.auth.tokens import (
    AuthenticationFailed,
    InsufficientPermission,
    TokenVerifier,
    issuer_from_settings,
    verifier_from_settings,
)
from umkm_shared.errors import ServiceUnavailable
from umkm_shared.settings import ServiceSettings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token from `POST /v1/oauth/token` (client credentials).",
)

KindLike = ActorKind | str


def configure_auth(
    app: FastAPI, settings: ServiceSettings | None = None, *, verifier: TokenVerifier | None = None
) -> None:
    """Set `app.state.token_verifier` / `token_issuer` from settings (or an explicit verifier)."""
    if settings is not None:
        app.state.token_verifier = verifier or verifier_from_settings(settings)
        app.state.token_issuer = issuer_from_settings(settings)
    elif verifier is not None:
        app.state.token_verifier = verifier


def get_token_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise ServiceUnavailable(detail="Authentication is not configured on this service.")
    return verifier


async def current_actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> Actor:
    """Any authenticated actor; 401 problem (with a Bearer challenge) otherwise."""
    if credentials is None:
        raise AuthenticationFailed(detail="A bearer access token is required.", error=None)
    actor = get_token_verifier(request).verify(credentials.credentials)
    request.state.actor = actor
    structlog.contextvars.bind_contextvars(**actor.log_fields())
    return actor


def _flatten(kinds: Iterable[KindLike | Iterable[KindLike]]) -> frozenset[ActorKind]:
    out: set[ActorKind] = set()
    for k in kinds:
        if isinstance(k, str):  # ActorKind is a str too
            out.add(ActorKind(k))
        else:
            out.update(ActorKind(x) for x in k)
    return frozenset(out)


def require_actor(
    *kinds: KindLike | Iterable[KindLike],
    scope: str | Iterable[str] | None = None,
) -> Callable[..., Awaitable[Actor]]:
    """A dependency admitting the given kinds (all kinds when none given) holding every
    scope in `scope`. Wrong kind or missing scope -> 403 problem naming what is required."""
    allowed = _flatten(kinds)
    needed = frozenset(scope.split() if isinstance(scope, str) else (scope or ()))

    async def dependency(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if allowed and actor.kind not in allowed:
            names = ", ".join(sorted(k.value for k in allowed))
            raise InsufficientPermission(
                detail=f"This operation is for {names}; the caller is {actor.kind.value}.",
                extra={"required_actor_kinds": sorted(k.value for k in allowed)},
            )
        missing = needed - actor.scopes
        if missing:
            raise InsufficientPermission(
                detail=f"Missing scope: {' '.join(sorted(missing))}.",
                extra={"required_scopes": sorted(needed)},
                scope=" ".join(sorted(needed)),
            )
        return actor

    return dependency


AnyActor = Annotated[Actor, Depends(current_actor)]
MinistryActor = Annotated[Actor, Depends(require_actor(ActorKind.MINISTRY))]
DinasActor = Annotated[Actor, Depends(require_actor(ActorKind.DINAS))]
BankActor = Annotated[Actor, Depends(require_actor(ActorKind.BANK))]
AnchorActor = Annotated[Actor, Depends(require_actor(ActorKind.ANCHOR))]
KoperasiActor = Annotated[Actor, Depends(require_actor(ActorKind.KOPERASI))]
ServiceActor = Annotated[Actor, Depends(require_actor(ActorKind.SERVICE))]
