"""The shared HTTP delivery over TLS against an aiohttp server on loopback: a private CA trusted
through ssl_ca_file, host names checked, a certificate that does not verify refused at once
without an outage window, and a CA file that cannot serve refused before anything is sent."""

import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from test_transport_http import SETTINGS
from test_transport_tls import CA, LOCALHOST_CERTIFICATE, LOCALHOST_KEY, WRONG_NAME_CERTIFICATE, WRONG_NAME_KEY

from tracardi.process_engine.destination.transport.http import (
    HttpCertificateError,
    HttpSettings,
    HttpSettingsError,
    close_http_sessions,
    deliver,
)

Serve = Callable[[str, str], Awaitable[int]]


def written(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


async def answer(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest_asyncio.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(certificate: str, key: str) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(written(tmp_path, "server.pem", certificate), written(tmp_path, "server.key", key))
        app = web.Application()
        app.router.add_post("/hook", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        port: int = runner.addresses[0][1]
        return port

    yield start
    await close_http_sessions()
    for runner in runners:
        await runner.cleanup()


def settings(url: str, **changes: Any) -> HttpSettings:
    return SETTINGS._replace(**{"url": url, "max_attempts": 1, **changes})


BAD_URL = "https://localhost:9/hook"


@pytest.mark.asyncio
async def test_a_server_of_the_private_ca_is_trusted_through_ssl_ca_file(https_server: Serve, tmp_path: Path) -> None:
    port = await https_server(LOCALHOST_CERTIFICATE, LOCALHOST_KEY)
    await deliver(settings(f"https://localhost:{port}/hook", ssl_ca_file=written(tmp_path, "ca.pem", CA)), b"{}", {})


@pytest.mark.asyncio
@pytest.mark.parametrize("trusted", ["the system's", "ssl_ca_file"])
async def test_a_certificate_that_does_not_verify_is_refused_at_once_without_an_outage(
    https_server: Serve, tmp_path: Path, trusted: str
) -> None:
    # Without the CA file the system's authorities do not know the server's CA; with it, the
    # server's certificate names another host.
    port = await https_server(
        *(LOCALHOST_CERTIFICATE, LOCALHOST_KEY)
        if trusted == "the system's"
        else (WRONG_NAME_CERTIFICATE, WRONG_NAME_KEY)
    )
    ca_file = "" if trusted == "the system's" else written(tmp_path, "ca.pem", CA)
    request = settings(f"https://localhost:{port}/hook", ssl_ca_file=ca_file, max_attempts=3)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(HttpCertificateError) as raised:
            await deliver(request, b"{}", {})
        assert time.monotonic() - started < 1.0
        message = str(raised.value)
        assert f"localhost:{port} presented a TLS certificate that could not be verified" in message
        assert trusted in message
        # The second dispatch went to the server again: a certificate starts no outage window.
        assert "not tried again" not in message
        assert message.endswith("(1 attempt in " + message.rsplit("(1 attempt in ", 1)[-1]) and "not retried" in message


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ssl_ca_file": "/nowhere/ca.pem"}, "ssl_ca_file '/nowhere/ca.pem' cannot be read"),
        ({"ssl_ca_file": "CA", "verify_tls": False}, "ssl_ca_file is set, but verify_tls is off"),
        ({"ssl_ca_file": "CA", "url": "http://localhost/hook"}, "ssl_ca_file is set, but the url is not https://"),
    ],
)
@pytest.mark.asyncio
async def test_a_ca_file_that_cannot_serve_is_refused_before_anything_is_sent(
    tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    if changes.get("ssl_ca_file") == "CA":
        changes = {**changes, "ssl_ca_file": written(tmp_path, "ca.pem", CA)}
    # Nothing listens at port 9: a request would fail otherwise.
    with pytest.raises(HttpSettingsError, match=problem.replace("(", r"\(")):
        await deliver(settings(BAD_URL)._replace(**changes), b"{}", {})
