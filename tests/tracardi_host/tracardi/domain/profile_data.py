from datetime import datetime

from pydantic import BaseModel


class ProfilePII(BaseModel):
    firstname: str | None = None
    lastname: str | None = None
    display_name: str | None = None
    birthday: datetime | None = None
    gender: str | None = None


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


class ProfileData(BaseModel):
    anonymous: bool | None = None
    pii: ProfilePII | None = ProfilePII()
    contact: ProfileContact | None = ProfileContact()
    identifier: ProfileIdentifier | None = ProfileIdentifier()
    job: ProfileJob | None = ProfileJob()
