"""SNAP BI style request signing for partner banks (symmetric signature).

    X-TIMESTAMP:   ISO 8601 with offset, e.g. 2026-11-27T16:00:00+07:00 (±5 min of our clock)
    X-PARTNER-ID:  the partner id the broker gave the bank at onboarding
    X-EXTERNAL-ID: unique per partner per day (Asia/Jakarta calendar day of X-TIMESTAMP)
    X-SIGNATURE:   base64(HMAC-SHA512(signing_secret, stringToSign))

    stringToSign = METHOD ":" path ":" access_token ":"
                   lowercase(hex(sha256(minified body))) ":" X-TIMESTAMP

`path` is the request path as sent, with its query string (e.g. `/v1/bank/applications?limit=20`);
`access_token` is the bearer token without "Bearer "; an empty body hashes the empty string.
Minifying removes whitespace outside JSON strings only, so string contents are hashed as sent.

Refusals are RFC 9457 problems that also carry SNAP's 7-character `responseCode`
(HTTP status + service code "00" + case code) and `responseMessage`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import text

from umkm_shared.auth import Actor, require_actor
from umkm_shared.errors import AppError, FieldError

WIB = timezone(timedelta(hours=7))
HEADERS = ("X-TIMESTAMP", "X-SIGNATURE", "X-PARTNER-ID", "X-EXTERNAL-ID")
BANK_SCOPE = "financing:bank"


def minify_json(body: bytes) -> bytes:
    """Drop whitespace outside JSON strings (a no-op for bodies sent already minified)."""
    out = bytearray()
    in_string = escaped = False
    for byte in body:
        if in_string:
            out.append(byte)
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte in (0x20, 0x09, 0x0A, 0x0D):
            continue
        else:
            out.append(byte)
            if byte == 0x22:
                in_string = True
    return bytes(out)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(minify_json(body)).hexdigest().lower()


def string_to_sign(method: str, path: str, access_token: str, body: bytes, timestamp: str) -> str:
    return f"{method.upper()}:{path}:{access_token}:{body_digest(body)}:{timestamp}"


def sign(secret: str, method: str, path: str, access_token: str, body: bytes, ts: str) -> str:
    message = string_to_sign(method, path, access_token, body, ts).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha512).digest()).decode()


def signed_headers(
    secret: str,
    partner_id: str,
    method: str,
    path: str,
    access_token: str,
    body: bytes = b"",
    *,
    external_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers a bank sends (used by our tests, the benchmark and the integration guide)."""
    ts = (now or datetime.now(UTC)).astimezone(WIB).isoformat(timespec="seconds")
    return {
        "Authorization": f"Bearer {access_token}",
        "X-TIMESTAMP": ts,
        "X-PARTNER-ID": partner_id,
        "X-EXTERNAL-ID": external_id or str(uuid.uuid4().int)[:32],
        "X-SIGNATURE": sign(secret, method, path, access_token, body, ts),
    }


@dataclass
class SnapRefused(AppError):
    """A SNAP header problem; `response_code` is SNAP's 7-character code."""

    response_code: str = "4010000"
    response_message: str = "Unauthorized"
    field_name: str | None = None

    status: ClassVar[int] = 401
    code: ClassVar[str] = "snap-signature"
    title: ClassVar[str] = "Request signature refused"

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().problem(instance)
        body["responseCode"] = self.response_code
        body["responseMessage"] = self.response_message
        if self.field_name:
            body["errors"] = [FieldError(self.field_name, self.detail).as_dict()]
        return body


class SnapUnauthorized(SnapRefused):
    status: ClassVar[int] = 401


class SnapBadRequest(SnapRefused):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "snap-header"
    title: ClassVar[str] = "Invalid SNAP header"


class SnapReplay(SnapRefused):
    status: ClassVar[int] = 409
    code: ClassVar[str] = "snap-replay"
    title: ClassVar[str] = "X-EXTERNAL-ID already used"


def _refuse(
    cls: type[SnapRefused],
    status: int,
    case: str,
    message: str,
    detail: str,
    field_name: str | None = None,
) -> SnapRefused:
    return cls(
        detail=detail,
        response_code=f"{status}00{case}",
        response_message=message,
        field_name=field_name,
    )


