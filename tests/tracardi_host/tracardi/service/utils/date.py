from datetime import datetime
from zoneinfo import ZoneInfo

# Master's UTC is ZoneInfo("UTC") (not datetime.UTC, which Python 3.10 lacks).
UTC = ZoneInfo("UTC")


def now_in_utc() -> datetime:
    return datetime.now(UTC)


def add_utc_time_zone_if_none(dt: datetime | None) -> datetime | None:
    if dt is None or (dt.tzinfo is not None and dt.tzinfo.utcoffset(dt) is not None):
        return dt
    return dt.replace(tzinfo=UTC)
