"""Hypothesis strategies for answer sets: valid ones (every one must render working code) and
invalid ones (every one must be refused, naming the bad value).

Valid means what the brief of the template promises, not "whatever the validators let through":
snake_case field names of at most 30 characters that are no Python keyword, unique per list;
distinct printable choices; secrets without defaults; URL defaults of the form scheme://host...;
descriptions without control characters but \\n and \\t; single-line labels; destination names
without quotes, backslashes, braces or control characters whose derived names are valid.
"""

import functools
import hashlib
import json
import keyword
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from template_facts import (
    BOUND_CHECKS,
    BOUNDED_TYPES,
    FIELD_TYPES,
    PYTHON_KEYWORDS,
    TAKEN_CLASS_PREFIXES,
    TRANSPORTS,
    WITH_FIXED_FIELDS,
    bounds_of,
    derived_names,
    destination_name_problem,
    pascal,
    valid_choice,
    within_bounds,
)

Spec = dict[str, Any]
Answers = dict[str, Any]

# Control characters: C0, DEL and C1 (Unicode category Cc).
CONTROL_CHARACTERS = [chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)]]
# U+0085 (next line): PyYAML writes it into the answers file as a line break that reads back as
# a space, so no answer may hold it.
NEL = "\x85"

# Text that breaks naive templates: Python quoting, Jinja, Markdown, YAML, odd Unicode.
AWKWARD = [
    '"',
    "'",
    '"""',
    "'''",
    '""',
    "\\",
    "\\\\",
    "\\n",
    "\\x41",
    "\\N{BULLET}",
    "{{ x }}",
    "{{",
    "}}",
    "{% if x %}",
    "{% raw %}",
    "{#",
    "#}",
    "|",
    "\\|",
    "*",
    "**bold**",
    "_",
    "_x_",
    "`",
    "```",
    "<br>",
    "<b>",
    "&amp;",
    "&#32;",
    "&",
    "[a](b)",
    "![i](x)",
    "~~",
    "#",
    "<",
    ">",
    "%s",
    "{0}",
    "$x",
    "Zażółć",
    "gęślą jaźń",
    "Ørsted",
    "✓",
    "\u2013",  # en dash
    "日本語",
    "🎉",
    "\u2028",
    "\u2029",
    "\xa0",
    "\u3000",
    "\u200b",
    "\u202e",
    "\ufeff",
    " ",
    "  ",
    "x",
    "word",
    "- ",
    "1. ",
    "    ",
    "---",
]
MULTILINE = ["\n", "\t", "\n\n", "\t\n", " \n "]
CONTROL = ["\r", "\r\n", "\x00", "\x07", "\x0b", "\x0c", "\x1b[31m", "\x1f", "\x7f", "\x9b"]


def _texts(alphabet: st.SearchStrategy[str], fragments: Sequence[str]) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(fragments), st.text(alphabet, max_size=6))
    return st.lists(pieces, max_size=6).map("".join)


# Unassigned and private-use code points, and the emoji variation selectors and joiner, are left
# out: their width in a line (which decides how ruff lays out rendered code) differs between
# Unicode versions and sequences, and the template's table of widths is one version's.
UNSURE_WIDTH = ["\ufe0e", "\ufe0f", "\u200d"]
ANY_CHARACTER = st.characters(
    exclude_categories=["Cs", "Cn", "Co"], exclude_characters=[NEL, *UNSURE_WIDTH]
)
NO_CONTROL = st.characters(
    exclude_categories=["Cs", "Cn", "Co"], exclude_characters=[*CONTROL_CHARACTERS, *UNSURE_WIDTH]
)

# A str default may hold anything at all.
free_texts = _texts(ANY_CHARACTER, AWKWARD + MULTILINE + CONTROL)
# Descriptions: no control characters but newlines and tabs.
descriptions = _texts(NO_CONTROL, AWKWARD + MULTILINE)
# Labels: one line of text, not blank.
labels = _texts(NO_CONTROL, AWKWARD).filter(lambda text: bool(text.strip()))
# The destination's own description: prose, not blank.
prose = descriptions.filter(lambda text: bool(text.strip()))

# Names Python, pydantic or the rendered code already use for something.
INTERESTING_FIELD_NAMES = [
    "l",
    "o",
    "i",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "type",
    "id",
    "json",
    "copy",
    "schema",
    "validate",
    "construct",
    "model_config",
    "model_fields",
    "model_dump",
    "model_validate_json",
    "fields",
    "self",
    "cls",
    "any",
    "object",
    "print",
    "data",
    "kind",
    "name",
    "value",
    "default",
    "description",
    "required",
    "label",
    "choices",
    "field",
    "alias",
    "literal",
    "annotations",
    "x1",
    "x_1",
    "a",
    "topic",
    "host",
    "token",
    "a" * 30,
    "a_" + "b" * 28,
]
field_names = st.one_of(
    st.sampled_from(INTERESTING_FIELD_NAMES),
    st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,4}){0,3}", fullmatch=True),
).filter(lambda name: name not in PYTHON_KEYWORDS and len(name) <= 30)