def parse_timestamp(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        ts = None
    if ts is None or ts.tzinfo is None:
        raise _refuse(
            SnapBadRequest,
            400,
            "01",
            "Invalid Field Format X-TIMESTAMP",
            "X-TIMESTAMP must be ISO 8601 with an offset, e.g. 2026-11-27T16:00:00+07:00",
            "header.X-TIMESTAMP",
        )
    return ts


@dataclass(frozen=True)
class SignedBank:
    """The caller of a bank endpoint after its token and SNAP signature were verified."""

    actor: Actor
    bank_id: uuid.UUID
    partner_id: str
    external_id: str


async def verify_snap(request: Request, actor: Actor) -> SignedBank:
    """Check the SNAP headers of a bank request; record X-EXTERNAL-ID (refuse replays)."""
    ctx = request.app.state.financing
    headers = request.headers
    missing = [h for h in HEADERS if not headers.get(h)]
    if missing:
        raise SnapBadRequest(
            detail=f"missing SNAP header(s): {', '.join(missing)}",
            errors=[FieldError(f"header.{h}", "Field required") for h in missing],
            response_code="4000002",
            response_message=f"Invalid Mandatory Field {missing[0]}",
        )
    try:
        bank_id = uuid.UUID(actor.actor_id or "")
    except ValueError:
        bank_id = uuid.UUID(int=0)
    bank = await ctx.bank_credentials(bank_id)
    partner_id = headers["X-PARTNER-ID"]
    if bank is None:
        raise _refuse(
            SnapUnauthorized,
            401,
            "00",
            "Unauthorized. Unknown partner",
            "this client is not an active partner bank",
        )
    if not hmac.compare_digest(partner_id.encode(), bank.partner_id.encode()):
        raise _refuse(
            SnapUnauthorized,
            401,
            "00",
            "Unauthorized. Partner mismatch",
            "X-PARTNER-ID is not the partner id of this client",
            "header.X-PARTNER-ID",
        )
    raw_ts = headers["X-TIMESTAMP"]
    ts = parse_timestamp(raw_ts)
    skew = abs((datetime.now(UTC) - ts).total_seconds())
    tolerance = ctx.settings.snap_timestamp_tolerance_seconds
    if skew > tolerance:
        raise _refuse(
            SnapUnauthorized,
            401,
            "00",
            "Unauthorized. Timestamp expired",
            f"X-TIMESTAMP is {int(skew)} s from the server clock (allowed ±{tolerance} s)",
            "header.X-TIMESTAMP",
        )
    external_id = headers["X-EXTERNAL-ID"]
    if len(external_id) > 64:
        raise _refuse(
            SnapBadRequest,
            400,
            "01",
            "Invalid Field Format X-EXTERNAL-ID",
            "X-EXTERNAL-ID is at most 64 characters",
            "header.X-EXTERNAL-ID",
        )
    _scheme, _, token = headers.get("authorization", "").partition(" ")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    expected = sign(bank.signing_secret, request.method, path, token.strip(), body, raw_ts)
    given = headers["X-SIGNATURE"].strip()
    as_hex = base64.b64decode(expected).hex()  # some bank stacks send the MAC hex-encoded
    if not (
        hmac.compare_digest(expected.encode(), given.encode())
        or hmac.compare_digest(as_hex.encode(), given.lower().encode())
    ):
        raise _refuse(
            SnapUnauthorized,
            401,
            "00",
            "Unauthorized. Signature",
            "X-SIGNATURE does not match HMAC-SHA512 over "
            "METHOD:path:access_token:sha256(minified body):X-TIMESTAMP",
            "header.X-SIGNATURE",
        )
    day = ts.astimezone(WIB).date()
    async with ctx.db.transaction() as session:  # own transaction: a replay stays refused
        fresh = (
            await session.execute(
                text(
                    "INSERT INTO snap_external_ids (partner_id, day, external_id, method, path) "
                    "VALUES (:p, :d, :e, :m, :path) ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {
                    "p": bank.partner_id,
                    "d": day,
                    "e": external_id,
                    "m": request.method,
                    "path": path[:2000],
                },
            )
        ).first()
    if fresh is None:
        raise SnapReplay(
            detail=f"X-EXTERNAL-ID {external_id} was already used by this partner on {day}",
            response_code="4090000",
            response_message="Conflict",
            field_name="header.X-EXTERNAL-ID",
        )
    return SignedBank(actor, bank_id, bank.partner_id, external_id)


_bank_actor = require_actor("bank", scope=BANK_SCOPE)


async def signed_bank(
    request: Request, actor: Annotated[Actor, Depends(_bank_actor)]
) -> SignedBank:
    return await verify_snap(request, actor)


SignedBankDep = Annotated[SignedBank, Depends(signed_bank)]
