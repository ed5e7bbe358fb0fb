from typing import Any

from tracardi.domain.entity import Entity


class NamedEntity(Entity):
    name: str

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self.id = self.id.lower()

    def is_empty(self) -> bool:
        return not self.id or self.name is None


class NamedEntityInContext(NamedEntity):
    production: bool | None = False
    running: bool | None = False
