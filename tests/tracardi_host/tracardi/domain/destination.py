from typing import Any

from pydantic import BaseModel, Field, field_validator

from tracardi.domain.entity import Entity
from tracardi.domain.named_entity import NamedEntity, NamedEntityInContext


class DestinationConfig(BaseModel):
    package: str
    init: dict[str, Any] = Field(default_factory=dict)
    form: dict[str, Any] = Field(default_factory=dict)
    pro: bool = False

    @field_validator("package")
    @classmethod
    def package_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("Destination package cannot be empty")
        return value


class Destination(NamedEntityInContext):
    description: str | None = ""
    destination: DestinationConfig
    enabled: bool = False
    tags: list[str] = Field(default_factory=list)
    mapping: dict[str, Any] = Field(default_factory=dict)
    condition: str | None = ""
    on_profile_change_only: bool | None = True
    resource: Entity
    event_type: NamedEntity | None = None
    source: NamedEntity

    @field_validator("name")
    @classmethod
    def name_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("Name cannot be empty")
        return value
