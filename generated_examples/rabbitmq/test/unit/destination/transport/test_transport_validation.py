"""Settings checked against a destination's models: errors that name the field and hide secrets,
and the fast path that validates the settings Tracardi hands again only once."""

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from tracardi.process_engine.destination.transport.validation import (
    SettingsError,
    derived_once,
    validated,
    validated_once,
)


class Credentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    host: str
    token: SecretStr


class Configuration(BaseModel):
    model_config = ConfigDict(frozen=True)
    topic: str
    retries: int = 3


CREDENTIALS = {"host": "broker", "token": "s3cr3t-value"}


def test_an_error_names_the_destination_what_and_each_field_but_no_secret() -> None:
    with pytest.raises(SettingsError) as raised:
        validated(Credentials, {"host": 12, "token": "s3cr3t-value"}, "test credentials", "Acme")
    message = str(raised.value)
    assert message.startswith("Invalid test credentials for the Acme destination: host: ")
    assert "s3cr3t-value" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize("validate", [validated, validated_once])
def test_a_secret_left_at_its_placeholder_is_refused_naming_the_field(validate: Any) -> None:
    with pytest.raises(
        SettingsError, match=r"production credentials for the Acme destination: token: still the placeholder"
    ):
        validate(Credentials, {"host": "broker", "token": "<token>"}, "production credentials", "Acme")
    # Only the very placeholder: a secret that merely looks like one is the user's.
    assert validate(Credentials, {"host": "broker", "token": "<tok>"}, "production credentials", "Acme")


@pytest.mark.parametrize("validate", [validated, validated_once])
def test_bad_settings_are_refused_every_time_not_only_the_first(validate: Any) -> None:
    for _ in range(2):
        with pytest.raises(SettingsError, match=r"init settings for the Acme destination: retries: "):
            validate(Configuration, {"topic": "t", "retries": "many"}, "init settings", "Acme")


def test_the_settings_handed_again_are_validated_once_and_shared() -> None:
    values = {"topic": "orders"}
    first = validated_once(Configuration, values, "init settings", "Acme")
    assert validated_once(Configuration, values, "init settings", "Acme") is first
    assert validated_once(Configuration, dict(values), "init settings", "Acme") is first
    other = validated_once(Configuration, {"topic": "orders", "not_a_field": 1}, "init settings", "Acme")
    assert other is not first and other == first


def test_settings_changed_in_place_are_validated_again() -> None:
    values: dict[str, Any] = {"topic": "payments"}
    first = validated_once(Configuration, values, "init settings", "Acme")
    values["retries"] = 5
    again = validated_once(Configuration, values, "init settings", "Acme")
    assert again is not first and again.retries == 5


def test_equal_settings_of_two_models_stay_apart() -> None:
    class Other(Configuration):
        pass

    values = {"topic": "orders"}
    assert type(validated_once(Other, values, "init settings", "Acme")) is Other
    assert type(validated_once(Configuration, values, "init settings", "Acme")) is Configuration


def test_derived_settings_are_made_once_per_pair_of_shared_models() -> None:
    made: list[tuple[Credentials, Configuration]] = []

    def derive(credentials: Credentials, configuration: Configuration) -> str:
        made.append((credentials, configuration))
        return f"{credentials.host}/{configuration.topic}"

    credentials = validated_once(Credentials, CREDENTIALS, "test credentials", "Acme")
    configuration = validated_once(Configuration, {"topic": "orders"}, "init settings", "Acme")
    assert derived_once(derive, credentials, configuration) == "broker/orders"
    assert derived_once(derive, credentials, configuration) == "broker/orders"
    assert len(made) == 1
    other = validated_once(Configuration, {"topic": "refunds"}, "init settings", "Acme")
    assert derived_once(derive, credentials, other) == "broker/refunds"
    assert len(made) == 2
