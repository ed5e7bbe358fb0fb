"""The shared RabbitMQ connection against a real RabbitMQ: delivery read back by a consumer of its
own, publisher confirms, returns, refusals, TLS, sizes, a broker restart and sharing.

The broker comes from the RABBITMQ_* variables scripts/rabbitmq prints (its users, vhost, TLS
listener, CA file and max_message_size): without them every test skips, or fails when
REQUIRE_RABBITMQ=1. The restart test restarts that broker, so it comes last.
"""

import asyncio
import contextlib
import json
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractQueue
from pydantic import SecretStr
from yarl import URL

from tracardi.process_engine.destination.transport import amqp
from tracardi.process_engine.destination.transport.amqp import (
    AmqpAccessError,
    AmqpCertificateError,
    AmqpDeliveryError,
    AmqpMessageSizeError,
    AmqpNackError,
    AmqpNotFoundError,
    AmqpSettings,
    AmqpUnroutableError,
    amqp_settings,
    close_connections,
    publish,
)

VARIABLES = (
    "RABBITMQ_URL",
    "RABBITMQ_SSL_URL",
    "RABBITMQ_SSL_CA_FILE",
    "RABBITMQ_USERNAME",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_UNPRIVILEGED_USERNAME",
    "RABBITMQ_UNPRIVILEGED_PASSWORD",
    "RABBITMQ_VHOST",
    "RABBITMQ_MAX_MESSAGE_SIZE",
    "RABBITMQ_CTL",
    "RABBITMQ_RESTART_COMMAND",
)
ROUTING = {"tracardi-kind": "event", "tracardi-profile-id": "profile-1", "tracardi-event-type": "purchase"}


