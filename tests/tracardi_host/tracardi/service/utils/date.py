from datetime import datetime, timezone


def now_in_utc() -> datetime:
    return datetime.now(timezone.utc)


def add_utc_time_zone_if_none(dt: datetime | None) -> datetime | None:
    if dt is None or (dt.tzinfo is not None and dt.tzinfo.utcoffset(dt) is not None):
        return dt
    return dt.replace(tzinfo=timezone.utc)
