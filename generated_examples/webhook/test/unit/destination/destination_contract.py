"""What every destination's own tests check, written once: a destination's test module hands in
its connector and registration, and each check names what disagrees.

Shared by every destination rendered from tracardi-destination-template into this checkout.
"""

import importlib
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import MultiHostUrl

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.validation import SettingsError
from tracardi.service.plugin.domain.register import Form

# What a dispatch is about, as Tracardi hands it.
PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="page-view", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))

# A value each field type's model field accepts and one it refuses, by its annotation: the
# field types of the template that wrote this file (a choice field takes its last choice).
SAMPLE_AND_WRONG: dict[Any, tuple[Any, Any]] = {
    str: (
        "sample text",
        12,
    ),
    int: (
        7,
        "seven",
    ),
    float: (
        2.5,
        "two and a half",
    ),
    bool: (
        True,
        "maybe",
    ),
    AnyUrl: (
        "https://example.com/api",
        "not a url",
    ),
    MultiHostUrl: (
        "scheme://host-1:6650,host-2:6650",
        "not a url",
    ),
    SecretStr: (
        "s3cr3t-value",
        12,
    ),
    Literal: (
        None,
        "not-one-of-the-choices",
    ),
    list[str]: (
        [
            "first",
            "second",
        ],
        "not a list",
    ),
    dict[str, str]: (
        {
            "key": "value",
        },
        [
            "not",
            "a",
            "dict",
        ],
    ),
}

Connector = RecordConnector[Any, Any]

# pydantic's names for a Field's bounds, each with the test a value within it passes and the
# step from the bound to a value just beyond it.
BOUND_KEYS: dict[str, tuple[Callable[[Any, Any], bool], int]] = {
    "ge": (operator.ge, -1),
    "gt": (operator.gt, 0),
    "le": (operator.le, 1),
    "lt": (operator.lt, 0),
}