# Any non-empty printable text at most 60 columns wide is a choice.
choice_values = st.one_of(
    st.sampled_from(
        [
            "none",
            "lz4",
            "a",
            "A b",
            "x-1",
            "a_b",
            "a:b/c+d@e=f",
            "a ",
            " a",
            "1",
            "a.b",
            "a _b_",
            "ü",
            "Zürich",
            "EU (Frankfurt)",
            "eu/west",
            'say "hi"',
            "it's",
            "\\",
            "{{ x }}",
            "a|b",
            "`x`",
            "日本語",
            "🎉",
            "-x",
            "x" * 60,
            "日" * 30,
        ]
    ),
    st.text(NO_CONTROL, min_size=1, max_size=12).filter(valid_choice),
)

# URLs: scheme://[user[:password]@]host[:port][path, query or fragment]; host a name whose last
# label starts with a letter, or a dotted-quad IPv4 address.
_host_label = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
_last_label = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)
_domain = st.builds(
    lambda labels, last: ".".join([*labels, last]), st.lists(_host_label, max_size=3), _last_label
).filter(lambda host: not any(label.lower().startswith("xn--") for label in host.split(".")))
_ipv4 = st.lists(st.integers(0, 255), min_size=4, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
_url_tail = st.one_of(
    st.just(""),
    st.builds(
        str.__add__,
        st.sampled_from("/?#"),
        st.text(st.characters(exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"]), max_size=12),
    ),
)


def urls(
    schemes: st.SearchStrategy[str] | None = None, most_hosts: int = 1
) -> st.SearchStrategy[str]:
    """URLs the url type takes; with most_hosts > 1, what multi_host_url takes."""
    schemes = (
        schemes
        if schemes is not None
        else st.one_of(
            st.sampled_from(["http", "https", "pulsar", "pulsar+ssl", "ws", "wss", "ftp", "foo"]),
            st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,6}", fullmatch=True),
        )
    )
    userinfo = st.one_of(
        st.just(""), st.from_regex(r"[A-Za-z0-9._~-]{1,6}(:[A-Za-z0-9._~-]{0,6})?@", fullmatch=True)
    )
    port = st.one_of(st.just(""), st.integers(0, 65535).map(lambda number: f":{number}"))
    host_and_port = st.builds(str.__add__, st.one_of(_domain, _ipv4, st.just("localhost")), port)
    return st.builds(
        lambda scheme, user, hosts, tail: f"{scheme}://{user}{','.join(hosts)}{tail}",
        schemes,
        userinfo,
        st.lists(host_and_port, min_size=1, max_size=most_hosts),
        _url_tail,
    )


def multi_host_urls(schemes: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    return urls(schemes, most_hosts=3)


FLOAT_LIMIT = 1.7976931348623157e308


def defaults_for(field_type: str, choices: list[str] | None = None) -> st.SearchStrategy[Any]:
    """A default of the right type for a field of `field_type`: varied for the types below, the
    row's own sample for any other (so a new row works here before it gets a strategy)."""
    # Any character but NEL, which no answer may hold (see NEL above).
    strings = st.one_of(
        free_texts,
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters=[NEL]), max_size=3),
    )
    by_type: dict[str, st.SearchStrategy[Any]] = {
        "str": strings,
        "int": st.one_of(st.integers(-1000, 1000), st.integers(), st.just(2**63)),
        "float": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, -0.0, 1e16, 1e-7, 2.5, FLOAT_LIMIT, 5e-324]),
            st.integers(-(2**60), 2**60),
            st.just(2**53 + 1),
        ),
        "bool": st.booleans(),
        "url": urls(),
        "multi_host_url": multi_host_urls(),
        "list": st.lists(strings, max_size=3),
        "dict": st.dictionaries(strings, strings, max_size=3),
    }
    if FIELD_TYPES[field_type].get("choices"):
        return st.sampled_from(choices or ["unused"])
    return by_type.get(field_type, st.just(FIELD_TYPES[field_type]["sample"]))


@st.composite
def bounds_for(draw: st.DrawFn, default: Any) -> Spec:
    """Bounds (none, a lower, an upper, or both) that keep `default` within them; around a
    number of their own when there is no default, each at least 1 from it."""
    centre = default if default is not None else draw(st.integers(-1000, 1000))
    bounds: Spec = {}
    lower, upper = (
        draw(st.sampled_from([None, "ge", "gt"])),
        draw(st.sampled_from([None, "le", "lt"])),
    )
    if lower:
        bounds[lower] = centre - draw(st.integers(0 if lower == "ge" else 1, 50))
    if upper:
        bounds[upper] = centre + draw(st.integers(0 if upper == "le" else 1, 50))
    # Past 2**53 floats are not every integer (centre - 1 may be centre, and pydantic compares a
    # float field with its bound as a float): no bounds then.
    exact = all(abs(bound) <= 2**53 for bound in bounds.values())
    if not exact or not within_bounds(centre, bounds):
        return {}
    return bounds


