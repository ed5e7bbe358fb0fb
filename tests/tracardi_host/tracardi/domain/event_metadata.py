from typing import Any

from pydantic import BaseModel

from tracardi.domain.entity import Entity
from tracardi.domain.time import EventTime


class EventProcessors(BaseModel):
    rules: list[str] = []
    flows: list[str] = []
    third_party: list[str] = []


class EventMetadata(BaseModel):
    aux: dict[str, Any] | None = {}
    time: EventTime
    ip: str | None = None
    status: str | None = "collected"
    channel: str | None = None
    processed_by: EventProcessors = EventProcessors()
    profile_less: bool | None = False
    debug: bool | None = False
    valid: bool | None = True
    error: bool | None = False
    warning: bool | None = False
    merge: bool | None = False
    instance: Entity | None = None
