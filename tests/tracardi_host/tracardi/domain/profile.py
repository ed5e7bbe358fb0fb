from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tracardi.domain.entity import PrimaryEntity
from tracardi.domain.metadata import ProfileMetadata
from tracardi.domain.profile_data import ProfileData
from tracardi.domain.profile_stats import ProfileStats
from tracardi.domain.time import ProfileTime
from tracardi.domain.value_object.operation import Operation


class ConsentRevoke(BaseModel):
    revoke: datetime | None = None


class Profile(PrimaryEntity):
    ids: list[str] | None = Field(default_factory=list)
    metadata: ProfileMetadata | None = ProfileMetadata(time=ProfileTime())
    operation: Operation | None = Operation()
    stats: ProfileStats = ProfileStats()
    traits: dict[str, Any] | None = Field(default_factory=dict)
    segments: list[str] | None = Field(default_factory=list)
    interests: dict[str, Any] | None = Field(default_factory=dict)
    consents: dict[str, ConsentRevoke] | None = Field(default_factory=dict)
    active: bool = True
    aux: dict[str, Any] | None = Field(default_factory=dict)
    data: ProfileData | None = ProfileData()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if self.ids is None:
            self.ids = []
        if self.id not in self.ids:
            self.ids.append(self.id)

    def has_consents_set(self) -> bool:
        consents = (self.aux or {}).get("consents")
        return isinstance(consents, dict) and consents.get("granted") is True
