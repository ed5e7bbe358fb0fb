from typing import Any

from pydantic import BaseModel


class Country(BaseModel):
    name: str | None = None
    code: str | None = None


class Geo(BaseModel):
    country: Country | None = Country()
    city: str | None = None
    county: str | None = None
    postal: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location: tuple[float, float] | None = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if self.latitude is not None and self.longitude is not None:
            self.location = (self.longitude, self.latitude)