@st.composite
def field_specs(draw: st.DrawFn, name: str | None = None, field_type: str | None = None) -> Spec:
    """One valid field spec; keys that may be left out are left out at random."""
    field_type = field_type or draw(st.sampled_from(sorted(FIELD_TYPES)))
    spec: Spec = {"name": name or draw(field_names), "type": field_type}
    choices = None
    if FIELD_TYPES[field_type].get("choices"):
        choices = draw(st.lists(choice_values, min_size=1, max_size=5, unique=True))
        spec["choices"] = choices
    required = draw(st.sampled_from([None, True, False]))
    if required is not None:
        spec["required"] = required
    if "no_default" not in FIELD_TYPES[field_type] and draw(st.booleans()):
        spec["default"] = draw(defaults_for(field_type, choices))
    elif draw(st.integers(0, 5)) == 0:
        spec["default"] = None  # a YAML null: the same as no default
    if field_type in BOUNDED_TYPES and draw(st.booleans()):
        spec.update(draw(bounds_for(spec.get("default"))))
    if draw(st.integers(0, 3)) > 0:
        spec["description"] = draw(descriptions)
    if draw(st.booleans()):
        spec["label"] = draw(labels)
    return spec


def choice_aliases(fields: Sequence[Spec]) -> set[str]:
    return {pascal(spec["name"]) for spec in fields if spec.get("type") == "choice"}


def without_alias_clashes(fields: list[Spec], earlier: Sequence[Spec] = ()) -> list[Spec]:
    """Drop choice fields whose Literal alias another choice field already has."""
    taken = choice_aliases(earlier)
    kept = []
    for spec in fields:
        if spec["type"] == "choice":
            alias = pascal(spec["name"])
            if alias in taken:
                continue
            taken.add(alias)
        kept.append(spec)
    return kept


def field_lists(earlier: Sequence[Spec] = (), max_size: int = 7) -> st.SearchStrategy[list[Spec]]:
    return st.lists(field_specs(), max_size=max_size, unique_by=lambda spec: spec["name"]).map(
        lambda fields: without_alias_clashes(fields, earlier)
    )


@st.composite
def transport_field_lists(
    draw: st.DrawFn, fixed: Sequence[Spec], earlier: Sequence[Spec] = ()
) -> list[Spec]:
    """The fields a transport reads, with their defaults, descriptions, labels and choices
    varied as the user may, and a few fields of the user's own in between."""
    fields = []
    for needed in fixed:
        spec: Spec = {"name": needed["name"], "type": needed["type"]}
        if "required" in needed or draw(st.booleans()):
            spec["required"] = needed.get("required", False)
        choices = None
        if needed["type"] == "choice":
            choices = [
                choice for choice in needed["choices"] if draw(st.integers(0, 3)) > 0
            ] or needed["choices"][:1]
            spec["choices"] = choices
        if needed.get("default") is not None:
            # URLs keep the scheme the transport's default has.
            scheme = st.just(str(needed["default"]).split("://")[0])
            url_strategies = {"url": urls, "multi_host_url": multi_host_urls}
            values = (
                url_strategies[needed["type"]](scheme)
                if needed["type"] in url_strategies
                else defaults_for(needed["type"], choices)
            )
            if needed["type"] != "choice":
                values = st.one_of(values, st.just(needed["default"]))
            spec["default"] = draw(values.filter(functools.partial(within_bounds, spec=needed)))
        elif needed["type"] == "str" and draw(st.booleans()):
            spec["default"] = draw(defaults_for("str"))
        # The transport's bounds hold either way; an answer may repeat them.
        if draw(st.booleans()):
            spec.update(bounds_of(needed))
        if "description" in needed and draw(st.booleans()):
            spec["description"] = needed["description"]
        elif draw(st.booleans()):
            spec["description"] = draw(descriptions)
        if "label" in needed and draw(st.booleans()):
            spec["label"] = needed["label"]
        elif draw(st.booleans()):
            spec["label"] = draw(labels)
        fields.append(spec)
    fixed_names = {spec["name"] for spec in fixed}
    extras = draw(
        st.lists(
            field_specs(),
            max_size=3,
            unique_by=lambda spec: spec["name"],
        ).map(lambda specs: [spec for spec in specs if spec["name"] not in fixed_names])
    )
    for extra in extras:
        fields.insert(draw(st.integers(0, len(fields))), extra)
    return without_alias_clashes(fields, earlier)


NAME_WORDS = [
    "Destination I",
    "Destination Interface",
    "AWS 360",
    "Apache",
    "Amazon",
    "AWS",
    "Azure",
    "Google",
    "Kafka",
    "Pub/Sub",
    "SQS",
    "360dialog",
    "my-CRM_export",
    "v2",
    "(EU)",
    "Zażółć",
    "Édition",
    "Ørsted",
    "日本",
    "Ω",
    "C++",
    "#1",
    "*star*",
    "a|b",
    "<tag>",
    "&amp;",
    "`tick`",
    "Sink",
    "Hub",
    "Data",
    "Str",
    "Json",
    "Model Config",
    "It's",
    "🎉",
    "x",
    "\u2028",
    "Ǆemal",
]
_name_words = st.one_of(
    st.sampled_from(NAME_WORDS),
    st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=9),
    st.text(
        st.characters(
            exclude_characters=[*CONTROL_CHARACTERS, '"', "\\", "{", "}"], exclude_categories=["Cs"]
        ),
        min_size=1,
        max_size=4,
    ),
)
raw_destination_names = st.lists(_name_words, min_size=1, max_size=5).map(" ".join)


