from uuid import uuid4

from pydantic import BaseModel


class NullableEntity(BaseModel):
    id: str | None = None


class NullablePrimaryEntity(NullableEntity):
    primary_id: str | None = None


class Entity(BaseModel):
    id: str

    @staticmethod
    def new() -> "Entity":
        return Entity(id=str(uuid4()))

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entity):
            return False
        return self.id == other.id


class PrimaryEntity(Entity):
    primary_id: str | None = None
