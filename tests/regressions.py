"""Answer sets that once broke the template, found by the property tests. Each runs as an
explicit example of those tests (`@example`), in every profile, before anything generated."""

import json
from typing import Any

from answer_strategies import InvalidCase
from template_facts import TRANSPORTS

PULSAR = TRANSPORTS["pulsar"]

VALID: list[dict[str, Any]] = [
    # Fields named like the builtins the annotations use (`str: str` broke the class body), the
    # ambiguous `l` (ruff E741); a float default of 1e16 (rendered 1e+16, which ruff rewrites),
    # an int default of a float field that no float holds exactly; a choice list too long for
    # one line (its Literal came out empty); a 30-character leak-probe field (line too long).
    {
        "destination_name": "Regression Names",
        "transport": "custom",
        "credential_fields": [
            {"name": "a" * 30, "type": "str"},
            {"name": "str", "type": "str"},
            {"name": "int", "type": "int", "required": True},
            {"name": "l", "type": "float", "default": 1e16},
            {"name": "s" * 30, "type": "secret"},
        ],
        "init_fields": [
            {"name": "float", "type": "float", "default": 2**53 + 1},
            {"name": "list", "type": "list"},
            {"name": "bool", "type": "bool", "default": True},
            {"name": "dict", "type": "dict"},
            {"name": "x1", "type": "choice", "choices": ["a" * 45, "b" * 45]},
        ],
    },
    # Text: a carriage return in a default (it ended the Python line), Markdown and table syntax
    # and blanks at the ends of a description, backticks and pipes in a default, a URL default
    # of an init field (an AnyUrl on the model, a str in the registered init).
    {
        "destination_name": "Regression *Text* #",
        "transport": "custom",
        "description": "Line one\nline two with `code` and a | pipe.",
        "credential_fields": [],
        "init_fields": [
            {
                "name": "notes",
                "type": "str",
                "default": "carriage\rreturn\x00\x7f",
                "description": " |pipe| `tick` *star* _u_ <br> &amp; \\| ~~x~~ [a](b) # \n\t",
                "label": "Notes | *all* of them",
            },
            {"name": "endpoint", "type": "url", "default": "https://example.com/api"},
            {"name": "code", "type": "str", "default": "a`b``c|d\\|e"},
        ],
    },
    # Class prefixes of the longest allowed length (lines of the rendered tests overflowed).
    {
        "destination_name": "Regression Long Prefix",
        "transport": "custom",
        "class_prefix": "L" + "o" * 39,
        "credential_fields": [],
        "init_fields": [],
    },
    {
        "destination_name": "Regression Long Prefix Fields",
        "transport": "custom",
        "class_prefix": "F" + "o" * 39,
        "credential_fields": [
            {"name": "account", "type": "str", "required": True},
            {"name": "token", "type": "secret", "required": True},
        ],
        "init_fields": [{"name": "mode", "type": "choice", "choices": ["a", "b"]}],
    },
    # A Pulsar module name that sorts before destination_interface (imports out of order).
    {
        "destination_name": "Apache Bookkeeper",
        "transport": "pulsar",
        "credential_fields": PULSAR["credential_fields"],
        "init_fields": PULSAR["init_fields"],
    },
    # A description opening a code fence (it swallowed the rest of the manual) or a list.
    {
        "destination_name": "Regression Fence",
        "transport": "custom",
        "description": "```\n- not a list",
        "credential_fields": [],
        "init_fields": [{"name": "a", "type": "str", "description": "1. not a list either"}],
    },
    # Choices that were refused as not "plain" (issue 10): non-ASCII, spaces, parentheses,
    # slashes, quotes, a backslash, Jinja and Markdown, wide characters, 60 columns exactly.
    {
        "destination_name": "Regression Choices",
        "transport": "custom",
        "credential_fields": [
            {"name": "region", "type": "choice", "choices": ["EU (Frankfurt)", "Zürich", "ü"]},
        ],
        "init_fields": [
            {
                "name": "mode",
                "type": "choice",
                "choices": [
                    'say "hi"',
                    "it's",
                    "a\\b",
                    "{{ x }}",
                    "a|b",
                    "東京",
                    "x" * 60,
                    "日" * 30,
                ],
                "default": "東京",
                "required": True,
            },
        ],
    },
    # An organisation prefix before a number: the module name was "360".
    {
        "destination_name": "AWS 360",
        "transport": "custom",
        "credential_fields": [],
        "init_fields": [{"name": "region", "type": "str", "required": True}],
    },
]


def _init_fields_case(kind: str, fields: list[dict[str, Any]], expected: str) -> InvalidCase:
    answers = {
        "destination_name": "Broken Fields",
        "transport": "custom",
        "credential_fields": [],
        "init_fields": fields,
    }
    return InvalidCase(kind, answers, expected, "init_fields")


def _pulsar_case(kind: str, name: str, change: dict[str, Any], expected: str) -> InvalidCase:
    fields = [
        {**spec, **change} if spec["name"] == name else spec for spec in PULSAR["init_fields"]
    ]
    fields = [{key: value for key, value in spec.items() if value is not None} for spec in fields]
    answers = {"destination_name": "Broken Pulsar", "transport": "pulsar", "init_fields": fields}
    return InvalidCase(kind, answers, expected, "init_fields")


# Answers the validators used to let through, and that rendered broken code or lost text.
INVALID: list[InvalidCase] = [
    _init_fields_case(
        "float default not finite",
        [{"name": "ratio", "type": "float", "default": float("nan")}],
        "default NaN is not a finite float",
    ),
    _init_fields_case(
        "float default beyond a float",
        [{"name": "ratio", "type": "float", "default": 10**400}],
        "is not a finite float",
    ),
    _init_fields_case(
        "URL with an impossible port",
        [{"name": "endpoint", "type": "url", "default": "http://example.com:99999"}],
        'default "http://example.com:99999" is not a URL',
    ),
    _init_fields_case(
        "URL whose host ends in a number",
        [{"name": "endpoint", "type": "url", "default": "http://example.1"}],
        'default "http://example.1" is not a URL',
    ),
    _init_fields_case(
        "choice alias clash",
        [
            {"name": "x_1", "type": "choice", "choices": ["a"]},
            {"name": "x1", "type": "choice", "choices": ["b"]},
        ],
        'name "x1" gives the same Literal alias X1Choice as the choice field "x_1"',
    ),
    _init_fields_case(
        "default holding U+0085",
        [{"name": "notes", "type": "str", "default": "next\x85line"}],
        f"default {json.dumps('next' + chr(0x85) + 'line')} holds U+0085",
    ),
    _init_fields_case(
        "C1 control in a description",
        [{"name": "notes", "type": "str", "description": "csi\x9b"}],
        f"description {json.dumps('csi' + chr(0x9B))} must be text without control characters",
    ),
    _pulsar_case(
        "pulsar field without its default",
        "batching_enabled",
        {"default": None},
        'the pulsar transport needs the field "batching_enabled" to have a default',
    ),
    _pulsar_case(
        "pulsar choice it does not know",
        "compression",
        {"choices": ["none", "lz4", "gzip"]},
        'the pulsar transport needs the field "compression" to offer only choices it knows',
    ),
]

# Answers the CLI test wrote into its data file in a way that changed them.
INVALID_CLI: list[InvalidCase] = [
    # PyYAML wrote U+0085 raw and read it back as a space: a valid name, and copier went on.
    InvalidCase(
        "forbidden character",
        {"destination_name": "X\x85Destination IX", "transport": "custom"},
        f"destination name {json.dumps('X' + chr(0x85) + 'Destination IX')} contains",
        "destination_name",
    ),
]