def valid_destination_name(name: str) -> bool:
    return destination_name_problem(name) is None and not derived_names(name).problems()


destination_names = raw_destination_names.filter(valid_destination_name)

tags = st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_ .-]{0,10}", fullmatch=True), max_size=4)
icons = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


def class_prefixes(longest: int) -> st.SearchStrategy[str]:
    """Explicit class prefixes, long ones above all, that clash with nothing of Tracardi's."""
    return st.from_regex(rf"[A-Z][A-Za-z0-9]{{12,{longest - 1}}}", fullmatch=True).filter(
        lambda prefix: prefix.lower() not in TAKEN_CLASS_PREFIXES
    )


def _content_tag(*parts: Any) -> str:
    """A short word that changes with the content: a letter and five base-36 digits."""
    digest = int(hashlib.blake2s(repr(parts).encode()).hexdigest(), 16)
    digits = ""
    for _ in range(5):
        digest, digit = divmod(digest, 36)
        digits += string.digits[digit] if digit < 10 else string.ascii_lowercase[digit - 10]
    return "t" + digits


# Room for the content tag: " t12345" in the name, "_t12345" and "-t12345" in derived names.
tagged_base_names = raw_destination_names.filter(
    lambda name: (
        len(name) <= 53
        and destination_name_problem(name) is None
        and len(derived_names(name).module_name) <= 33
        and len(derived_names(name).resource_type) <= 53
    )
)


@st.composite
def valid_answer_sets(draw: st.DrawFn) -> Answers:
    """A complete answer set Copier must accept and render into working code.

    Most destination names end in a word made from the rest of the answers, so answer sets that
    Hypothesis derives from one another still get distinct module names and can share one
    checkout; the rest keep the generated name as it is.
    """
    # Transports without fixed fields most often: their fields are the widest to vary.
    transport = draw(st.one_of(st.sampled_from(sorted(TRANSPORTS)), st.just("custom")))
    tagged = draw(st.integers(0, 3)) > 0
    name = draw(tagged_base_names if tagged else destination_names)
    answers: Answers = {"destination_name": name, "transport": transport}
    if draw(st.integers(0, 4)) == 0:
        answers["class_prefix"] = draw(class_prefixes(40))
    else:
        assume(len(derived_names(name).class_prefix) + (6 if tagged else 0) <= 40)
    if draw(st.booleans()):
        answers["description"] = draw(prose)
    if draw(st.integers(0, 3)) == 0:
        answers["tags"] = draw(tags)
    if draw(st.integers(0, 3)) == 0:
        answers["icon"] = draw(icons)
    entry = TRANSPORTS[transport]
    if transport in WITH_FIXED_FIELDS:
        credential_fields = draw(transport_field_lists(entry["credential_fields"]))
        init_fields = draw(transport_field_lists(entry["init_fields"], credential_fields))
    else:
        credential_fields = draw(field_lists(max_size=5))
        init_fields = draw(field_lists(credential_fields))
    answers["credential_fields"] = credential_fields
    answers["init_fields"] = init_fields
    if tagged:
        answers["destination_name"] = f"{name} {_content_tag(sorted(answers.items()))}"
        assume(valid_destination_name(answers["destination_name"]))
    return answers


# ---------------------------------------------------------------------------------------------
# Invalid answers: a valid answer set with one thing broken, and what the error must say.
# ---------------------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """A value as Copier's to_json filter writes it into an error message."""
    return json.dumps(value)


@dataclass(frozen=True)
class InvalidCase:
    """Answers Copier must refuse; `expected` is text the error must contain."""

    kind: str
    answers: Answers
    expected: str
    # The question whose validator refuses the answers, and the question a person types the
    # bad answer into (they differ when a typed destination name derives a bad default).
    question: str
    typed_question: str = ""
    typed: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.typed_question:
            object.__setattr__(self, "typed_question", self.question)
            object.__setattr__(self, "typed", self.answers[self.question])


CUSTOM_BASE_FIELDS = st.lists(
    field_specs(), min_size=1, max_size=3, unique_by=lambda spec: spec["name"]
).map(without_alias_clashes)

