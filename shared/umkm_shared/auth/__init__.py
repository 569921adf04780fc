"""Authentication and authorisation: actors, access tokens, OAuth clients, dependencies."""

from umkm_shared.auth.actor import Actor, ActorKind, wilayah_clause
from umkm_shared.auth.clients import (
    ClientRecord,
    ClientStore,
    create_auth_tables,
    define_auth_tables,
    drop_auth_tables,
)
from umkm_shared.auth.deps import (
    AnchorActor,
    AnyActor,
    BankActor,
    DinasActor,
    KoperasiActor,
    MinistryActor,
    ServiceActor,
    configure_auth,
    current_actor,
    require_actor,
)
from umkm_shared.auth.endpoint import token_router
from umkm_shared.auth.tokens import (
    AuthenticationFailed,
    InsufficientPermission,
    TokenIssuer,
    TokenVerifier,
    issuer_from_settings,
    verifier_from_settings,
)

__all__ = [
    "Actor",
    "ActorKind",
    "AnchorActor",
    "AnyActor",
    "AuthenticationFailed",
    "BankActor",
    "ClientRecord",
    "ClientStore",
    "DinasActor",
    "InsufficientPermission",
    "KoperasiActor",
    "MinistryActor",
    "ServiceActor",
    "TokenIssuer",
    "TokenVerifier",
    "configure_auth",
    "create_auth_tables",
    "current_actor",
    "define_auth_tables",
    "drop_auth_tables",
    "issuer_from_settings",
    "require_actor",
    "token_router",
    "verifier_from_settings",
    "wilayah_clause",
]
