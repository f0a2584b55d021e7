"""gateway.fetch: the address policy, scheme and allow-list checks, IP pinning and every hop.

Real sockets where the behaviour depends on them (a local server on 127.0.0.1); a resolver stub
and httpx.MockTransport where a "public" host has to be simulated, since the tests have no
internet and must not depend on DNS.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gateway.fetch import (
    UrlPolicy,
    check_url,
    fetch_image,
    host_allowed,
    is_public_address,
    parse_allowed_hosts,
)
from recognition_common.edge.errors import ApiError
from tests.support.image_server import ImageServer

PNG = b"\x89PNG\r\n\x1a\n" + b"rest-of-image"
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

REFUSED = {
    "loopback": ["127.0.0.1", "127.255.255.254", "::1"],
    "private": ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1"],
    "link-local and metadata": ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
    "unspecified and reserved": ["0.0.0.0", "0.1.2.3", "240.0.0.1", "255.255.255.255", "::"],
    "cgnat": ["100.64.0.1", "100.127.255.254"],
    "documentation and benchmarking": ["192.0.2.1", "198.18.0.1", "2001:db8::1"],
    "site-local": ["fec0::1"],
    "ipv4-mapped": ["::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0"],
    "ipv4-compatible": ["::127.0.0.1", "::a9fe:a9fe"],
    "nat64 and 6to4 of private": ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:a00:1::"],
    "nat64 local-use and teredo": ["64:ff9b:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
}


@pytest.mark.parametrize("address", [a for group in REFUSED.values() for a in group], ids=str)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "::ffff:8.8.8.8", "2002:808:808::"]
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "gopher://127.0.0.1:6379/_INFO",
        "data:image/png;base64,iVBORw0KGgo=",
        "dict://127.0.0.1:6379/info",
        "javascript:alert(1)",
        "/relative/path.png",
        "http://",
        "http://[::1",
    ],
)
def test_only_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_url(url)
    assert (caught.value.status, caught.value.code) == (400, "bad_request")
    with pytest.raises(ApiError) as caught:
        check_url(url, redirect=True)
    assert (caught.value.status, caught.value.code) == (400, "url_refused")


@pytest.mark.parametrize("url", ["http://example.com/a.png", "HTTPS://Example.com:8443/a.png?x=1"])
def test_http_urls_pass_the_scheme_check(url: str) -> None:
    assert check_url(url).scheme in ("http", "https")


def test_allow_list_matching() -> None:
    patterns = parse_allowed_hosts(" images.example.com, *.CDN.example.net ,,")
    assert patterns == ("images.example.com", "*.cdn.example.net")
    assert host_allowed("images.example.com", patterns)
    assert host_allowed("IMAGES.example.com.", patterns)
    assert host_allowed("a.cdn.example.net", patterns)
    assert host_allowed("a.b.cdn.example.net", patterns)
    assert not host_allowed("cdn.example.net", patterns)  # the wildcard means subdomains only
    assert not host_allowed("evilcdn.example.net", patterns)
    assert not host_allowed("images.example.com.evil.org", patterns)
    assert not host_allowed("other.example.com", patterns)
    assert not host_allowed("127.0.0.1", patterns)


class StubResolver:
    """DNS as a dict; counts lookups (there must be exactly one per hop)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.calls.append(host)
        return [ipaddress.ip_address(a) for a in self.answers[host]]


def recording_transport(routes: dict[str, httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes[request.headers["host"] + request.url.raw_path.decode()]

    return httpx.MockTransport(handle), seen


async def refused(url: str, policy: UrlPolicy, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await fetch_image(url, policy, **kwargs)  # type: ignore[arg-type]
    return caught.value


async def test_connects_to_the_resolved_ip_with_host_header_and_sni() -> None:
    resolver = StubResolver({"images.example.com": [PUBLIC_V4]})
    transport, seen = recording_transport({"images.example.com/a.png": httpx.Response(200, content=PNG)})
    data = await fetch_image(
        "https://images.example.com/a.png", UrlPolicy(), resolver=resolver, transport=transport
    )
    assert data == PNG
    assert resolver.calls == ["images.example.com"]  # one lookup; the connection uses its answer
    (request,) = seen
    assert request.url.host == PUBLIC_V4 and request.url.scheme == "https"
    assert request.headers["host"] == "images.example.com"
    assert request.extensions["sni_hostname"] == "images.example.com"  # certificate checked by name


async def test_ipv6_answers_are_pinned_too() -> None:
    resolver = StubResolver({"v6.example.com": [PUBLIC_V6]})
    transport, seen = recording_transport({"v6.example.com:8080/a.png": httpx.Response(200, content=PNG)})
    await fetch_image("http://v6.example.com:8080/a.png", UrlPolicy(), resolver=resolver, transport=transport)
    assert seen[0].url.host == PUBLIC_V6 and seen[0].url.port == 8080
    assert "sni_hostname" not in seen[0].extensions


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], ["169.254.169.254"], [PUBLIC_V4, "10.0.0.5"], ["::ffff:127.0.0.1"]]
)
async def test_a_host_resolving_to_any_private_address_is_refused_before_connecting(
    answer: list[str],
) -> None:
    transport, seen = recording_transport({})
    error = await refused(
        "http://rebind.example.com/a.png",
        UrlPolicy(),
        resolver=StubResolver({"rebind.example.com": answer}),
        transport=transport,
    )
    assert (error.status, error.code) == (400, "url_refused")
    assert seen == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://internal.corp/",
        "gopher://127.0.0.1:6379/_INFO",
        "file:///etc/passwd",
    ],
)
async def test_a_redirect_from_a_public_host_to_a_private_one_is_refused(target: str) -> None:
    resolver = StubResolver({"images.example.com": [PUBLIC_V4], "internal.corp": ["10.1.2.3"]})
    transport, seen = recording_transport(
        {"images.example.com/a.png": httpx.Response(302, headers={"Location": target})}
    )
    error = await refused(
        "http://images.example.com/a.png", UrlPolicy(), resolver=resolver, transport=transport
    )
    assert (error.status, error.code) == (400, "url_refused")
    assert len(seen) == 1  # the first hop passed; the second was never contacted