BAD_FIELD_NAMES: list[Any] = [
    "Topic",
    "9lives",
    "a-b",
    "a__b",
    "topic_",
    "_topic",
    "",
    "a b",
    "zażółć",
    "a.b",
    "ID",
    12,
    None,
    ["a"],
    True,
]
UNKNOWN_TYPES: list[Any] = ["text", "string", "integer", "Str", "", None, 5, "secret ", "list[str]"]
NOT_BOOLEANS: list[Any] = ["yes", "true", 1, 0, None, "no", [True]]
VALUES_BY_YAML_TYPE: dict[str, Any] = {
    "str": "five",
    "int": 5,
    "float": 2.5,
    "bool": True,
    "list": ["x"],
    "dict": {"k": "v"},
}
NOT_URLS = [
    "localhost",
    "http://",
    "http//example.com",
    "://example.com",
    "http://exa mple.com",
    "http://a:99999",
    "http://a:port",
    "http://[x",
    "http://a.1",
    "http://1.2.3.4.5",
    "http://xn--a",
    "http://a^b",
    "http://%",
    "http://é.com",
    "http://@",
    "example.com/path",
    "1http://a",
    "pulsar://a:6650,",
    "pulsar://a:6650,,b:6650",
    "pulsar://a,b c",
]
BAD_CHOICES = [
    "",
    "a\nb",
    "tab\t",
    "nul\x00",
    "line\u2028sep",
    "no\xa0break",
    "soft\xadhyphen",
    "\x9b",
]
TOO_WIDE_CHOICES = ["x" * 61, "日" * 31, "Zürich " * 9]
BAD_LABELS: list[Any] = ["A\nB", "", "  ", 5, "tab\there", "bell\x07", ["x"], "cr\r", "c1\x9b"]
BAD_DESCRIPTIONS: list[Any] = [
    "bell\x07",
    "nul\x00",
    "cr\rlf",
    5,
    ["x"],
    {"a": "b"},
    "esc\x1b[0m",
    "next\x85line",
    "\x9b",
]
NON_FINITE = [float("nan"), float("inf"), float("-inf"), 10**400, -(10**309)]


def _field_case(
    kind: str, fields_key: str, fields: Any, expected: str, other: list[Spec] | None = None
) -> InvalidCase:
    answers: Answers = {"destination_name": "Broken Fields", "transport": "custom"}
    other_key = "init_fields" if fields_key == "credential_fields" else "credential_fields"
    answers[fields_key] = fields
    answers[other_key] = other or []
    return InvalidCase(kind, answers, expected, fields_key)


