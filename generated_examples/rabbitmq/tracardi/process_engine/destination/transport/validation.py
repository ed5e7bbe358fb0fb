"""Credentials and init settings checked against a destination's models, with errors that name
the field and never repeat a secret, and a fast path for the settings Tracardi hands again."""

import copy
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

from pydantic import BaseModel, SecretStr, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
CredentialsT = TypeVar("CredentialsT", bound=BaseModel)
ConfigurationT = TypeVar("ConfigurationT", bound=BaseModel)
DerivedT = TypeVar("DerivedT")

# Shared by every destination of the checkout: a few settings each is what Tracardi hands.
CACHE_SIZE = 256


class SettingsError(ValueError):
    """Credentials or init settings that do not fit their models."""


def validated(model: type[ModelT], values: dict[str, Any], what: str, destination: str) -> ModelT:
    """`values` as `model`, or a SettingsError naming each field that does not fit."""
    try:
        result = model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        # `from None`: the ValidationError repeats the input, secrets included, and Tracardi logs the whole chain.
        raise SettingsError(f"Invalid {what} for the {destination} destination: {problems}") from None
    placeholders = _placeholder_secrets(result)
    if placeholders:
        raise SettingsError(f"Invalid {what} for the {destination} destination: {'; '.join(placeholders)}")
    return result


def _placeholder_secrets(result: BaseModel) -> list[str]:
    # A secret's registration starts it as "<name>" (the secret row of copier.yml's field_types);
    # left so, it would be sent as the token or sign every body.
    found = []
    for name, field in type(result).model_fields.items():
        value = getattr(result, name)
        key = field.alias or name
        if isinstance(value, SecretStr) and value.get_secret_value() == f"<{key}>":
            found.append(f"{key}: still the placeholder <{key}>; set the real secret")
    return found


# Tracardi builds a new connector for every dispatch but hands each the settings its cache
# holds, and validating them again costs more than the rest of the connector's work. A dict
# handed before is recognised by identity while it still equals what was validated; an equal
# new dict by its repr, which tells apart every value JSON settings can hold. The models are
# frozen, so sharing them is safe.
_by_repr: OrderedDict[tuple[type[BaseModel], str], BaseModel] = OrderedDict()


class _KnownSettings(NamedTuple):
    # Kept alive, so that no other dict gets its id while it is known.
    values: dict[str, Any]
    as_validated: dict[str, Any]
    model: BaseModel


_by_identity: dict[tuple[type[BaseModel], int], _KnownSettings] = {}


def validated_once(model: type[ModelT], values: dict[str, Any], what: str, destination: str) -> ModelT:
    """validated(), sharing one frozen model among every dispatch handed equal settings."""
    known = _by_identity.get((model, id(values)))
    if known is not None and known.as_validated == values:
        return cast(ModelT, known.model)
    result = _validated_by_repr(model, values, what, destination)
    if len(_by_identity) >= CACHE_SIZE:
        _by_identity.clear()
    _by_identity[(model, id(values))] = _KnownSettings(values, copy.deepcopy(values), result)
    return result


def _validated_by_repr(model: type[ModelT], values: dict[str, Any], what: str, destination: str) -> ModelT:
    key = (model, repr(values))
    cached = _by_repr.get(key)
    if cached is not None:
        _by_repr.move_to_end(key)
        return cast(ModelT, cached)
    result = validated(model, values, what, destination)
    _by_repr[key] = result
    if len(_by_repr) > CACHE_SIZE:
        _by_repr.popitem(last=False)
    return result


# Derived from the shared, frozen models validated_once returns, so the identity of a pair stands
# for its values; each pair is kept here, so that no other models take its ids.
_derived: dict[tuple[Callable[..., Any], int, int], tuple[BaseModel, BaseModel, Any]] = {}


def derived_once(
    derive: Callable[[CredentialsT, ConfigurationT], DerivedT],
    credentials: CredentialsT,
    configuration: ConfigurationT,
) -> DerivedT:
    """derive(credentials, configuration), made once per pair of models validated_once shares."""
    key = (derive, id(credentials), id(configuration))
    known = _derived.get(key)
    if known is not None:
        return cast(DerivedT, known[2])
    result = derive(credentials, configuration)
    if len(_derived) >= CACHE_SIZE:
        _derived.clear()
    _derived[key] = (credentials, configuration, result)
    return result