async def test_a_malformed_redirect_is_a_clean_client_error() -> None:
    resolver = StubResolver({"images.example.com": [PUBLIC_V4]})
    transport, seen = recording_transport(
        {"images.example.com/a.png": httpx.Response(302, headers={"Location": "http://[::1"})}
    )
    error = await refused(
        "http://images.example.com/a.png", UrlPolicy(), resolver=resolver, transport=transport
    )
    assert error.code in ("url_refused", "url_unreachable") and len(seen) == 1


async def test_relative_redirects_stay_on_the_host_and_are_resolved_again() -> None:
    resolver = StubResolver({"images.example.com": [PUBLIC_V4]})
    transport, seen = recording_transport(
        {
            "images.example.com/a.png": httpx.Response(301, headers={"Location": "/b.png"}),
            "images.example.com/b.png": httpx.Response(200, content=PNG),
        }
    )
    assert (
        await fetch_image(
            "http://images.example.com/a.png", UrlPolicy(), resolver=resolver, transport=transport
        )
        == PNG
    )
    assert resolver.calls == ["images.example.com", "images.example.com"]  # each hop checked
    assert [r.url.host for r in seen] == [PUBLIC_V4, PUBLIC_V4]


async def test_allow_list_applies_to_the_first_url_and_to_redirects() -> None:
    resolver = StubResolver({"images.example.com": [PUBLIC_V4], "other.example.org": [PUBLIC_V4]})
    transport, seen = recording_transport(
        {"images.example.com/a.png": httpx.Response(302, headers={"Location": "http://other.example.org/"})}
    )
    policy = UrlPolicy(allowed_hosts=("*.example.com",))
    error = await refused("http://other.example.org/a.png", policy, resolver=resolver, transport=transport)
    assert error.code == "url_refused" and seen == [] and resolver.calls == []
    error = await refused("http://images.example.com/a.png", policy, resolver=resolver, transport=transport)
    assert error.code == "url_refused" and len(seen) == 1


async def test_fetching_switched_off_is_refused() -> None:
    error = await refused("http://images.example.com/a.png", UrlPolicy(enabled=False))
    assert (error.status, error.code) == (400, "url_refused")


async def test_unresolvable_host_is_unreachable() -> None:
    async def fail(host: str, port: int) -> list:
        raise OSError("no such host")

    error = await refused("http://nowhere.invalid/a.png", UrlPolicy(), resolver=fail)
    assert (error.status, error.code) == (422, "url_unreachable")


# Real sockets from here: the policy's default refuses the local server, allow_private reaches it.


@pytest.fixture(scope="module")
def server() -> ImageServer:
    with ImageServer(PNG, big_bytes=1_000_000) as running:
        yield running


async def test_the_default_policy_refuses_a_real_loopback_server(server: ImageServer) -> None:
    hits_before = len(server.hits)  # the server is shared by this module's tests
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        error = await refused(server.url("/image.png", host=host), UrlPolicy())
        assert (error.status, error.code) == (400, "url_refused")
    assert len(server.hits) == hits_before  # refused before connecting


async def test_redirects_are_followed_up_to_three(server: ImageServer) -> None:
    policy = UrlPolicy(allow_private=True)
    assert await fetch_image(server.url("/hops/3"), policy) == PNG
    error = await refused(server.url("/hops/4"), policy)
    assert (error.status, error.code) == (400, "url_refused")


async def test_body_is_cut_at_the_cap(server: ImageServer) -> None:
    policy = UrlPolicy(allow_private=True, max_bytes=100_000)
    for path in ("/big", "/big-declared"):
        error = await refused(server.url(path), policy)
        assert (error.status, error.code) == (413, "payload_too_large")


async def test_slow_and_hanging_servers_hit_the_deadline(server: ImageServer) -> None:
    policy = UrlPolicy(allow_private=True, timeout_s=0.5)
    for path in ("/slow", "/hang"):
        started = time.monotonic()
        error = await refused(server.url(path), policy)
        assert (error.status, error.code) == (422, "url_unreachable")
        assert time.monotonic() - started < 2


async def test_http_errors_are_unreachable(server: ImageServer) -> None:
    error = await refused(server.url("/status/404"), UrlPolicy(allow_private=True))
    assert (error.status, error.code) == (422, "url_unreachable")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name images.test (and nothing else)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=images.test",
         "-addext", "subjectAltName=DNS:images.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_to_the_pinned_ip_verifies_the_certificate_against_the_host_name(
    tls_files: tuple[Path, Path],
) -> None:
    """The TCP connection goes to 127.0.0.1, yet TLS sends SNI images.test and checks the
    certificate against that name: the IP pinning does not weaken https."""
    cert, key = tls_files
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    policy = UrlPolicy(allow_private=True)
    with ImageServer(PNG, tls=server_tls) as tls_server:
        resolver = StubResolver({"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

        async def fetch(host: str) -> bytes:
            return await fetch_image(
                tls_server.url("/image.png", host=host),
                policy,
                resolver=resolver,
                transport=httpx.AsyncHTTPTransport(verify=client_tls, retries=0),
            )

        assert await fetch("images.test") == PNG
        with pytest.raises(ApiError) as caught:  # a name the certificate does not carry
            await fetch("other.test")
        assert caught.value.code == "url_unreachable"
        assert tls_server.hits == ["/image.png"]
