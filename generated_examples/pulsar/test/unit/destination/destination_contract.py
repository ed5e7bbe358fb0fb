"""What every destination's own tests check, written once: a destination's test module hands in
its registration and models, and each check names what disagrees.

Shared by every destination rendered from tracardi-destination-template into this checkout.
"""

import importlib
from typing import Any

from pydantic import BaseModel

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.service.plugin.domain.register import Form


def registered_destination(resource: ResourceSettings) -> DestinationData:
    assert resource.destination is not None, f"{resource.id} registers no destination"
    return resource.destination


def make_connector(
    connector_class: type[DestinationInterface],
    registration: ResourceSettings,
    credentials: dict[str, Any],
    init: dict[str, Any],
    *,
    debug: bool = False,
    test_credentials: dict[str, Any] | None = None,
) -> Any:
    """The connector as Tracardi builds it for a dispatch, from a resource and a destination."""
    resource = Resource(
        id="resource-1",
        name=registration.name,
        type=registration.id,
        credentials=ResourceCredentials(
            production=credentials,
            test=credentials if test_credentials is None else test_credentials,
        ),
    )
    destination = Destination(
        id="destination-1",
        name=f"{registration.name} destination",
        destination=DestinationConfig(package=registered_destination(registration).package, init=init),
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


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]
