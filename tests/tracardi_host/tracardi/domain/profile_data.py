from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tracardi.domain.geo import Geo


class ProfileLanguage(BaseModel):
    native: str | None = None
    spoken: str | list[str] | None = None


class ProfileEducation(BaseModel):
    level: str | None = None


class ProfileCivilData(BaseModel):
    status: str | None = None


class ProfileAttribute(BaseModel):
    height: float | None = None
    weight: float | None = None
    shoe_number: float | None = None


class ProfilePII(BaseModel):
    firstname: str | None = None
    lastname: str | None = None
    display_name: str | None = None
    birthday: datetime | None = None
    language: ProfileLanguage | None = ProfileLanguage()
    gender: str | None = None
    education: ProfileEducation | None = ProfileEducation()
    civil: ProfileCivilData | None = ProfileCivilData()
    attributes: ProfileAttribute | None = ProfileAttribute()


class ProfileContactApp(BaseModel):
    whatsapp: str | None = None
    discord: str | None = None
    slack: str | None = None
    twitter: str | None = None
    telegram: str | None = None
    wechat: str | None = None
    viber: str | None = None
    signal: str | None = None
    other: dict[str, Any] | None = {}


class ProfileEmail(BaseModel):
    main: str | None = None
    private: str | None = None
    business: str | None = None


class ProfilePhone(BaseModel):
    main: str | None = None
    business: str | None = None
    mobile: str | None = None
    whatsapp: str | None = None


class ProfileContactAddress(BaseModel):
    town: str | None = None
    county: str | None = None
    country: str | None = None
    postcode: str | None = None
    street: str | None = None
    other: str | None = None


class ProfileContact(BaseModel):
    email: ProfileEmail | None = ProfileEmail()
    phone: ProfilePhone | None = ProfilePhone()
    app: ProfileContactApp | None = ProfileContactApp()
    address: ProfileContactAddress | None = ProfileContactAddress()
    confirmations: list[str] = []


class ProfileIdentifier(BaseModel):
    id: str | None = None
    pk: str | None = None
    badge: str | None = None
    passport: str | None = None
    credit_card: str | None = None
    token: str | None = None
    coupons: str | list[str] | None = None


class ProfileSocialMedia(BaseModel):
    twitter: str | None = None
    facebook: str | None = None
    youtube: str | None = None
    instagram: str | None = None
    tiktok: str | None = None
    linkedin: str | None = None
    reddit: str | None = None
    other: dict[str, Any] | None = {}


class ProfileMedia(BaseModel):
    image: str | None = None
    webpage: str | None = None
    social: ProfileSocialMedia | None = ProfileSocialMedia()


def _as_lists(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Master turns a single value of these fields into a one-element list."""
    return {
        key: [value] if key in names and value is not None and not isinstance(value, list) else value
        for key, value in data.items()
    }


class ProfilePreference(BaseModel):
    purchases: list[str] | None = []
    colors: list[str] | None = []
    sizes: list[str] | None = []
    devices: list[str] | None = []
    channels: list[str] | None = []
    payments: list[str] | None = []
    brands: list[str] | None = []
    fragrances: list[str] | None = []
    services: list[str] | None = []
    other: list[str] | None = []

    def __init__(self, **data: Any) -> None:
        super().__init__(**_as_lists(data, tuple(type(self).model_fields)))


class ProfileCompany(BaseModel):
    name: str | None = None
    size: int | None = None
    segment: str | list[str] | None = None
    country: str | None = None


class ProfileJob(BaseModel):
    position: str | None = None
    salary: float | None = None
    type: str | None = None
    company: ProfileCompany | None = ProfileCompany()
    department: str | None = None


class ProfileMetrics(BaseModel):
    ltv: float | None = 0
    ltcosc: int | None = 0
    ltcocc: int | None = 0
    ltcop: float | None = 0
    ltcosv: float | None = 0
    ltcocv: float | None = 0
    next: datetime | None = None
    custom: dict[str, Any] | None = {}


class ProfileLoyaltyCard(BaseModel):
    id: str | None = None
    name: str | None = None
    issuer: str | None = None
    expires: datetime | None = None
    points: float | None = 0


class ProfileLoyalty(BaseModel):
    codes: list[str] | None = []
    card: ProfileLoyaltyCard | None = ProfileLoyaltyCard()

    def __init__(self, **data: Any) -> None:
        super().__init__(**_as_lists(data, ("codes",)))


class LastGeo(BaseModel):
    geo: Geo | None = Geo()


class ProfileDevices(BaseModel):
    push: list[str] | None = []
    other: list[str] | None = []
    last: LastGeo | None = LastGeo()


class ProfileData(BaseModel):
    anonymous: bool | None = None
    pii: ProfilePII | None = ProfilePII()
    contact: ProfileContact | None = ProfileContact()
    identifier: ProfileIdentifier | None = ProfileIdentifier()
    devices: ProfileDevices | None = ProfileDevices()
    media: ProfileMedia | None = ProfileMedia()
    preferences: ProfilePreference | None = ProfilePreference()
    job: ProfileJob | None = ProfileJob()
    metrics: ProfileMetrics | None = ProfileMetrics()
    loyalty: ProfileLoyalty | None = ProfileLoyalty()
