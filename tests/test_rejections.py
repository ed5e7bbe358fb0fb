"""Every validation rule refuses a bad answer with an error naming the bad value, a non-zero
exit, and nothing written to the destination."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import copier_copy

PULSAR_HOST = {"name": "host", "type": "url", "required": True}
PULSAR_TOKEN = {"name": "token", "type": "secret"}
TOPIC = {"name": "topic", "type": "str", "required": True}


def custom(**answers: Any) -> dict[str, Any]:
    return {"transport": "custom", **answers}


def fields(*specs: dict[str, Any]) -> dict[str, Any]:
    return custom(init_fields=list(specs))


# (answers, text the error must contain)
REJECTED: dict[str, tuple[dict[str, Any], str]] = {
    "empty name": ({"destination_name": "  "}, "destination name is empty"),
    "name with spaces around": ({"destination_name": " Kafka"}, '" Kafka"'),
    "name with a quote": ({"destination_name": 'Ka"fka'}, '"Ka\\"fka"'),
    "name with a brace": ({"destination_name": "Kafka {x}"}, '"Kafka {x}"'),
    "destination name too long": ({"destination_name": "K" * 61}, "longer than 60"),
    "name giving nothing": ({"destination_name": "日本語"}, 'resource type ""'),
    "resource type not kebab": (custom(resource_type="Kafka_Sink"), '"Kafka_Sink"'),
    "resource type taken": (custom(resource_type="api"), '"api" is already used'),
    "module not snake": (custom(module_name="Kafka-Sink"), '"Kafka-Sink"'),
    "module keyword": (custom(module_name="class"), '"class" is a Python keyword'),
    "module taken": (custom(module_name="hubspot"), "hubspot_connector.py"),
    "module too long": (custom(module_name="k" * 41), "longer than 40"),
    "prefix not pascal": (custom(class_prefix="kafka"), '"kafka" is not a PascalCase'),
    "prefix taken": (custom(class_prefix="Hubspot"), '"Hubspot" clashes'),
    "unknown transport": (custom(transport="carrier-pigeon"), "carrier-pigeon"),
    "empty description": (custom(description=" "), "description is empty"),
    "description control": (custom(description="a\x07b"), "control character"),
    "tags not a list": (custom(tags="pulsar"), 'got "pulsar"'),
    "bad tag": (custom(tags=["ok", "no/slash"]), '"no/slash"'),
    "bad icon": (custom(icon="My Icon"), '"My Icon"'),
    "fields not a list": (custom(init_fields={"name": "x"}), "must be a YAML list"),
    "field not a mapping": (fields("topic"), 'got "topic"'),
    "unknown key": (fields({"name": "a", "type": "str", "colour": 1}), 'unknown key "colour"'),
    "name not snake": (fields({"name": "Topic", "type": "str"}), 'name "Topic"'),
    "name trailing underscore": (fields({"name": "topic_", "type": "str"}), 'name "topic_"'),
    "field name too long": (fields({"name": "a" * 31, "type": "str"}), "longer than 30"),
    "name keyword": (fields({"name": "import", "type": "str"}), '"import" is a Python keyword'),
    "name twice": (
        fields({"name": "a", "type": "str"}, {"name": "a", "type": "int"}),
        '"a" is used twice',
    ),
    "unknown type": (fields({"name": "a", "type": "text"}), 'unknown type "text"'),
    "required not bool": (
        fields({"name": "a", "type": "str", "required": "yes"}),
        'required must be true or false, got "yes"',
    ),
    "multi-line label": (fields({"name": "a", "type": "str", "label": "A\nB"}), '"A\\nB"'),
    "description control char": (
        fields({"name": "a", "type": "str", "description": "x\x00"}),
        "control characters",
    ),
    "choice without choices": (
        fields({"name": "a", "type": "choice"}),
        "non-empty list of choices",
    ),
    "empty choices": (fields({"name": "a", "type": "choice", "choices": []}), "got []"),
    "repeated choices": (
        fields({"name": "a", "type": "choice", "choices": ["x", "x"]}),
        '["x", "x"] must be distinct',
    ),
    "odd choice": (
        fields({"name": "a", "type": "choice", "choices": ["Zürich", "two\nlines"]}),
        '"two\\nlines" is not a value a form can offer',
    ),
    "choice too wide": (
        fields({"name": "a", "type": "choice", "choices": ["EU (Frankfurt)", "日" * 31]}),
        "is longer than 60 characters",
    ),
    "choices on a str": (
        fields({"name": "a", "type": "str", "choices": ["x"]}),
        "choices only go with type choice",
    ),
    "secret default": (
        fields({"name": "key", "type": "secret", "default": "hunter2"}),
        "a secret field takes no default",
    ),
    "int default": (fields({"name": "a", "type": "int", "default": "five"}), '"five" is not a int'),
    "bool default": (
        fields({"name": "a", "type": "bool", "default": "yes"}),
        '"yes" is not a bool',
    ),
    "float default": (
        fields({"name": "a", "type": "float", "default": True}),
        "true is not a float",
    ),
    "list default": (fields({"name": "a", "type": "list", "default": "x"}), '"x" is not a list'),
    "list item": (
        fields({"name": "a", "type": "list", "default": [1]}),
        "[1] must be a list of strings",
    ),
    "dict default": (
        fields({"name": "a", "type": "dict", "default": ["x"]}),
        '["x"] is not a dict',
    ),
    "dict value": (
        fields({"name": "a", "type": "dict", "default": {"k": 1}}),
        '{"k": 1} must map strings to strings',
    ),
    "url default": (
        fields({"name": "a", "type": "url", "default": "localhost"}),
        '"localhost" is not a URL',
    ),
    "choice default": (
        fields({"name": "a", "type": "choice", "choices": ["x"], "default": "y"}),
        '"y" is not one of the choices',
    ),
    "choice in both lists": (
        custom(
            credential_fields=[{"name": "region", "type": "choice", "choices": ["eu"]}],
            init_fields=[{"name": "region", "type": "choice", "choices": ["us"]}],
        ),
        '"region" is also a choice field in credential_fields',
    ),
    "pulsar without topic": (
        {"transport": "pulsar", "init_fields": []},
        'the pulsar transport needs the field "topic"',
    ),
    "pulsar host of the wrong type": (
        {
            "transport": "pulsar",
            "credential_fields": [{**PULSAR_HOST, "type": "str"}, PULSAR_TOKEN],
        },
        'the pulsar transport needs the field "host" of type multi_host_url',
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_bad_answer_is_refused_naming_the_value(
    case: str, template_dir: Path, tmp_path: Path
) -> None:
    answers, expected = REJECTED[case]
    data_file = tmp_path / "answers.yml"
    data_file.write_text(yaml.safe_dump(answers, allow_unicode=True))
    destination = tmp_path / "destination"
    result = copier_copy(template_dir, destination, "--quiet", "--data-file", data_file)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ValueError: "), result.stderr
    assert expected in last_line
    assert not destination.exists()


def test_a_refused_answer_leaves_an_existing_checkout_untouched(
    template_dir: Path, tmp_path: Path
) -> None:
    checkout = tmp_path / "tracardi"
    (checkout / "tracardi").mkdir(parents=True)
    (checkout / "tracardi" / "__init__.py").write_text("")
    result = copier_copy(template_dir, checkout, "--quiet", "--data", "module_name=class")
    assert result.returncode != 0
    assert 'module name "class" is a Python keyword' in result.stderr
    assert sorted(path.relative_to(checkout).as_posix() for path in checkout.rglob("*")) == [
        "tracardi",
        "tracardi/__init__.py",
    ]
