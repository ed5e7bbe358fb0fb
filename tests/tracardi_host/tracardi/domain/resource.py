from datetime import datetime
from typing import Any, Protocol, TypeVar, overload

from pydantic import BaseModel, Field

from tracardi.domain.destination import DestinationConfig
from tracardi.domain.named_entity import NamedEntityInContext
from tracardi.service.utils.date import now_in_utc

T = TypeVar("T")


class _Debuggable(Protocol):
    debug: bool


class ResourceCredentials(BaseModel):
    production: dict[str, Any] | None = Field(default_factory=dict)
    test: dict[str, Any] | None = Field(default_factory=dict)

    @overload
    def get_credentials(
        self, plugin: _Debuggable, output: None = None
    ) -> dict[str, Any] | None: ...

    @overload
    def get_credentials(self, plugin: _Debuggable, output: type[T]) -> T: ...

    def get_credentials(
        self, plugin: _Debuggable, output: type[T] | None = None
    ) -> T | dict[str, Any] | None:
        # Simplified: no request context here, only plugin.debug picks test creds.
        if plugin.debug is True:
            return output(**(self.test or {})) if output is not None else self.test
        return self.get_production_credentials(output)

    @overload
    def get_production_credentials(
        self, output: None = None
    ) -> dict[str, Any] | None: ...

    @overload
    def get_production_credentials(self, output: type[T]) -> T: ...

    def get_production_credentials(
        self, output: type[T] | None = None
    ) -> T | dict[str, Any] | None:
        return (
            output(**(self.production or {})) if output is not None else self.production
        )


class Resource(NamedEntityInContext):
    type: str
    timestamp: datetime | None = None
    description: str | None = "No description provided"
    credentials: ResourceCredentials = ResourceCredentials()
    tags: list[str] | str = Field(default_factory=lambda: ["general"])
    groups: list[str] | str = Field(default_factory=list)
    icon: str | None = None
    destination: DestinationConfig | None = None
    enabled: bool | None = True

    def __init__(self, **data: Any) -> None:
        data["timestamp"] = now_in_utc()
        super().__init__(**data)

    def is_destination(self) -> bool:
        return self.destination is not None

    def is_destination_pro(self) -> bool:
        return self.destination is not None and self.destination.pro
