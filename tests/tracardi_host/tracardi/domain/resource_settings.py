from typing import Any

from pydantic import BaseModel, SerializeAsAny

from tracardi.domain.named_entity import NamedEntity
from tracardi.service.plugin.domain.register import Form


class DestinationData(BaseModel):
    package: str
    init: dict[str, Any] | None = {}
    # Master's default is a plain {} despite the Form annotation; kept, and
    # serialized as-is (SerializeAsAny) so dumping it does not warn.
    form: SerializeAsAny[Form | None] = {}  # type: ignore[assignment]
    pro: bool = False


class ResourceSettings(NamedEntity):
    config: dict[str, Any]
    tags: list[str]
    icon: str | None = "plugin"
    destination: DestinationData | None = None
    manual: str | None = None
    pro: dict[str, Any] | None = None

    def dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        dumped = self.model_dump(*args, **kwargs)
        return {key: value for key, value in dumped.items() if value is not None}