@st.composite
def invalid_field_cases(draw: st.DrawFn) -> InvalidCase:
    """A list of valid field specs with exactly one problem in one of them."""
    fields: list[Any] = [dict(spec) for spec in draw(CUSTOM_BASE_FIELDS)]
    fields_key = draw(st.sampled_from(["credential_fields", "init_fields"]))
    index = draw(st.integers(0, len(fields) - 1))
    spec = fields[index]
    name = spec["name"]
    kind = draw(
        st.sampled_from(
            [
                "bad name",
                "long name",
                "keyword name",
                "duplicate name",
                "unknown type",
                "required not boolean",
                "default of the wrong type",
                "secret with a default",
                "url default not a URL",
                "float default not finite",
                "choice without choices",
                "empty choices",
                "repeated choice",
                "odd choice",
                "too wide choice",
                "choice default not a choice",
                "choices on another type",
                "bounds on another type",
                "bound not a number",
                "two lower bounds",
                "bounds leaving nothing",
                "default outside its bounds",
                "unknown key",
                "bad label",
                "bad description",
                "list item not a string",
                "dict value not a string",
                "default holding U+0085",
                "choice alias clash",
                "choice in both lists",
                "not a mapping",
                "not a list",
            ]
        )
    )

    def case(expected: str) -> InvalidCase:
        return _field_case(kind, fields_key, fields, expected)

    if kind == "bad name":
        spec["name"] = bad = draw(st.sampled_from(BAD_FIELD_NAMES))
        return case(f"name {to_json(bad)} is not a snake_case identifier")
    if kind == "long name":
        spec["name"] = bad = draw(st.from_regex(r"[a-z][a-z0-9]{30,40}", fullmatch=True))
        return case(f"name {to_json(bad)} is longer than 30 characters")
    if kind == "keyword name":
        spec["name"] = bad = draw(st.sampled_from([k for k in keyword.kwlist if k.islower()]))
        return case(f"name {to_json(bad)} is a Python keyword")
    if kind == "duplicate name":
        duplicate = draw(field_specs(name=name))
        fields.insert(draw(st.integers(index + 1, len(fields))), duplicate)
        return case(f"name {to_json(name)} is used twice in {fields_key}")
    if kind == "unknown type":
        spec["type"] = bad = draw(st.sampled_from(UNKNOWN_TYPES))
        return case(f"unknown type {to_json(bad)}")
    if kind == "required not boolean":
        spec["required"] = bad = draw(st.sampled_from(NOT_BOOLEANS))
        return case(f"required must be true or false, got {to_json(bad)}")
    if kind == "default of the wrong type":
        field_type = draw(st.sampled_from(sorted(set(FIELD_TYPES) - {"secret"})))
        allowed = FIELD_TYPES[field_type]["python_types"]
        wrong = [value for key, value in VALUES_BY_YAML_TYPE.items() if key not in allowed]
        fields[index] = spec = {"name": name, "type": field_type}
        if field_type == "choice":
            spec["choices"] = draw(st.lists(choice_values, min_size=1, max_size=3, unique=True))
            # A str that is no choice is refused too, with its own message.
            wrong.append(draw(free_texts.filter(lambda text: text not in spec["choices"])))
        spec["default"] = bad = draw(st.sampled_from(wrong))
        if field_type == "choice" and isinstance(bad, str):
            return case(f"default {to_json(bad)} is not one of the choices")
        return case(f"default {to_json(bad)} is not a {field_type}")
    if kind == "secret with a default":
        bad = draw(st.one_of(free_texts, st.sampled_from(list(VALUES_BY_YAML_TYPE.values()))))
        fields[index] = {"name": name, "type": "secret", "default": bad}
        return case(f"a secret field takes no default (got {to_json(bad)})")
    if kind == "url default not a URL":
        bad = draw(st.sampled_from(NOT_URLS))
        url_type = draw(st.sampled_from(["url", "multi_host_url"]))
        fields[index] = {"name": name, "type": url_type, "default": bad}
        return case(f"default {to_json(bad)} is not a URL")
    if kind == "float default not finite":
        bad = draw(st.sampled_from(NON_FINITE))
        fields[index] = {"name": name, "type": "float", "default": bad}
        return case(f"default {to_json(bad)} is not a finite float")
    if kind == "choice without choices":
        fields[index] = {"name": name, "type": "choice"}
        return case("a choice field needs a non-empty list of choices, got null")
    if kind == "empty choices":
        bad = draw(st.sampled_from([[], "a, b", {"a": "b"}]))
        fields[index] = {"name": name, "type": "choice", "choices": bad}
        return case(f"a choice field needs a non-empty list of choices, got {to_json(bad)}")
    if kind == "repeated choice":
        choices = draw(st.lists(choice_values, min_size=1, max_size=3, unique=True))
        bad = [*choices, draw(st.sampled_from(choices))]
        fields[index] = {"name": name, "type": "choice", "choices": bad}
        return case(f"choices {to_json(bad)} must be distinct strings")
    if kind == "odd choice":
        choices = draw(st.lists(choice_values, min_size=1, max_size=3, unique=True))
        odd = draw(st.sampled_from(BAD_CHOICES))
        choices.insert(draw(st.integers(0, len(choices))), odd)
        fields[index] = {"name": name, "type": "choice", "choices": choices}
        return case(f"choice {to_json(odd)} is not a value a form can offer")
    if kind == "too wide choice":
        choices = draw(st.lists(choice_values, min_size=1, max_size=3, unique=True))
        wide = draw(st.sampled_from(TOO_WIDE_CHOICES))
        choices.insert(draw(st.integers(0, len(choices))), wide)
        fields[index] = {"name": name, "type": "choice", "choices": choices}
        return case(f"choice {to_json(wide)} is longer than 60 characters")
    if kind == "choice default not a choice":
        choices = draw(st.lists(choice_values, min_size=1, max_size=3, unique=True))
        bad = draw(choice_values.filter(lambda text: text not in choices))
        fields[index] = {"name": name, "type": "choice", "choices": choices, "default": bad}
        return case(f"default {to_json(bad)} is not one of the choices {to_json(choices)}")
    if kind == "choices on another type":
        field_type = draw(st.sampled_from(sorted(set(FIELD_TYPES) - {"choice"})))
        fields[index] = {"name": name, "type": field_type, "choices": ["a"]}
        return case(f"choices only go with type choice, not {field_type}")
    if kind == "bounds on another type":
        unbounded = [
            name
            for name, row in FIELD_TYPES.items()
            if name not in BOUNDED_TYPES and not row.get("choices")
        ]
        field_type = draw(st.sampled_from(unbounded))
        key = draw(st.sampled_from(sorted(BOUND_CHECKS)))
        fields[index] = {"name": name, "type": field_type, key: 1}
        return case(
            f"bounds ({key}) only go with the types {', '.join(BOUNDED_TYPES)}, not {field_type}"
        )
    if kind == "bound not a number":
        field_type = draw(st.sampled_from(BOUNDED_TYPES))
        key = draw(st.sampled_from(sorted(BOUND_CHECKS)))
        not_numbers = ["ten", True, None, [1], *NON_FINITE[:3]] + (
            [1.5] if field_type == "int" else []
        )
        fields[index] = {
            "name": name,
            "type": field_type,
            key: (bad := draw(st.sampled_from(not_numbers))),
        }
        return case(f"{key} {to_json(bad)} is not a bound a {field_type} field takes")
    if kind == "two lower bounds":
        fields[index] = {
            "name": name,
            "type": draw(st.sampled_from(BOUNDED_TYPES)),
            "ge": 1,
            "gt": 0,
        }
        return case("give one lower bound (ge or gt) and one upper bound (le or lt), not both")
    if kind == "bounds leaving nothing":
        field_type = draw(st.sampled_from(BOUNDED_TYPES))
        low = draw(st.integers(-100, 100))
        fields[index] = {
            "name": name,
            "type": field_type,
            "gt": low,
            "lt": low - draw(st.integers(0, 5)),
        }
        return case(f"the bounds leave no {field_type}")
    if kind == "default outside its bounds":
        field_type = draw(st.sampled_from(BOUNDED_TYPES))
        bound = draw(st.integers(-100, 100))
        key = draw(st.sampled_from(sorted(BOUND_CHECKS)))
        bad = {"ge": bound - 1, "gt": bound, "le": bound + 1, "lt": bound}[key]
        fields[index] = {"name": name, "type": field_type, key: bound, "default": bad}
        return case(f"default {to_json(bad)} is outside its bounds")
    if kind == "unknown key":
        key = draw(
            st.sampled_from(["colour", "Name", "optional", "default_value", "help", "choice"])
        )
        spec[key] = 1
        return case(f"unknown key {to_json(key)}")
    if kind == "bad label":
        spec["label"] = bad = draw(st.sampled_from(BAD_LABELS))
        return case(f"label {to_json(bad)} must be a non-empty single line of text")
    if kind == "bad description":
        spec["description"] = bad = draw(st.sampled_from(BAD_DESCRIPTIONS))
        spec.pop("label", None)
        return case(f"description {to_json(bad)} must be text without control characters")
    if kind == "list item not a string":
        bad = [
            *draw(st.lists(st.text(max_size=3), max_size=2)),
            draw(st.sampled_from([1, None, [], {}])),
        ]
        fields[index] = {"name": name, "type": "list", "default": bad}
        return case(f"default {to_json(bad)} must be a list of strings")
    if kind == "dict value not a string":
        bad = {"key": draw(st.sampled_from([1, None, ["x"], True]))}
        fields[index] = {"name": name, "type": "dict", "default": bad}
        return case(f"default {to_json(bad)} must map strings to strings")
    if kind == "default holding U+0085":
        field_type = draw(st.sampled_from(["str", "list", "dict"]))
        text = draw(free_texts)
        text = text[: len(text) // 2] + NEL + text[len(text) // 2 :]
        bad = {"str": text, "list": ["x", text], "dict": {text: "v"}}[field_type]
        fields[index] = {"name": name, "type": field_type, "default": bad}
        return case(f"default {to_json(bad)} holds U+0085 (next line)")
    if kind == "choice alias clash":
        # Two choice fields whose names differ only by an underscore before a digit would both
        # be called the same Literal alias.
        first, second = draw(
            st.sampled_from(
                [("x_1", "x1"), ("a_1_b", "a1_b"), ("port_2", "port2"), ("v2_0", "v20")]
            )
        )
        assert pascal(first) == pascal(second)
        fields = [spec for spec in fields if spec["name"] not in (first, second)]
        one = {"name": first, "type": "choice", "choices": ["a"]}
        other = {"name": second, "type": "choice", "choices": ["b"]}
        pair = draw(st.permutations([one, other]))
        fields += pair
        return _field_case(
            kind,
            fields_key,
            fields,
            f"name {to_json(pair[1]['name'])} gives the same Literal alias",
        )
    if kind == "choice in both lists":
        credential = [{"name": name, "type": "choice", "choices": ["eu"]}]
        fields[index] = {"name": name, "type": "choice", "choices": ["us"]}
        return _field_case(kind, "init_fields", fields, f"name {to_json(name)}", other=credential)
    if kind == "not a mapping":
        fields[index] = bad = draw(st.sampled_from(["topic", 5, ["name", "type"], None]))
        return case(f"must be a mapping with at least name and type, got {to_json(bad)}")
    assert kind == "not a list"
    bad = draw(st.sampled_from(["topic", 5, {"name": "topic", "type": "str"}, True]))
    return _field_case(
        kind, fields_key, bad, f"must be a YAML list of field specs, got {to_json(bad)}"
    )


@st.composite
def invalid_transport_cases(draw: st.DrawFn) -> InvalidCase:
    """A transport without one of the fields it reads, or with it changed."""
    transport = draw(st.sampled_from(WITH_FIXED_FIELDS))
    entry = TRANSPORTS[transport]
    which = draw(
        st.sampled_from([key for key in ("credential_fields", "init_fields") if entry[key]])
    )
    fields = [dict(spec) for spec in entry[which]]
    index = draw(st.integers(0, len(fields) - 1))
    needed = fields[index]
    change = draw(
        st.sampled_from(
            [
                "left out",
                "other type",
                "other required",
                "no default",
                "new choice",
                "other bounds",
                "default outside",
            ]
        )
    )
    # Only the optional fields need their defaults (the transport's code takes them as they
    # are); a required one may lose its default.
    if change == "no default" and (needed.get("default") is None or needed.get("required")):
        change = "left out"
    if change == "new choice" and not FIELD_TYPES[needed["type"]].get("choices"):
        change = "other type"
    if change in ("other bounds", "default outside") and not bounds_of(needed):
        change = "left out"
    expected = f"the {transport} transport needs the field {to_json(needed['name'])}"
    if change == "left out":
        del fields[index]
    elif change == "other type":
        # A type's row may name types an answer still gives in its place (substitutes).
        accepted = {needed["type"], *FIELD_TYPES[needed["type"]].get("substitutes", [])}
        choice_types = {name for name, row in FIELD_TYPES.items() if row.get("choices")}
        other_type = draw(st.sampled_from(sorted(set(FIELD_TYPES) - accepted - choice_types)))
        fields[index] = {"name": needed["name"], "type": other_type}
    elif change == "other required":
        needed["required"] = not needed.get("required", False)
        if "no_default" in FIELD_TYPES[needed["type"]]:
            needed.pop("default", None)
    elif change == "no default":
        del needed["default"]
    elif change == "other bounds":
        key = draw(st.sampled_from(sorted(bounds_of(needed))))
        # Looser than the transport's, so that the default keeps it: the bound itself is refused.
        needed[key] += -1 if key in ("ge", "gt") else 1
        expected += " to keep the bounds"
    elif change == "default outside":
        key, bound = draw(st.sampled_from(sorted(bounds_of(needed).items())))
        needed["default"] = bad = {"ge": bound - 1, "gt": bound, "le": bound + 1, "lt": bound}[key]
        if draw(st.booleans()):
            # Older answers have no bounds of their own: the transport's hold all the same.
            for name in bounds_of(needed):
                del needed[name]
        expected = f"({needed['name']}): default {to_json(bad)} is outside its bounds"
    else:
        unknown = st.sampled_from(["gzip", "brotli", "event_id", "zürich"])
        needed["choices"] = [
            *needed["choices"],
            draw(unknown.filter(lambda c: c not in needed["choices"])),
        ]
    answers: Answers = {
        "destination_name": f"Broken {transport}",
        "transport": transport,
        which: fields,
    }
    return InvalidCase(f"{transport} field {change}", answers, expected, which)


FORBIDDEN_IN_NAMES = ['"', "\\", "{", "}", "\x00", "\x07", "\t", "\n", "\x1b", "\x7f", NEL, "\x9f"]


@st.composite
def invalid_destination_name_cases(draw: st.DrawFn) -> InvalidCase:
    """A destination name refused by its own validator, or one whose derived names are bad."""
    kind = draw(
        st.sampled_from(
            ["forbidden character", "spaces around", "too long", "empty", "bad derived names"]
        )
    )
    base = draw(destination_names)
    if kind == "forbidden character":
        position = draw(st.integers(0, len(base)))
        bad = base[:position] + draw(st.sampled_from(FORBIDDEN_IN_NAMES)) + base[position:]
        bad = bad if bad == bad.strip() else f"X{bad}X"
        expected = f"destination name {to_json(bad)} contains"
    elif kind == "spaces around":
        bad = draw(st.sampled_from([" ", "  ", "\u3000", "\xa0"])) + base
        bad = draw(st.sampled_from([bad, base + " "]))
        expected = f"destination name {to_json(bad)} has leading or trailing spaces"
    elif kind == "too long":
        bad = (
            base
            + " "
            + "x" * max(1, 60 - len(base))
            + draw(st.text(string.ascii_letters, max_size=5))
        )
        expected = f"destination name {to_json(bad)} is longer than 60 characters"
    elif kind == "empty":
        bad = draw(st.sampled_from(["", " ", "\u3000", "  \xa0 "]))
        expected = "the destination name is empty"
    else:
        bad = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "Import",
                        "Apache Class",
                        "Lambda",
                        "Mautic",
                        "Apache HTTP",
                        "Ghost!",
                        "Hub Spot",
                        "Civi CRM",
                        "API",
                        "Civi-CRM",
                        "日本語",
                        "!!!",
                        "Amazon Import",
                        "3" * 55,
                        "Lorem ipsum dolor sit amet consectetur adipiscing",
                        "Google Ghost",
                    ]
                ),
                raw_destination_names.filter(
                    lambda name: (
                        destination_name_problem(name) is None
                        and bool(derived_names(name).problems())
                    )
                ),
            )
        )
        question, expected = derived_names(bad).problems()[0]
        return InvalidCase(
            "bad derived names",
            {"destination_name": bad, "transport": "custom"},
            expected,
            question,
            typed_question="destination_name",
            typed=bad,
        )
    return InvalidCase(
        kind, {"destination_name": bad, "transport": "custom"}, expected, "destination_name"
    )


