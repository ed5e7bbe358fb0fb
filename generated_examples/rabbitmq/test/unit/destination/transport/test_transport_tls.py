"""TLS contexts against a real TLS server on loopback: a private CA trusted, host names checked,
and clear refusals for a bad CA file or a certificate that does not verify."""

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from tracardi.process_engine.destination.transport.tls import (
    CertificateFileError,
    client_context,
    refusal,
    trusted,
    verification_failure,
)

# A throwaway CA and two server certificates it signed, valid until 2126, made with openssl for
# these tests alone: one for localhost and 127.0.0.1, one for another host name. Not secrets.
CA = """\
-----BEGIN CERTIFICATE-----
MIIBuDCCAV2gAwIBAgIUQr1gkGZThSum2dBR87+kfmJ0GJYwCgYIKoZIzj0EAwIw
KDEmMCQGA1UEAwwdVHJhY2FyZGkgZGVzdGluYXRpb24gdGVzdHMgQ0EwIBcNMjYx
MjAzMTIyMzM0WhgPMjEyNjExMDkxMjIzMzRaMCgxJjAkBgNVBAMMHVRyYWNhcmRp
IGRlc3RpbmF0aW9uIHRlc3RzIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
rKgdffFjbRAXfiBGj0luXPPoAFTj11F5M9yy1xZjfDX5TpX2OVl8PN0733oHYiEb
mJD3F6sDWDh6n3ue6UYtgqNjMGEwHQYDVR0OBBYEFAWbNiYBuIkoUIEzMPnN4rKX
Cs3YMB8GA1UdIwQYMBaAFAWbNiYBuIkoUIEzMPnN4rKXCs3YMA8GA1UdEwEB/wQF
MAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49BAMCA0kAMEYCIQCIb6FCG0db
X1eZEkmCyHKhQB60Xgri/OPljRjMnkglZgIhAMcyxsn4sfpPqKzZ4iFf3YwRcJhr
rdGrQT5HZS/aoukD
-----END CERTIFICATE-----
"""

LOCALHOST_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBvjCCAWSgAwIBAgIUTOgbi9wXeuLa8HlsOlooIUCUYIEwCgYIKoZIzj0EAwIw
KDEmMCQGA1UEAwwdVHJhY2FyZGkgZGVzdGluYXRpb24gdGVzdHMgQ0EwIBcNMjYx
MjAzMTIyMzM0WhgPMjEyNjExMDkxMjIzMzRaMBQxEjAQBgNVBAMMCWxvY2FsaG9z
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAY7RVbwilS59y+r0EPf5P7r5+8f
mVY2gu99yX1IHAfcwLLUhmBM8sdGMR3VpPsH7FBioAQQ4qj219g2qG7+F+qjfjB8
MBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAJBgNVHRMEAjAAMBMGA1UdJQQM
MAoGCCsGAQUFBwMBMB0GA1UdDgQWBBQbSVW4fgQpMZUXc85tknrqkoZDujAfBgNV
HSMEGDAWgBQFmzYmAbiJKFCBMzD5zeKylwrN2DAKBggqhkjOPQQDAgNIADBFAiBx
vi99W7Mn/0/qbU8RCXhENwHuEC1LNbvKTFLtnkldtQIhAL1VDqA0kBU5iYpbSHJy
TaIa9sLUL7lBkhZ8pNhQ5dHU
-----END CERTIFICATE-----
"""

LOCALHOST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/cYV/KXS35DvEXip
aBFtboknCf5USGEfY/Nc5ljL1YihRANCAAQGO0VW8IpUufcvq9BD3+T+6+fvH5lW
NoLvfcl9SBwH3MCy1IZgTPLHRjEd1aT7B+xQYqAEEOKo9tfYNqhu/hfq
-----END PRIVATE KEY-----
"""

