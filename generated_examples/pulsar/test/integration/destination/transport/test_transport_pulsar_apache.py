"""The shared Pulsar producer against Apache Pulsar with token authentication.

Only Apache Pulsar checks tokens, rights and tenants; pulsar-lite accepts any token and makes
any tenant. So these tests need a broker that enforces token authentication and
authorization, named by three variables:

    PULSAR_SERVICE_URL         its service URL
    PULSAR_TOKEN               a token that may publish to public/default
    PULSAR_UNPRIVILEGED_TOKEN  a token it accepts that may not publish there

and, for its TLS port (certificates and host names checked, the same tokens):

    PULSAR_SSL_SERVICE_URL           pulsar+ssl:// URL of that port, a name its certificate has
    PULSAR_SSL_CA_FILE               PEM file of the CA that signed the certificate
    PULSAR_SSL_MISMATCH_SERVICE_URL  the same port at an address the certificate does not name

`scripts/apache-pulsar run -- pytest test/integration` in the destination template starts
such a broker, sets these variables, runs the tests and stops the broker. Without the first
two, these tests skip and say so; without the PULSAR_SSL_ ones, the TLS tests do.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulsar
import pytest

from tracardi.process_engine.destination.transport.pulsar import (
    ProducerSettings,
    PulsarAuthenticationError,
    PulsarCertificateError,
    PulsarSettingsError,
    PulsarTopicError,
    close_all_producers,
    publish,
)

SERVICE_URL = os.environ.get("PULSAR_SERVICE_URL", "")
TOKEN = os.environ.get("PULSAR_TOKEN", "")
UNPRIVILEGED_TOKEN = os.environ.get("PULSAR_UNPRIVILEGED_TOKEN", "")
SSL_SERVICE_URL = os.environ.get("PULSAR_SSL_SERVICE_URL", "")
SSL_CA_FILE = os.environ.get("PULSAR_SSL_CA_FILE", "")
SSL_MISMATCH_SERVICE_URL = os.environ.get("PULSAR_SSL_MISMATCH_SERVICE_URL", "")
if not (SERVICE_URL and TOKEN):
    pytest.skip(
        "needs Apache Pulsar with token authentication: set PULSAR_SERVICE_URL and "
        "PULSAR_TOKEN (and PULSAR_UNPRIVILEGED_TOKEN), for instance with the "
        "destination template's scripts/apache-pulsar run -- pytest test/integration",
        allow_module_level=True,
    )

# Long enough that an error which only came when a timeout ran out could not pass for one
# that came at once.
TIMEOUT_SECONDS = 10
AT_ONCE_SECONDS = 1.0


@pytest.fixture
def topic() -> str:
    return f"persistent://public/default/tracardi-apache-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def fresh_producers() -> Iterator[None]:
    yield
    close_all_producers()


async def dispatch(production: dict[str, Any], topic: str) -> None:
    """Publish one message as a dispatch with these credentials does."""
    settings = ProducerSettings(
        service_url=production["host"],
        token=production.get("token"),
        ssl_ca_file=production.get("ssl_ca_file", ""),
        topic=topic,
        compression="lz4",
        batching_enabled=True,
        batching_max_publish_delay_ms=1,
        max_pending_messages=1000,
        connect_timeout_seconds=TIMEOUT_SECONDS,
        send_timeout_seconds=TIMEOUT_SECONDS,
        unreachable_backoff_seconds=5.0,
    )
    properties = {"tracardi-kind": "event", "tracardi-event-id": "event-1"}
    await publish(settings, b'{"order":1}', properties=properties, partition_key="profile-1")


def receive_one(topic: str, timeout: float = 20) -> pulsar.Message:
    """The first message on the topic, read by a client of its own over the plain port."""
    client = pulsar.Client(SERVICE_URL, authentication=pulsar.AuthenticationToken(TOKEN))
    try:
        consumer = client.subscribe(
            topic,
            "integration-check",
            initial_position=pulsar.InitialPosition.Earliest,
        )
        message = consumer.receive(timeout_millis=int(timeout * 1000))
        consumer.acknowledge(message)
        return message
    finally:
        client.close()


def with_a_signature_that_does_not_match(token: str) -> str:
    header, claims, signature = token.split(".")
    forged = "A" * len(signature)
    assert forged != signature
    return f"{header}.{claims}.{forged}"


async def refusal(production: dict[str, Any], topic: str, expected: type[Exception]) -> tuple[str, float]:
    """The message of the error a dispatch fails with, and how long it took."""
    started = time.monotonic()
    with pytest.raises(expected) as raised:
        await dispatch(production, topic)
    return str(raised.value), time.monotonic() - started


@pytest.mark.asyncio
async def test_the_right_token_publishes(topic: str) -> None:
    await dispatch({"host": SERVICE_URL, "token": TOKEN}, topic)
    message = await asyncio.to_thread(receive_one, topic)
    assert message.properties()["tracardi-event-id"] == "event-1"


@pytest.mark.asyncio
async def test_a_missing_token_is_refused_at_once(topic: str) -> None:
    message, elapsed = await refusal({"host": SERVICE_URL}, topic, PulsarAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "requires a token" in message
    assert SERVICE_URL in message
    assert topic in message


@pytest.mark.asyncio
async def test_a_token_with_a_wrong_signature_is_refused_at_once(topic: str) -> None:
    wrong_token = with_a_signature_that_does_not_match(TOKEN)
    message, elapsed = await refusal({"host": SERVICE_URL, "token": wrong_token}, topic, PulsarAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "refused the token" in message
    assert SERVICE_URL in message
    assert topic in message
    assert wrong_token not in message


@pytest.mark.asyncio
async def test_a_token_that_is_not_a_jwt_is_refused_at_once(topic: str) -> None:
    message, elapsed = await refusal({"host": SERVICE_URL, "token": "not-a-jwt"}, topic, PulsarAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "refused the token" in message
    assert SERVICE_URL in message


@pytest.mark.asyncio
async def test_a_token_without_the_right_to_publish_is_refused_at_once(
    topic: str,
) -> None:
    if not UNPRIVILEGED_TOKEN:
        pytest.skip("set PULSAR_UNPRIVILEGED_TOKEN to a token that may not publish")
    message, elapsed = await refusal(
        {"host": SERVICE_URL, "token": UNPRIVILEGED_TOKEN},
        topic,
        PulsarAuthenticationError,
    )
    assert elapsed < AT_ONCE_SECONDS
    assert "does not allow publishing" in message
    assert SERVICE_URL in message
    assert topic in message
    assert UNPRIVILEGED_TOKEN not in message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "namespace",
    ["no-such-tenant/default", "public/no-such-namespace"],
)
async def test_a_topic_outside_any_namespace_fails_at_once(namespace: str) -> None:
    topic = f"persistent://{namespace}/tracardi"
    message, elapsed = await refusal({"host": SERVICE_URL, "token": TOKEN}, topic, PulsarTopicError)
    assert elapsed < AT_ONCE_SECONDS
    assert "does not exist" in message
    assert topic in message


needs_tls = pytest.mark.skipif(
    not (SSL_SERVICE_URL and SSL_CA_FILE and SSL_MISMATCH_SERVICE_URL),
    reason="needs Apache Pulsar's TLS port: set PULSAR_SSL_SERVICE_URL, PULSAR_SSL_CA_FILE and "
    "PULSAR_SSL_MISMATCH_SERVICE_URL, as the destination template's scripts/apache-pulsar run does",
)


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_the_ca_file_and_the_token_publish(topic: str) -> None:
    await dispatch({"host": SSL_SERVICE_URL, "token": TOKEN, "ssl_ca_file": SSL_CA_FILE}, topic)
    message = await asyncio.to_thread(receive_one, topic)
    assert message.properties()["tracardi-event-id"] == "event-1"


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_without_the_ca_file_the_certificate_is_refused_at_once(topic: str) -> None:
    message, elapsed = await refusal({"host": SSL_SERVICE_URL, "token": TOKEN}, topic, PulsarCertificateError)
    assert elapsed < AT_ONCE_SECONDS
    assert SSL_SERVICE_URL in message
    assert "could not be verified" in message
    assert "local issuer" in message or "self-signed" in message or "self signed" in message
    assert "set ssl_ca_file" in message
    assert TOKEN not in message


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_a_certificate_that_does_not_name_the_host_is_refused_at_once(topic: str) -> None:
    production = {"host": SSL_MISMATCH_SERVICE_URL, "token": TOKEN, "ssl_ca_file": SSL_CA_FILE}
    message, elapsed = await refusal(production, topic, PulsarCertificateError)
    assert elapsed < AT_ONCE_SECONDS
    assert SSL_MISMATCH_SERVICE_URL in message
    assert "mismatch" in message.lower()
    assert SSL_CA_FILE in message


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_a_refused_certificate_starts_no_back_off(topic: str) -> None:
    # A certificate problem is the broker's answer, not an outage: the next dispatch asks again
    # instead of failing from a back-off window, and gets through once the CA file is right.
    await refusal({"host": SSL_SERVICE_URL, "token": TOKEN}, topic, PulsarCertificateError)
    message, _ = await refusal({"host": SSL_SERVICE_URL, "token": TOKEN}, topic, PulsarCertificateError)
    assert "not tried again" not in message
    await dispatch({"host": SSL_SERVICE_URL, "token": TOKEN, "ssl_ca_file": SSL_CA_FILE}, topic)


@needs_tls
@pytest.mark.asyncio
@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "not-pem"])
async def test_over_tls_a_ca_file_that_cannot_be_used_is_refused_before_connecting(
    topic: str, tmp_path: Path, content: str | None
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    production = {"host": SSL_SERVICE_URL, "token": TOKEN, "ssl_ca_file": str(ca_file)}
    message, elapsed = await refusal(production, topic, PulsarSettingsError)
    assert elapsed < AT_ONCE_SECONDS
    assert f"ssl_ca_file {str(ca_file)!r}" in message


@needs_tls
@pytest.mark.asyncio
async def test_a_ca_file_with_the_plain_port_is_refused_before_connecting(topic: str) -> None:
    production = {"host": SERVICE_URL, "token": TOKEN, "ssl_ca_file": SSL_CA_FILE}
    message, elapsed = await refusal(production, topic, PulsarSettingsError)
    assert elapsed < AT_ONCE_SECONDS
    assert "uses no TLS" in message


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_a_wrong_token_is_refused_at_once(topic: str) -> None:
    wrong_token = with_a_signature_that_does_not_match(TOKEN)
    production = {"host": SSL_SERVICE_URL, "token": wrong_token, "ssl_ca_file": SSL_CA_FILE}
    message, elapsed = await refusal(production, topic, PulsarAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "refused the token" in message
    assert SSL_SERVICE_URL in message
    assert wrong_token not in message


@needs_tls
@pytest.mark.asyncio
async def test_over_tls_a_missing_token_is_refused_at_once(topic: str) -> None:
    production = {"host": SSL_SERVICE_URL, "ssl_ca_file": SSL_CA_FILE}
    message, elapsed = await refusal(production, topic, PulsarAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "requires a token" in message
