from typing import Any

from pydantic import BaseModel

from tracardi.domain.geo import Geo
from tracardi.domain.time import ProfileTime


class ProfileSystemMetadata(BaseModel):
    integrations: dict[str, Any] | None = {}
    aux: dict[str, Any] | None = {}


class ProfileMetadata(BaseModel):
    time: ProfileTime
    aux: dict[str, Any] | None = {}
    status: str | None = None
    fields: dict[str, Any] | None = {}
    system: ProfileSystemMetadata | None = ProfileSystemMetadata()


class OS(BaseModel):
    name: str | None = None
    version: str | None = None


class Device(BaseModel):
    name: str | None = None
    brand: str | None = None
    model: str | None = None
    type: str | None = None
    touch: bool | None = False
    ip: str | None = None
    resolution: str | None = None
    geo: Geo | None = Geo.model_construct()
    color_depth: int | None = None
    orientation: str | None = None


class Application(BaseModel):
    type: str | None = None
    name: str | None = None
    version: str | None = None
    language: str | None = None
    bot: bool | None = False
    resolution: str | None = None
