from typing import Any

from pydantic import BaseModel


class FormFieldValidation(BaseModel):
    regex: str
    message: str


class FormComponent(BaseModel):
    type: str = "text"
    props: dict[str, Any] | None = {}


class FormField(BaseModel):
    id: str
    name: str
    description: str | None = None
    component: FormComponent
    validation: FormFieldValidation | None = None
    required: bool = False


class FormGroup(BaseModel):
    name: str | None = None
    description: str | None = None
    fields: list[FormField]


class Form(BaseModel):
    submit: str | None = None
    default: dict[str, Any] | None = {}
    title: str | None = None
    groups: list[FormGroup] | None = []