@pytest.fixture
def env() -> dict[str, str]:
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if missing:
        reason = f"no RabbitMQ ({', '.join(missing)} unset): run scripts/rabbitmq run -- pytest ..."
        if os.environ.get("REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"REQUIRE_RABBITMQ=1 but {reason}")
        pytest.skip(reason)
    return {name: os.environ[name] for name in VARIABLES}


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str | None
    password: SecretStr | None
    ssl_ca_file: str = ""


@dataclass(frozen=True)
class Configuration:
    routing_key: str
    exchange: str = ""
    exchange_type: str = "direct"
    declare_exchange: bool = False
    persistent: bool = True
    mandatory: bool = True
    confirm_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    unreachable_backoff_seconds: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    max_message_bytes: int = 1048576


def settings(env: dict[str, str], routing_key: str, **changes: Any) -> AmqpSettings:
    credentials = Credentials(env["RABBITMQ_URL"], env["RABBITMQ_USERNAME"], SecretStr(env["RABBITMQ_PASSWORD"]))
    credential_names = {"url", "username", "password", "ssl_ca_file"}
    credentials = replace(credentials, **{k: v for k, v in changes.items() if k in credential_names})
    configuration = Configuration(routing_key, **{k: v for k, v in changes.items() if k not in credential_names})
    return amqp_settings(credentials, configuration)


def consumer_url(env: dict[str, str]) -> str:
    return str(URL(env["RABBITMQ_URL"]).with_user(env["RABBITMQ_USERNAME"]).with_password(env["RABBITMQ_PASSWORD"]))


@dataclass
class Consumer:
    """A connection and channel of the test's own, to make queues and read what arrived."""

    connection: aio_pika.abc.AbstractConnection
    channel: AbstractChannel
    queues: list[AbstractQueue] = field(default_factory=list)

    async def queue(self, durable: bool = False, arguments: dict[str, Any] | None = None) -> AbstractQueue:
        made = await self.channel.declare_queue(f"test-{uuid.uuid4().hex}", durable=durable, arguments=arguments)
        self.queues.append(made)
        return made


@pytest_asyncio.fixture
async def consumer(env: dict[str, str]) -> AsyncIterator[Consumer]:
    connection = await aio_pika.connect(consumer_url(env))
    channel = await connection.channel()
    made = Consumer(connection, channel)
    try:
        yield made
    finally:
        for queue in made.queues:
            # After the restart test this connection is gone; its queue is deleted there.
            with contextlib.suppress(Exception):
                await queue.delete(if_unused=False, if_empty=False)
        await connection.close()
        await close_connections()


async def received(queue: AbstractQueue, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    messages = []
    for _ in range(count):
        message = await queue.get(timeout=10)
        await message.ack()
        messages.append(message)
    return messages


async def failure(coroutine: Any) -> tuple[AmqpDeliveryError, float]:
    """The delivery error `coroutine` raises, and how long it took."""
    started = time.monotonic()
    with pytest.raises(AmqpDeliveryError) as raised:
        await coroutine
    return raised.value, time.monotonic() - started


@pytest.mark.asyncio
async def test_a_message_arrives_with_its_exact_body_properties_and_headers(
    env: dict[str, str], consumer: Consumer
) -> None:
    queue = await consumer.queue()
    made = settings(env, queue.name, headers={"env": "qa"})
    body = json.dumps({"total": 9.5, "customer": "Zoë"}, separators=(",", ":"), ensure_ascii=False).encode()
    # Confirmed while nobody consumes: the queue holds them.
    await publish(made, body, ROUTING)
    await publish(made._replace(persistent=False), b"{}", {"tracardi-kind": "profile"})
    first, second = await received(queue, 2)
    assert first.body == body
    assert first.headers == {"env": "qa", **ROUTING}
    assert (first.content_type, first.content_encoding, first.app_id) == ("application/json", "utf-8", "tracardi")
    assert (first.delivery_mode, second.delivery_mode) == (2, 1)
    assert first.message_id and second.message_id and first.message_id != second.message_id
    assert first.timestamp is not None and abs(first.timestamp.timestamp() - time.time()) < 60
    assert (first.exchange, first.routing_key) == ("", queue.name)


@pytest.mark.asyncio
async def test_a_declared_exchange_routes_to_its_bound_queue_and_a_checked_one_must_exist(
    env: dict[str, str], consumer: Consumer
) -> None:
    exchange = f"test-exchange-{uuid.uuid4().hex}"
    queue = await consumer.queue()
    declared = settings(env, "events.purchase", exchange=exchange, exchange_type="topic", declare_exchange=True)
    try:
        await consumer.channel.declare_exchange(exchange, type="topic", durable=True)
        await queue.bind(exchange, "events.#")
        await publish(declared, b'{"n":1}', ROUTING)
        checked = declared._replace(declare_exchange=False)
        await publish(checked, b'{"n":2}', ROUTING)
        assert [message.body for message in await received(queue, 2)] == [b'{"n":1}', b'{"n":2}']
    finally:
        await consumer.channel.exchange_delete(exchange)


@pytest.mark.asyncio
async def test_unroutable_fails_with_mandatory_on_and_is_confirmed_with_it_off(env: dict[str, str]) -> None:
    try:
        nowhere = settings(env, f"no-queue-{uuid.uuid4().hex}")
        error, _ = await failure(publish(nowhere, b"{}", ROUTING))
        assert isinstance(error, AmqpUnroutableError)
        assert f"routing key {nowhere.routing_key!r}" in str(error) and "mandatory is on" in str(error)
        # Documented: with mandatory off the broker confirms the message and drops it.
        await publish(nowhere._replace(mandatory=False), b"{}", ROUTING)
    finally:
        await close_connections()


@pytest.mark.asyncio
async def test_a_missing_exchange_fails_and_the_next_dispatch_to_a_good_one_works(
    env: dict[str, str], consumer: Consumer
) -> None:
    queue = await consumer.queue()
    missing = settings(env, queue.name, exchange=f"missing-{uuid.uuid4().hex}")
    error, took = await failure(publish(missing, b"{}", ROUTING))
    assert isinstance(error, AmqpNotFoundError)
    assert f"exchange {missing.exchange!r}" in str(error) and "NOT_FOUND" in str(error)
    assert "set declare_exchange" in str(error)
    assert took < 2
    await publish(settings(env, queue.name), b'{"after":true}', ROUTING)
    assert [message.body for message in await received(queue, 1)] == [b'{"after":true}']


@pytest.mark.asyncio
async def test_a_nack_fails_the_dispatch(env: dict[str, str], consumer: Consumer) -> None:
    queue = await consumer.queue(arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    made = settings(env, queue.name)
    await publish(made, b"{}", ROUTING)
    error, _ = await failure(publish(made, b"{}", ROUTING))
    assert isinstance(error, AmqpNackError)
    assert f"routing key {queue.name!r}" in str(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("who", ["bad password", "unprivileged user", "missing vhost"])
async def test_refused_credentials_and_vhosts_fail_fast_naming_them_and_never_the_password(
    env: dict[str, str], who: str
) -> None:
    password = "wrong-password-123"
    changes: dict[str, Any] = {"password": SecretStr(password)}
    if who == "unprivileged user":
        password = env["RABBITMQ_UNPRIVILEGED_PASSWORD"]
        changes = {"username": env["RABBITMQ_UNPRIVILEGED_USERNAME"], "password": SecretStr(password)}
    elif who == "missing vhost":
        password = env["RABBITMQ_PASSWORD"]
        changes = {"url": str(URL(env["RABBITMQ_URL"]).with_path("/no-such-vhost"))}
    try:
        made = settings(env, "tracardi", **changes)
        error, took = await failure(publish(made, b"{}", ROUTING))
        assert isinstance(error, AmqpAccessError)
        assert took < 1, f"{who} took {took:.2f} s"
        assert password not in str(error)
        if who == "bad password":
            assert "refused the user name or password of user" in str(error)
        else:
            assert f"refused vhost {made.connection.vhost!r} to user {made.connection.username!r}" in str(error)
        # A refusal is an answer: the next dispatch asks again instead of failing from a window.
        again, _ = await failure(publish(made, b"{}", ROUTING))
        assert "not tried again" not in str(again)
    finally:
        await close_connections()


@pytest.mark.asyncio
async def test_tls_with_the_ca_file_delivers_and_without_it_fails_at_once(
    env: dict[str, str], consumer: Consumer
) -> None:
    queue = await consumer.queue()
    trusting = settings(env, queue.name, url=env["RABBITMQ_SSL_URL"], ssl_ca_file=env["RABBITMQ_SSL_CA_FILE"])
    await publish(trusting, b'{"tls":true}', ROUTING)
    assert [message.body for message in await received(queue, 1)] == [b'{"tls":true}']
    system = settings(env, queue.name, url=env["RABBITMQ_SSL_URL"])
    for _ in range(2):
        error, took = await failure(publish(system, b"{}", ROUTING))
        assert isinstance(error, AmqpCertificateError)
        assert "could not be verified" in str(error) and "the system's certificate authorities" in str(error)
        # Not an outage: it fails at once every time, without a window.
        assert "not tried again" not in str(error)
        assert took < 1


@pytest.mark.asyncio
async def test_too_large_is_refused_before_sending_or_by_the_broker_and_the_next_dispatch_works(
    env: dict[str, str], consumer: Consumer
) -> None:
    queue = await consumer.queue()
    limit = int(env["RABBITMQ_MAX_MESSAGE_SIZE"])
    ours = settings(env, queue.name, max_message_bytes=1000)
    error, _ = await failure(publish(ours, b"x" * 1001, ROUTING))
    assert isinstance(error, AmqpMessageSizeError) and "not sent" in str(error)
    # max_message_bytes above the broker's max_message_size: the broker refuses and closes the channel.
    above = settings(env, queue.name, max_message_bytes=limit * 2)
    error, _ = await failure(publish(above, b"x" * (limit + 1), ROUTING))
    assert isinstance(error, AmqpMessageSizeError) and "larger than configured max size" in str(error)
    await publish(above, b"x" * limit, ROUTING)
    (message,) = await received(queue, 1)
    assert len(message.body) == limit
    assert await queue.get(fail=False) is None


@pytest.mark.asyncio
async def test_two_destinations_share_one_connection(env: dict[str, str], consumer: Consumer) -> None:
    first, second = await consumer.queue(), await consumer.queue()
    one = settings(env, first.name)
    other = settings(env, second.name, headers={"team": "b"}, persistent=False)
    await asyncio.gather(*(publish(made, b"{}", ROUTING) for made in (one, other) * 50))
    connections = amqp._connections[asyncio.get_running_loop()]
    assert list(connections) == [one.connection]
    assert len(await received(first, 50)) == 50 and len(await received(second, 50)) == 50
    listed = subprocess.run(
        [*shlex.split(env["RABBITMQ_CTL"]), "list_connections", "-q", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.count('"tracardi"') == 1, listed


@pytest.mark.asyncio
async def test_a_forced_close_of_the_connection_is_recovered_from(env: dict[str, str], consumer: Consumer) -> None:
    queue = await consumer.queue()
    made = settings(env, queue.name, unreachable_backoff_seconds=0.2)
    await publish(made, b'{"n":1}', ROUTING)
    names = subprocess.run(
        [*shlex.split(env["RABBITMQ_CTL"]), "list_connections", "-q", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ours = [line.split("\t")[0] for line in names.splitlines() if '"tracardi"' in line]
    assert len(ours) == 1, names
    subprocess.run([*shlex.split(env["RABBITMQ_CTL"]), "close_connection", ours[0], "test: forced close"], check=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            await publish(made, b'{"n":2}', ROUTING)
            break
        except AmqpDeliveryError:
            assert time.monotonic() < deadline, "no recovery within 20 s of a forced close"
            await asyncio.sleep(0.1)
    bodies = [message.body for message in await received(queue, 2)]
    assert bodies == [b'{"n":1}', b'{"n":2}']


@pytest.mark.asyncio
async def test_a_broker_restart_inside_20000_dispatches_loses_no_confirmed_message(
    env: dict[str, str], consumer: Consumer
) -> None:
    total = 20_000
    queue = await consumer.queue(durable=True)
    made = settings(env, queue.name, unreachable_backoff_seconds=0.2, confirm_timeout_seconds=5)
    confirmed: set[int] = set()
    failures = 0

    async def dispatch(number: int) -> None:
        nonlocal failures
        try:
            await publish(made, json.dumps({"n": number}).encode(), ROUTING)
        except AmqpDeliveryError:
            failures += 1
        else:
            confirmed.add(number)

    async def stream(numbers: list[int], wave: int, pause: float) -> None:
        for first in range(0, len(numbers), wave):
            await asyncio.gather(*(dispatch(number) for number in numbers[first : first + wave]))
            await asyncio.sleep(pause)

    started = time.monotonic()
    # A quarter at full speed, then the rest paced, so that the stream spans the restart.
    await stream(list(range(total // 4)), 500, 0)
    command = shlex.split(env["RABBITMQ_RESTART_COMMAND"])
    restart = asyncio.ensure_future(asyncio.to_thread(subprocess.run, command, capture_output=True))
    await stream(list(range(total // 4, total)), 100, 0.05)
    # What failed is sent again until the broker confirms it, as a caller that retries would.
    while pending := [number for number in range(total) if number not in confirmed]:
        assert time.monotonic() - started < 120, f"{len(confirmed)} of {total} confirmed after 120 s"
        await stream(pending, 500, 0.1)
    assert (await restart).returncode == 0
    recovered = time.monotonic() - started
    assert failures > 0, "the restart did not interrupt the stream"
    # The consumer's connection went with the restart: read with a new one.
    reader = await aio_pika.connect(consumer_url(env))
    try:
        channel = await reader.channel()
        await channel.set_qos(prefetch_count=1000)
        durable = await channel.declare_queue(queue.name, durable=True, passive=True)
        seen: set[int] = set()

        async def read_all() -> None:
            async with durable.iterator() as messages:
                async for message in messages:
                    seen.add(json.loads(message.body)["n"])
                    await message.ack()
                    if len(seen) == total:
                        return

        try:
            await asyncio.wait_for(read_all(), 60)
        except asyncio.TimeoutError:
            pytest.fail(f"only {len(seen)} of {total} confirmed messages in the queue after the restart")
        await durable.delete(if_unused=False, if_empty=False)
    finally:
        await reader.close()
    assert confirmed == set(range(total))
    assert seen == confirmed
    print(
        f"restart inside {total} dispatches: {failures} failed dispatches retried, all confirmed in {recovered:.1f} s"
    )
