"""The record every transport sends: its routing facts and its JSON."""

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.transport.record import (
    DispatchRecord,
    PayloadError,
    event_record,
    profile_record,
)

EVENT = Event(id="event-1", type="page-view", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))


def test_an_event_record_carries_every_routing_fact() -> None:
    session = Session(id="session-1", metadata=SessionMetadata())
    record = event_record("Acme", {}, Profile(id="profile-1"), session, EVENT)
    assert record == DispatchRecord("Acme", "event", {}, "profile-1", "session-1", "event-1", "page-view")
    assert record.properties() == {
        "tracardi-kind": "event",
        "tracardi-profile-id": "profile-1",
        "tracardi-session-id": "session-1",
        "tracardi-event-id": "event-1",
        "tracardi-event-type": "page-view",
    }


def test_a_profile_record_leaves_out_what_is_not_known() -> None:
    # Tracardi's dispatcher may pass no profile or session, whatever its interface says.
    assert profile_record("Acme", {}, None, None).properties() == {"tracardi-kind": "profile"}
    record = profile_record("Acme", {}, Profile(id="profile-1"), None)
    assert record.properties() == {"tracardi-kind": "profile", "tracardi-profile-id": "profile-1"}


def test_a_profile_record_names_the_changed_fields_once_each_without_their_values() -> None:
    changes: list[dict[str, Any]] = [
        {"field": "traits.plan", "value": "pro", "old_value": "free", "type": "profile"},
        {"field": "data.contact.email", "value": "ann@example.com", "old_value": None, "type": "profile"},
        {"field": "traits.plan", "value": "team", "old_value": "pro", "type": "profile"},
    ]
    record = profile_record("Acme", {}, Profile(id="profile-1"), None, changes)
    assert record.changed_fields == ("traits.plan", "data.contact.email")
    assert record.properties()["tracardi-changed-fields"] == '["traits.plan","data.contact.email"]'
    assert "ann@example.com" not in str(record.properties())
    assert "tracardi-changed-fields" not in profile_record("Acme", {}, None, None, []).properties()


@pytest.mark.parametrize(
    ("partition_key", "key"), [("profile_id", "profile-1"), ("session_id", "session-1"), ("none", None)]
)
def test_the_partition_key_setting_picks_the_key(partition_key: str, key: str | None) -> None:
    assert DispatchRecord("Acme", "event", {}, "profile-1", "session-1").key(partition_key) == key


def test_json_payload_is_compact_utf8_with_dates_uuids_and_decimals_as_strings() -> None:
    data = {
        "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "id": UUID(int=1),
        "price": Decimal("9.99"),
        "name": "Zoë",
        "tags": ["a", "b"],
    }
    expected = (
        '{"at":"2024-01-02 03:04:05+00:00","id":"00000000-0000-0000-0000-000000000001",'
        '"price":"9.99","name":"Zoë","tags":["a","b"]}'
    )
    assert DispatchRecord("Acme", "event", data, None, None).json_payload() == expected.encode("utf-8")


def circular_data() -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["self"] = data
    return data


@pytest.mark.parametrize(
    "data",
    [float("nan"), {("tuple", "key"): 1}, circular_data()],
    ids=["nan", "tuple-key", "circular"],
)
def test_unserialisable_data_is_refused_naming_the_destination(data: Any) -> None:
    with pytest.raises(PayloadError, match="Cannot send the event data to Acme as JSON"):
        DispatchRecord("Acme", "event", data, None, None).json_payload()
