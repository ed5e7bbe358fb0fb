from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tracardi.service.utils.date import add_utc_time_zone_if_none, now_in_utc


class Time(BaseModel):
    insert: datetime | None = None
    create: datetime | None = None
    update: datetime | None = None

    def __init__(self, **data: Any) -> None:
        data.setdefault("insert", now_in_utc())
        super().__init__(**data)
        self.insert = add_utc_time_zone_if_none(self.insert)
        self.create = add_utc_time_zone_if_none(self.create)
        self.update = add_utc_time_zone_if_none(self.update)


class ProfileVisit(BaseModel):
    last: datetime | None = None
    current: datetime | None = None
    count: int = 0
    tz: str | None = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self.last = add_utc_time_zone_if_none(self.last)
        self.current = add_utc_time_zone_if_none(self.current)


class ProfileTime(Time):
    segmentation: datetime | None = None
    visit: ProfileVisit = ProfileVisit()


class EventTime(Time):
    process_time: float | None = 0
    total_time: float | None = 0
