"""SSRF guard for webhook endpoint URLs.

A webhook URL is chosen by a partner, and our workers call it from inside our network, so an
unchecked URL could make us call the cloud metadata service, a database admin page or anything
else only reachable from inside. The rules (outside test mode):

- scheme `https` only (`http` too when private targets are allowed, i.e. tests and local demos);
- no user/password in the URL;
- the host must resolve, and *every* address it resolves to must be a public unicast address:
  no loopback, private (RFC 1918, ULA), link-local (169.254/16 incl. 169.254.169.254 metadata,
  fe80::/10), shared CGNAT (100.64/10, incl. Alibaba's 100.100.100.200 metadata), multicast,
  reserved, unspecified, documentation, benchmarking; IPv4-mapped / NAT64 / 6to4 IPv6 addresses
  are judged by the IPv4 address inside them.

The check runs at registration (a 422 naming `url`), again before every attempt, and finally at
connect time in the worker's own HTTP transport (`guarded_transport`), which connects only to an
address it has just vetted: a DNS answer that changes between the check and the connection (DNS
rebinding) cannot smuggle in an internal address. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

from umkm_shared.errors import FieldError, ValidationFailed

__all__ = [
    "UnsafeWebhookUrl",
    "check_webhook_url",
    "forbidden_reason",
    "guarded_transport",
    "validate_url_syntax",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_INTERNAL_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "localhost"}
)
MAX_URL_LENGTH = 2048


class UnsafeWebhookUrl(ValidationFailed):
    """A webhook URL we refuse to call (422 with a field error on `field`)."""

    def __init__(self, message: str, *, field: str = "url", value: str | None = None) -> None:
        super().__init__(detail=f"{field}: {message}", errors=[FieldError(field, message, value)])
        self.reason = message


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # IPv4-compatible (deprecated ::a.b.c.d)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why webhooks may not target this address, or None when it is a public unicast one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = forbidden_reason(inner)
            return f"{reason} (inside the IPv6 address {ip})" if reason else None
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (e.g. cloud metadata)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
    )
    for hit, reason in checks:
        if hit:
            return f"{ip} is {reason}"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def validate_url_syntax(url: str, allow_private: bool, *, field: str = "url") -> tuple[str, int]:
    """Scheme, credentials and host checks that need no DNS; returns (host, port)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"URL longer than {MAX_URL_LENGTH} characters", field=field)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeWebhookUrl("the URL contains spaces or control characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"not a valid URL: {exc}", field=field, value=url) from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise UnsafeWebhookUrl(
            "the URL must use https" if scheme == "http" else "the URL must be an https URL",
            field=field,
            value=url,
        )
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("credentials in the URL are not allowed", field=field)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeWebhookUrl("the URL has no host", field=field, value=url)
    if not allow_private and (host in _INTERNAL_HOSTS or host.endswith(".localhost")):
        raise UnsafeWebhookUrl(f"{host} is an internal host name", field=field, value=url)
    return host, port or (443 if scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        ip = ipaddress.ip_address(address)
        if ip not in out:
            out.append(ip)
    return out


def _vet(addresses: Iterable[IPAddress], host: str, field: str, url: str) -> None:
    found = False
    for ip in addresses:
        found = True
        reason = forbidden_reason(ip)
        if reason is not None:
            detail = reason if str(ip) == host else f"{host} resolves to {reason}"
            raise UnsafeWebhookUrl(detail, field=field, value=url)
    if not found:
        raise UnsafeWebhookUrl(f"{host} does not resolve", field=field, value=url)


async def check_webhook_url(url: str, allow_private: bool, *, field: str = "url") -> str:
    """Refuse (`UnsafeWebhookUrl`, a 422 naming `field`) a URL webhooks may not target; return
    the URL. With `allow_private` (test mode) http and internal addresses are allowed, but the
    URL must still be well formed."""
    host, port = validate_url_syntax(url, allow_private, field=field)
    if allow_private:
        return url
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise UnsafeWebhookUrl(f"{host} does not resolve ({exc})", field=field, value=url) from exc
    _vet(addresses, host, field, url)
    return url


# -- connect-time guard -------------------------------------------------------------------------


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets and connects to the vetted address itself (TLS still verifies the name:
    httpcore passes the URL's host name as `server_hostname`)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        if not self.allow_private:
            for ip in addresses:
                reason = forbidden_reason(ip)
                if reason is not None:
                    raise httpcore.ConnectError(f"refused: {host} resolves to {reason}")
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_private),
        )


def guarded_transport(
    allow_private: bool, limits: httpx.Limits | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that vets every address right before connecting (no proxies from
    the environment: a proxy would connect on our behalf, unchecked)."""
    return _GuardedTransport(
        allow_private, limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )
