"""What every destination's own tests check, written once: a destination's test module hands in
its registration and models, and each check names what disagrees.

Shared by every destination rendered from tracardi-destination-template into this checkout.
"""

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

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
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.transport.validation import SettingsError
from tracardi.service.plugin.domain.register import Form

# What a dispatch is about, as Tracardi hands it.
PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="page-view", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))


def registered_destination(resource: ResourceSettings) -> DestinationData:
    assert resource.destination is not None, f"{resource.id} registers no destination"
    return resource.destination


def make_connector(
    connector_class: type[DestinationInterface],
    registration: ResourceSettings,
    valid_credentials: dict[str, Any],
    valid_init: dict[str, Any],
    *,
    debug: bool = False,
    production: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> Any:
    """The connector as Tracardi builds it for a dispatch, from a resource and a destination;
    the settings not given are the valid ones."""
    resource = Resource(
        id="resource-1",
        name=registration.name,
        type=registration.id,
        credentials=ResourceCredentials(
            production=valid_credentials if production is None else production,
            test=valid_credentials if test is None else test,
        ),
    )
    destination = Destination(
        id="destination-1",
        name=f"{registration.name} destination",
        destination=DestinationConfig(
            package=registered_destination(registration).package,
            init=valid_init if init is None else init,
        ),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return connector_class(debug, resource, destination)


def check_registration(
    registration: ResourceSettings,
    connector_class: type[DestinationInterface],
    credentials_model: type[BaseModel],
    configuration_model: type[BaseModel],
    valid_init: dict[str, Any],
) -> None:
    """The registration names the connector, and its config, form and init agree with the models."""
    destination = registered_destination(registration)
    module_path, _, class_name = destination.package.rpartition(".")
    assert getattr(importlib.import_module(module_path), class_name) is connector_class
    assert list(registration.config) == _keys(credentials_model), "config keys differ from the credentials"
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
    required = {
        key: valid_init[key] if init[key] is None else init[key]
        for key, field in model_fields.items()
        if field.is_required()
    }
    assert configuration_model.model_validate({**init, **required}) == configuration_model.model_validate(required)


MakeConnector = Callable[..., Any]


def check_models(
    make_connector: MakeConnector,
    credentials_model: type[BaseModel],
    configuration_model: type[BaseModel],
    valid: tuple[dict[str, Any], dict[str, Any]],
    wrong: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Valid settings are taken as the models take them, in debug mode the test credentials, and
    a value of the wrong type in any field is refused naming that field."""
    (valid_credentials, valid_init), (wrong_credentials, wrong_init) = valid, wrong
    assert make_connector().credentials() == credentials_model.model_validate(valid_credentials)
    assert make_connector().configuration() == configuration_model.model_validate(valid_init)
    debug_connector = make_connector(debug=True, production=wrong_credentials or None)
    assert debug_connector.credentials() == credentials_model.model_validate(valid_credentials)
    for field, value in wrong_credentials.items():
        with pytest.raises(SettingsError, match=rf"production credentials.*\b{field}:"):
            make_connector(production={**valid_credentials, field: value}).credentials()
    for field, value in wrong_init.items():
        with pytest.raises(SettingsError, match=rf"init settings.*\b{field}:"):
            make_connector(init={**valid_init, field: value}).configuration()


def check_secrets_hidden(make_connector: MakeConnector, valid_credentials: dict[str, Any], secrets: list[str]) -> None:
    """No secret shows in the credentials' repr, str or JSON, nor in an error about another field."""
    credentials = make_connector().credentials()
    shown = [repr(credentials), str(credentials), credentials.model_dump_json()]
    others = [field for field in valid_credentials if field not in secrets]
    if others:
        with pytest.raises(SettingsError) as raised:
            make_connector(production={**valid_credentials, others[0]: object()}).credentials()
        shown.append(str(raised.value))
    for secret in secrets:
        assert not any(valid_credentials[secret] in text for text in shown), f"{secret} shows"


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]
