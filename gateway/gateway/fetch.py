"""Fetching the image of `{"image_url": ...}` without opening a way into the operator's network.

A URL chosen by the client makes the gateway a client of whatever it names (server-side request
forgery). The gateway runs next to Redis, the recognizers and, in a cloud, the metadata service at
169.254.169.254, so every fetch is held to a policy:

* http and https only; the first URL's scheme is checked as client input (400 `bad_request`),
  a redirect's as part of the fetch (400 `url_refused`);
* with `GATEWAY_URL_ALLOWED_HOSTS` set, only those hosts (exact, or `*.example.com` for its
  subdomains) are fetched from;
* the host is resolved once and every address it resolves to must be public (`is_public_address`);
  the connection then goes to that very address, with the original Host header and, for https,
  SNI and certificate checks against the host name. There is no second lookup a rebinding DNS
  server could answer differently, and no proxy (`trust_env=False`) that would resolve it again;
* redirects are followed by hand, at most `MAX_REDIRECTS`, each hop checked like the first;
* the body is streamed and cut at `max_bytes` (413), the whole fetch (DNS, every hop, the body)
  has one deadline (422 `url_unreachable`, like any other failure of the remote side).

The bytes that come back are judged like an upload: by content, never by the remote Content-Type.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

if TYPE_CHECKING:
    from gateway.config import GatewaySettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

MAX_REDIRECTS = 3
_SCHEMES = ("http", "https")
_REDIRECTS = (301, 302, 303, 307, 308)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # embeds an IPv4 address in its last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


@dataclass(frozen=True)
class UrlPolicy:
    """What a fetch may do; built from the `GATEWAY_URL_*` settings."""

    enabled: bool = True
    allow_private: bool = False  # tests and intranets only: skips the address check
    allowed_hosts: tuple[str, ...] = ()  # empty: any host
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 5.0
    max_redirects: int = MAX_REDIRECTS

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> UrlPolicy:
        return cls(
            enabled=settings.url_fetch_enabled,
            allow_private=settings.url_allow_private,
            allowed_hosts=parse_allowed_hosts(settings.url_allowed_hosts),
            max_bytes=settings.url_max_bytes or settings.max_upload_bytes,
            timeout_s=settings.url_timeout_s,
        )


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """`"a.example.com, *.cdn.example.net"` -> normalised patterns (lower case, no trailing dot)."""
    return tuple(_normalise_host(part) for part in text.split(",") if part.strip())


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Exact match, or `*.example.com` for any subdomain of example.com (not example.com itself)."""
    host = _normalise_host(host)
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def is_public_address(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address.

    `is_global` alone is not enough on Python 3.11: it passes multicast, site-local fec0::/10 and
    IPv6 forms that carry an IPv4 address (NAT64, 6to4). Those are judged by the address inside,
    so `::ffff:127.0.0.1` or `64:ff9b::a9fe:a9fe` (the metadata service) are refused too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.teredo is not None or ip in _NAT64_LOCAL or ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url: str | httpx.URL, *, redirect: bool = False) -> httpx.URL:
    """A parsed http(s) URL with a host, or 400: `bad_request` for the client's URL, `url_refused`
    for where a redirect points (the client did not write that one)."""
    status, code = (400, errors.URL_REFUSED) if redirect else (400, errors.BAD_REQUEST)
    what = "a redirect" if redirect else "image_url"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ApiError(status, code, f"{what} is not a valid URL") from exc
    if parsed.scheme not in _SCHEMES:
        raise ApiError(status, code, f"{what} must be http or https, not {parsed.scheme or 'relative'!r}")
    if not parsed.raw_host:
        raise ApiError(status, code, f"{what} has no host")
    return parsed


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (the loop runs getaddrinfo in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # The address string may carry an IPv6 zone ("fe80::1%eth0"); the zone is not part of it.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def fetch_image(
    url: str,
    policy: UrlPolicy,
    *,
    resolver: Resolver = resolve,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """The body of `url` (after at most `policy.max_redirects` redirects), or an `ApiError`."""
    if not policy.enabled:
        raise ApiError(400, errors.URL_REFUSED, "this gateway does not fetch image_url; send the image")
    target = check_url(url)
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _fetch(target, policy, resolver, transport)
    except TimeoutError as exc:
        raise ApiError(
            422, errors.URL_UNREACHABLE, f"image_url did not deliver within {policy.timeout_s:g} s"
        ) from exc


async def _fetch(
    target: httpx.URL,
    policy: UrlPolicy,
    resolver: Resolver,
    transport: httpx.AsyncBaseTransport | None,
) -> bytes:
    async with httpx.AsyncClient(
        transport=transport or httpx.AsyncHTTPTransport(retries=0),
        trust_env=False,  # no proxy from the environment: it would resolve the host again
        follow_redirects=False,
        timeout=httpx.Timeout(policy.timeout_s),
    ) as client:
        for _ in range(policy.max_redirects + 1):
            host = _normalise_host(target.raw_host.decode("ascii"))
            if policy.allowed_hosts and not host_allowed(host, policy.allowed_hosts):
                raise ApiError(400, errors.URL_REFUSED, f"host {host!r} is not in the allowed list")
            port = target.port or (443 if target.scheme == "https" else 80)
            address = await _pinned_address(host, port, policy, resolver)
            request = client.build_request(
                "GET",
                target.copy_with(host=str(address)),
                headers={"Host": target.netloc.decode("ascii"), "Accept": "image/*"},
                extensions={"sni_hostname": host} if target.scheme == "https" else {},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise ApiError(
                    422, errors.URL_UNREACHABLE, f"could not fetch image_url: {type(exc).__name__}"
                ) from exc
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    try:
                        following = target.join(location)
                    except httpx.InvalidURL as exc:
                        raise ApiError(400, errors.URL_REFUSED, "a redirect is not a valid URL") from exc
                    target = check_url(following, redirect=True)
                    continue
                if response.status_code != 200:
                    raise ApiError(
                        422, errors.URL_UNREACHABLE, f"image_url answered HTTP {response.status_code}"
                    )
                return await _read_capped(response, policy.max_bytes)
            finally:
                await response.aclose()
    raise ApiError(400, errors.URL_REFUSED, f"image_url redirects more than {policy.max_redirects} times")


async def _pinned_address(host: str, port: int, policy: UrlPolicy, resolver: Resolver) -> IPAddress:
    """The one address to connect to; every address of the host must pass, not just the first."""
    try:
        addresses = [ipaddress.ip_address(host)]  # a literal address: nothing to resolve
    except ValueError:
        try:
            addresses = await resolver(host, port)
        except OSError as exc:
            raise ApiError(422, errors.URL_UNREACHABLE, f"cannot resolve host {host!r}") from exc
    if not addresses:
        raise ApiError(422, errors.URL_UNREACHABLE, f"cannot resolve host {host!r}")
    if not policy.allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise ApiError(400, errors.URL_REFUSED, f"host {host!r} is not a public address; not fetched")
    return addresses[0]


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, stopped as soon as it passes `max_bytes` (a declared length is checked first)."""
    declared = response.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ApiError(
            422, errors.URL_UNREACHABLE, f"could not read image_url: {type(exc).__name__}"
        ) from exc
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, errors.PAYLOAD_TOO_LARGE, f"the image at image_url exceeds {max_bytes} bytes")


def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")
