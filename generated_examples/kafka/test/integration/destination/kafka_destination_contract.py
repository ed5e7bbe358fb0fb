"""What every Kafka destination's own Apache test checks, written once: an event and a profile
dispatched through the destination's connector and the shared producer reach Apache Kafka with
their value, key and headers.

Shared by every Kafka destination rendered from tracardi-destination-template into this
checkout. It needs the broker of transport/test_transport_kafka_apache.py, which tests the
producers themselves: require_apache_kafka() skips a module without its variables, and fails
it with REQUIRE_APACHE_KAFKA=1.
"""

import asyncio
import json
import os
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.resource_settings import ResourceSettings
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.kafka import close_producers

VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_ADMIN_USERNAME", "KAFKA_ADMIN_PASSWORD", "KAFKA_PLAIN_USERNAME")
SASL = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}


def require_apache_kafka() -> None:
    """Skip the calling test module unless Apache Kafka's variables are set (fail, if required)."""
    if not all(os.environ.get(name) for name in VARIABLES):
        reason = "needs Apache Kafka with SASL: set KAFKA_BOOTSTRAP_SERVERS and the KAFKA_* users"
        if os.environ.get("REQUIRE_APACHE_KAFKA") == "1":
            raise RuntimeError(f"REQUIRE_APACHE_KAFKA=1, but this {reason}")
        pytest.skip(reason, allow_module_level=True)


async def check_an_event_and_a_profile_arrive(
    connector_class: type[RecordConnector[Any, Any]], registration: ResourceSettings
) -> None:
    servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    admin_login = {
        "sasl_plain_username": os.environ["KAFKA_ADMIN_USERNAME"],
        "sasl_plain_password": os.environ["KAFKA_ADMIN_PASSWORD"],
    }
    topic = f"tracardi-connector-test-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, **SASL, **admin_login)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    registered = registration.destination
    assert registered is not None
    init = {**(registered.init or {}), "topic": topic, "headers": {"env": "test"}}
    login = {"username": os.environ["KAFKA_PLAIN_USERNAME"], "password": os.environ["KAFKA_PLAIN_PASSWORD"]}
    credentials = ResourceCredentials(production={"bootstrap_servers": servers, **SASL, **login})
    resource = Resource(id="r", name="resource", type=registration.id, credentials=credentials)
    destination = Destination(
        id="d",
        name="destination",
        destination=DestinationConfig(package=registered.package, init=init),
        resource=Entity(id="r"),
        source=NamedEntity(id="s", name="source"),
    )
    connector = connector_class(False, resource, destination)
    profile, session = Profile(id="profile-1"), Session(id="session-1", metadata=SessionMetadata())
    event = Event(id="event-1", type="buy", metadata=EventMetadata(time=EventTime()), source=Entity(id="s"))
    try:
        await connector.dispatch_event({"order": 1}, profile=profile, session=session, event=event)
        await connector.dispatch_profile({"plan": "pro"}, profile=profile, session=session)
    finally:
        await close_producers()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, **SASL, **admin_login, auto_offset_reset="earliest")
    await consumer.start()
    try:
        event_record, profile_record = [await asyncio.wait_for(consumer.getone(), 20) for _ in range(2)]
    finally:
        await consumer.stop()
    key = {"profile_id": b"profile-1", "session_id": b"session-1"}.get(connector.configuration().partition_key)
    routing = {"env": "test", "tracardi-profile-id": "profile-1", "tracardi-session-id": "session-1"}
    event_headers = {**routing, "tracardi-kind": "event", "tracardi-event-id": "event-1", "tracardi-event-type": "buy"}
    assert (json.loads(event_record.value), event_record.key) == ({"order": 1}, key)
    assert {name: value.decode() for name, value in event_record.headers} == event_headers
    assert (json.loads(profile_record.value), profile_record.key) == ({"plan": "pro"}, key)
    assert {name: value.decode() for name, value in profile_record.headers} == {**routing, "tracardi-kind": "profile"}
