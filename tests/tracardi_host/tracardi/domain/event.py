from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tracardi.domain.entity import Entity, PrimaryEntity
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.marketing import UTM
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.value_object.operation import RecordFlag
from tracardi.service.utils.date import now_in_utc


def _event_name_from_type(event_type: str | None) -> str:
    if not event_type:
        return ""
    return " ".join(part.capitalize() for part in event_type.split("-"))


class Tags(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    values: tuple[str, ...] = ()
    count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _count_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data["count"] = len(data.get("values", ()))
        return data

    def add(self, tag: str | list[str]) -> None:
        added = tuple(tag) if isinstance(tag, list) else (tag,)
        self.values = self.values + added
        self.count = len(self.values)


class EventSession(Entity):
    # Master's default: the time the module was imported, shared by every EventSession.
    start: datetime = now_in_utc()
    duration: float = 0
    tz: str | None = None


class EventJourney(BaseModel):
    state: str | None = None

    def is_empty(self) -> bool:
        return not self.state


class Event(NamedEntity):
    metadata: EventMetadata
    type: str
    utm: UTM | None = UTM()
    properties: dict[str, Any] | None = Field(default_factory=dict)
    traits: dict[str, Any] | None = Field(default_factory=dict)
    operation: RecordFlag = RecordFlag()
    source: Entity
    session: EventSession | None = None
    profile: PrimaryEntity | None = None
    context: dict[str, Any] | None = Field(default_factory=dict)
    request: dict[str, Any] | None = Field(default_factory=dict)
    config: dict[str, Any] | None = Field(default_factory=dict)
    tags: Tags = Tags()
    aux: dict[str, Any] = Field(default_factory=dict)
    device: dict[str, Any] | None = Field(default_factory=dict)
    os: dict[str, Any] | None = Field(default_factory=dict)
    app: dict[str, Any] | None = Field(default_factory=dict)
    hit: dict[str, Any] | None = Field(default_factory=dict)
    journey: EventJourney = EventJourney()
    data: dict[str, Any] | None = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        if isinstance(data.get("type"), str):
            data["type"] = data["type"].lower().replace(" ", "-")
        if "name" not in data:
            data["name"] = _event_name_from_type(data.get("type"))
        super().__init__(**data)

    def get_ip(self) -> str | None:
        headers = (self.request or {}).get("headers")
        if isinstance(headers, dict):
            ip = headers.get("x-forwarded-for")
            return ip if isinstance(ip, str) else None
        return None

    def is_persistent(self) -> bool:
        save = (self.config or {}).get("save")
        return save if isinstance(save, bool) else True

    def has_profile(self) -> bool:
        return self.profile is not None

    def has_session(self) -> bool:
        return self.session is not None
