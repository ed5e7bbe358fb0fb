from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracardi.domain.entity import Entity, PrimaryEntity
from tracardi.domain.marketing import UTM
from tracardi.domain.metadata import OS, Application, Device
from tracardi.domain.time import Time
from tracardi.domain.value_object.operation import Operation
from tracardi.service.utils.date import now_in_utc


class SessionTime(Time):
    timestamp: float | None = 0
    duration: float = 0
    weekday: int | None = None

    def __init__(self, **data: Any) -> None:
        data.setdefault("duration", 0)
        super().__init__(**data)
        if self.insert is not None:
            self.weekday = self.insert.weekday()
        if self.timestamp == 0:
            self.timestamp = now_in_utc().timestamp()


class SessionMetadata(BaseModel):
    time: SessionTime = SessionTime()
    channel: str | None = None
    aux: dict[str, Any] | None = Field(default_factory=dict)
    status: str | None = None


class SessionContext(dict[str, Any]):
    def _lookup(self, *path: str) -> str | None:
        value: Any = self
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value if isinstance(value, str) else None

    def get_time_zone(self) -> str | None:
        return self._lookup("time", "tz")

    def get_platform(self) -> str | None:
        return self._lookup("browser", "local", "device", "platform")

    def get_browser_name(self) -> str | None:
        return self._lookup("browser", "local", "browser", "name")


class Session(Entity):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    metadata: SessionMetadata
    operation: Operation = Operation()
    profile: PrimaryEntity | None = None
    device: Device | None = Device()
    os: OS | None = OS()
    app: Application | None = Application()
    utm: UTM | None = UTM()
    context: SessionContext | None = SessionContext()
    properties: dict[str, Any] | None = Field(default_factory=dict)
    traits: dict[str, Any] | None = Field(default_factory=dict)
    aux: dict[str, Any] | None = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        context = data.get("context")
        if isinstance(context, dict) and not isinstance(context, SessionContext):
            data["context"] = SessionContext(context)
        super().__init__(**data)