WRONG_NAME_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBvTCCAWSgAwIBAgIUTOgbi9wXeuLa8HlsOlooIUCUYIIwCgYIKoZIzj0EAwIw
KDEmMCQGA1UEAwwdVHJhY2FyZGkgZGVzdGluYXRpb24gdGVzdHMgQ0EwIBcNMjYx
MjAzMTIyMzM0WhgPMjEyNjExMDkxMjIzMzRaMBAxDjAMBgNVBAMMBXdyb25nMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErLiKl+kW59MBPOSqM0UaJoyk2auVovwr
HKabyqGyF6j/zPfFCfYspYZyROJr9aO65os+UJ4dTMKYRqYHZsiSmqOBgTB/MB0G
A1UdEQQWMBSCEndyb25nLmV4YW1wbGUudGVzdDAJBgNVHRMEAjAAMBMGA1UdJQQM
MAoGCCsGAQUFBwMBMB0GA1UdDgQWBBRwsypfu3CtFEAlYJo4800bvlrkwTAfBgNV
HSMEGDAWgBQFmzYmAbiJKFCBMzD5zeKylwrN2DAKBggqhkjOPQQDAgNHADBEAiAb
b0eCphljHyqK6lEvVdDDsNlkRUkqEwXjpPxsn+rOoQIgI4cpfCX7xiL6n8dafUYJ
Tm/LYCrC0PYY+daZAQXKT3I=
-----END CERTIFICATE-----
"""

WRONG_NAME_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9wazOZLbofCxGyrl
pbnzpRLzIjYtpxIidxvQ41bxQ+KhRANCAASsuIqX6Rbn0wE85KozRRomjKTZq5Wi
/CscppvKobIXqP/M98UJ9iylhnJE4mv1o7rmiz5Qnh1MwphGpgdmyJKa
-----END PRIVATE KEY-----
"""


def written(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


Serve = Callable[[str, str], Awaitable[int]]


@pytest_asyncio.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[Serve]:
    servers: list[asyncio.AbstractServer] = []

    async def start(certificate: str, key: str) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(written(tmp_path, "server.pem", certificate), written(tmp_path, "server.key", key))

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def greeting(port: int, context: ssl.SSLContext, host_name: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host_name)
    try:
        return await reader.read()
    finally:
        writer.close()


@pytest.mark.asyncio
async def test_the_private_ca_is_trusted_and_the_host_name_checked(tls_server: Serve, tmp_path: Path) -> None:
    port = await tls_server(LOCALHOST_CERTIFICATE, LOCALHOST_KEY)
    context = client_context(written(tmp_path, "ca.pem", CA))
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert await greeting(port, context, "localhost") == b"hello"
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|doesn't match"):
        await greeting(port, context, "other.example.test")


@pytest.mark.asyncio
async def test_a_certificate_for_another_name_is_refused(tls_server: Serve, tmp_path: Path) -> None:
    port = await tls_server(WRONG_NAME_CERTIFICATE, WRONG_NAME_KEY)
    ca_file = written(tmp_path, "ca.pem", CA)
    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        await greeting(port, client_context(ca_file), "localhost")
    message = refusal("the broker at localhost", raised.value, ca_file)
    assert message.startswith("the broker at localhost presented a TLS certificate that could not be verified (")
    assert "mismatch" in message.lower() or "match" in message.lower()
    assert message.endswith(f"against the certificate authorities of ssl_ca_file {ca_file!r}")


@pytest.mark.asyncio
async def test_without_the_ca_file_the_systems_authorities_refuse_a_private_certificate(tls_server: Serve) -> None:
    port = await tls_server(LOCALHOST_CERTIFICATE, LOCALHOST_KEY)
    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        await greeting(port, client_context(""), "localhost")
    assert "set ssl_ca_file" in refusal("https://localhost", raised.value, "")


def test_one_context_per_file_shared_until_the_file_changes(tmp_path: Path) -> None:
    ca_file = written(tmp_path, "ca.pem", CA)
    first = client_context(ca_file)
    assert client_context(ca_file) is first
    Path(ca_file).write_text(CA + CA)
    assert client_context(ca_file) is not first
    assert client_context("") is client_context("")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        ("not a certificate\n", "is not a readable PEM file"),
        ("", "is not a readable PEM file"),
    ],
    ids=["missing", "not-pem", "empty"],
)
def test_a_bad_ca_file_is_refused_naming_its_path(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CertificateFileError, match=f"ssl_ca_file {str(path)!r} {problem}".replace("(", r"\(")):
        client_context(str(path))


def test_a_wrapped_verification_error_is_found_and_others_are_not() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    try:
        try:
            raise cause
        except ssl.SSLError as error:
            raise ConnectionError("handshake failed") from error
    except ConnectionError as wrapped:
        assert verification_failure(wrapped) is cause
    assert verification_failure(ConnectionError("refused")) is None
    assert trusted("").startswith("the system's")