@st.composite
def invalid_name_answer_cases(draw: st.DrawFn) -> InvalidCase:
    """An explicit module name, class prefix or resource type that is not a valid one."""
    question = draw(st.sampled_from(["module_name", "class_prefix", "resource_type"]))
    module_bad = [
        "Kafka-Sink",
        "class",
        "hubspot",
        "k" * 41,
        "kafka_",
        "1kafka",
        "kafka__sink",
        "Kafka",
        "ünï",
        "",
    ]
    prefix_bad = ["kafka", "Kafka-Sink", "Hubspot", "HUBSPOT", "K" * 41, "Kafka_Sink", "", "Ünï"]
    resource_bad = ["Kafka_Sink", "api", "civi_crm", "kafka--sink", "-kafka", "k" * 61, "", "ünï"]
    values = {"module_name": module_bad, "class_prefix": prefix_bad, "resource_type": resource_bad}
    bad = draw(st.sampled_from(values[question]))
    label = question.replace("_", " ")
    answers: Answers = {"destination_name": "Kafka Sink", "transport": "custom", question: bad}
    return InvalidCase(f"bad {label}", answers, f"{label} {to_json(bad)}", question)


invalid_cases = st.one_of(
    invalid_field_cases(),
    invalid_transport_cases(),
    invalid_destination_name_cases(),
    invalid_name_answer_cases(),
)


def typed_at_prompt(case: InvalidCase) -> bool:
    """Whether a person could type the case's bad answer at the prompt, on one line."""
    if isinstance(case.typed, str):
        return case.typed == case.typed.strip() and case.typed.isprintable() and bool(case.typed)
    return True


def printable_json(value: Any) -> str:
    """A YAML answer as one line of ASCII a person can type (JSON is YAML)."""
    return json.dumps(value)
