"""One profile or event on its way out: what every transport sends and how it becomes JSON."""

import json
from typing import Any, Literal, NamedTuple

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session


class PayloadError(ValueError):
    """Data that cannot be sent as JSON; nothing was sent."""


# Made once: json.dumps with options builds a new encoder on every call.
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False)


class DispatchRecord(NamedTuple):
    """One profile or event on its way out, with what a consumer needs to route it.

    A tuple rather than a dataclass: one is made for every dispatch, at a third of the cost.
    """

    destination: str
    kind: Literal["profile", "event"]
    data: Any
    profile_id: str | None
    session_id: str | None
    event_id: str | None = None
    event_type: str | None = None
    # The profile fields this dispatch reports as changed, by path: names only, so that no value
    # (old or new, often personal) travels in a header that proxies log.
    changed_fields: tuple[str, ...] = ()

    def properties(self) -> dict[str, str]:
        """Routing facts, so consumers need not parse the payload to route it."""
        values: dict[str, str] = {"tracardi-kind": self.kind}
        if self.profile_id is not None:
            values["tracardi-profile-id"] = self.profile_id
        if self.session_id is not None:
            values["tracardi-session-id"] = self.session_id
        if self.event_id is not None:
            values["tracardi-event-id"] = self.event_id
        if self.event_type is not None:
            values["tracardi-event-type"] = self.event_type
        if self.changed_fields:
            values["tracardi-changed-fields"] = JSON_ENCODER.encode(self.changed_fields)
        return values

    def key(self, partition_key: str) -> str | None:
        """The message key a `partition_key` setting chooses: the profile's or the session's id, so
        that their records keep their order in one partition, or none."""
        if partition_key == "profile_id":
            return self.profile_id
        if partition_key == "session_id":
            return self.session_id
        return None

    def json_payload(self) -> bytes:
        """The data as compact UTF-8 JSON; datetimes, UUIDs and decimals become strings."""
        try:
            text = JSON_ENCODER.encode(self.data)
        except (TypeError, ValueError) as error:
            raise PayloadError(f"Cannot send the {self.kind} data to {self.destination} as JSON: {error}") from error
        return text.encode()


# Profile and session may be None, wider than Tracardi's interface says: its dispatcher may pass None.
def profile_record(
    destination: str,
    data: Any,
    profile: Profile | None,
    session: Session | None,
    changed_fields: list[dict[str, Any]] | None = None,
) -> DispatchRecord:
    profile_id = profile.id if profile is not None else None
    session_id = session.id if session is not None else None
    # Tracardi's change log holds an entry per change; its "field" is the changed field's path.
    fields = tuple(dict.fromkeys(str(change["field"]) for change in changed_fields or () if change.get("field")))
    return DispatchRecord(destination, "profile", data, profile_id, session_id, changed_fields=fields)


def event_record(
    destination: str, data: Any, profile: Profile | None, session: Session | None, event: Event
) -> DispatchRecord:
    profile_id = profile.id if profile is not None else None
    session_id = session.id if session is not None else None
    return DispatchRecord(destination, "event", data, profile_id, session_id, event.id, event.type)