def _type_of(annotation: Any) -> Any:
    """The field type an annotation stands for: optional fields are `X | None`, choices `Literal[...]`."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return Literal
    if origin in (typing.Union, types.UnionType):
        (inner,) = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
        return _type_of(inner)
    return annotation


def _choices(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return next((choices for argument in typing.get_args(annotation) if (choices := _choices(argument))), ())


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """The field's bounds (its Field's ge, gt, le and lt) by name."""
    return {key: getattr(item, key) for item in field.metadata for key in BOUND_KEYS if hasattr(item, key)}


def _within(value: Any, bounds: dict[str, Any]) -> bool:
    return all(BOUND_KEYS[key][0](value, bound) for key, bound in bounds.items())


def _sample(field: FieldInfo) -> Any:
    field_type = _type_of(field.annotation)
    if field_type is Literal:
        return _choices(field.annotation)[-1]
    sample, bounds = SAMPLE_AND_WRONG[field_type][0], _bounds(field)
    if not bounds or _within(sample, bounds):
        return sample
    # A number the bounds leave out gives way to the default, a bound, or a number between them.
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    candidates = [field.default, low, high]
    candidates += [low + 1 if low is not None else None, high - 1 if high is not None else None]
    if low is not None and high is not None:
        candidates += [field_type((low + high) / 2)]
    numbers = [value for value in candidates if isinstance(value, int | float) and not isinstance(value, bool)]
    return next(value for value in numbers if _within(value, bounds))


def sample_values(model: type[BaseModel]) -> dict[str, Any]:
    """A value each field of `model` accepts, by the key the settings give it."""
    return {field.alias or name: _sample(field) for name, field in model.model_fields.items()}


def out_of_bounds_values(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """For each bound of each field of `model`, the key and a value just beyond that bound."""
    return [
        (field.alias or name, bound + BOUND_KEYS[key][1])
        for name, field in model.model_fields.items()
        for key, bound in _bounds(field).items()
    ]


def wrong_values(model: type[BaseModel]) -> dict[str, Any]:
    """A value of the wrong type for each field of `model`."""
    return {
        field.alias or name: SAMPLE_AND_WRONG[_type_of(field.annotation)][1]
        for name, field in model.model_fields.items()
    }


def registered_destination(resource: ResourceSettings) -> DestinationData:
    assert resource.destination is not None, f"{resource.id} registers no destination"
    return resource.destination


def make_connector(
    connector_class: type[Connector],
    registration: ResourceSettings,
    *,
    debug: bool = False,
    production: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> Any:
    """The connector as Tracardi builds it for a dispatch, from a resource and a destination;
    the settings not given are sample values of the models."""
    credentials = sample_values(connector_class.credentials_model)
    resource = Resource(
        id="resource-1",
        name=registration.name,
        type=registration.id,
        credentials=ResourceCredentials(
            production=credentials if production is None else production,
            test=credentials if test is None else test,
        ),
    )
    destination = Destination(
        id="destination-1",
        name=f"{registration.name} destination",
        destination=DestinationConfig(
            package=registered_destination(registration).package,
            init=sample_values(connector_class.configuration_model) if init is None else init,
        ),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return connector_class(debug, resource, destination)


def check_registration(registration: ResourceSettings, connector_class: type[Connector]) -> None:
    """The registration names the connector, and its config, form and init agree with the models."""
    destination = registered_destination(registration)
    module_path, _, class_name = destination.package.rpartition(".")
    assert getattr(importlib.import_module(module_path), class_name) is connector_class
    assert list(registration.config) == _keys(connector_class.credentials_model), "config keys differ from the model"
    configuration_model = connector_class.configuration_model
    fields = _keys(configuration_model)
    form = destination.form
    form_fields = [field for group in form.groups or [] for field in group.fields] if isinstance(form, Form) else []
    assert [field.id for field in form_fields] == fields, "form fields differ from the init model"
    assert list(destination.init or {}) == fields, "init keys differ from the init model"
    model_fields = {field.alias or name: field for name, field in configuration_model.model_fields.items()}
    for form_field in form_fields:
        model_field = model_fields[form_field.id]
        assert form_field.required == model_field.is_required(), form_field.id
        assert form_field.description == model_field.description, form_field.id
    # A required field without a default starts empty on the form; validated, the registered
    # init equals the model's own defaults (a URL default is an AnyUrl on the model, a str here).
    init = dict(destination.init or {})
    samples = sample_values(configuration_model)
    required = {
        key: samples[key] if init[key] is None else init[key]
        for key, field in model_fields.items()
        if field.is_required()
    }
    assert configuration_model.model_validate({**init, **required}) == configuration_model.model_validate(required)


def check_models(registration: ResourceSettings, connector_class: type[Connector]) -> None:
    """Valid settings are taken as the models take them, in debug mode the test credentials, and
    a value of the wrong type in any field, or beyond one of its bounds, is refused naming that field."""
    credentials_model, configuration_model = connector_class.credentials_model, connector_class.configuration_model
    credentials, init = sample_values(credentials_model), sample_values(configuration_model)

    def connector(**settings: Any) -> Any:
        return make_connector(connector_class, registration, **settings)

    assert connector().credentials() == credentials_model.model_validate(credentials)
    assert connector().configuration() == configuration_model.model_validate(init)
    wrong_credentials = wrong_values(credentials_model)
    debug_connector = connector(debug=True, production=wrong_credentials or None)
    assert debug_connector.credentials() == credentials_model.model_validate(credentials)
    for field, value in wrong_credentials.items():
        with pytest.raises(SettingsError, match=rf"production credentials.*\b{field}:"):
            connector(production={**credentials, field: value}).credentials()
    for field, value in wrong_values(configuration_model).items():
        with pytest.raises(SettingsError, match=rf"init settings.*\b{field}:"):
            connector(init={**init, field: value}).configuration()
    for field, value in out_of_bounds_values(credentials_model):
        with pytest.raises(SettingsError, match=rf"production credentials.*\b{field}: Input should be"):
            connector(production={**credentials, field: value}).credentials()
    for field, value in out_of_bounds_values(configuration_model):
        with pytest.raises(SettingsError, match=rf"init settings.*\b{field}: Input should be"):
            connector(init={**init, field: value}).configuration()


def check_secrets_hidden(registration: ResourceSettings, connector_class: type[Connector]) -> None:
    """No secret shows in the credentials' repr, str or JSON, nor in an error about another field."""
    model = connector_class.credentials_model
    credentials = sample_values(model)
    secrets = [field.alias or name for name, field in model.model_fields.items() if _is_secret(field.annotation)]
    validated = make_connector(connector_class, registration).credentials()
    shown = [repr(validated), str(validated), validated.model_dump_json()]
    others = [key for key in credentials if key not in secrets]
    if others:
        with pytest.raises(SettingsError) as raised:
            make_connector(connector_class, registration, production={**credentials, others[0]: object()}).credentials()
        shown.append(str(raised.value))
    for secret in secrets:
        assert not any(credentials[secret] in text for text in shown), f"{secret} shows"


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]
