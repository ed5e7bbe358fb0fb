"""What the template itself says about valid answers, read from copier.yml and includes/, so the
property tests follow the template instead of keeping a second copy of its tables."""

import functools
import json
import operator
import re
from dataclasses import dataclass
from typing import Any

import yaml
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from rendering import REPO_ROOT

COPIER_YML: dict[str, Any] = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())


def hidden(name: str) -> Any:
    """The default of a computed (never asked) value of copier.yml."""
    return COPIER_YML[name]["default"]


FIELD_TYPES: dict[str, dict[str, Any]] = hidden("field_types")
# The transports table: each entry's fixed fields, files, texts (docs/adding-a-transport.md).
TRANSPORTS: dict[str, dict[str, Any]] = hidden("transports")
# Transports whose code reads fields of its own, which answers must keep.
WITH_FIXED_FIELDS = sorted(
    name for name, entry in TRANSPORTS.items() if entry["credential_fields"] or entry["init_fields"]
)
# pydantic's names for a number field's bounds (the spec keys ge, gt, le, lt), each with the
# test a value within it passes, and the words the manual says it in; the types that take them.
BOUND_CHECKS = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}
BOUND_WORDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
BOUNDED_TYPES = [name for name, row in FIELD_TYPES.items() if row.get("bounds")]


def bounds_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: spec[key] for key in BOUND_CHECKS if key in spec}


def within_bounds(value: Any, spec: dict[str, Any]) -> bool:
    """Whether `value` keeps every bound `spec` gives."""
    return all(check(value, spec[key]) for key, check in BOUND_CHECKS.items() if key in spec)


def with_transport_bounds(
    specs: list[dict[str, Any]], fixed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The specs with the bounds of the transport's fields of the same names, which hold whether
    or not an answer repeats them."""
    bounds = {spec["name"]: bounds_of(spec) for spec in fixed}
    return [{**spec, **bounds.get(spec.get("name"), {})} for spec in specs]


EXISTING_DESTINATIONS: list[dict[str, str]] = hidden("existing_destinations")
ORGANISATION_PREFIXES: list[str] = hidden("organisation_prefixes")
PYTHON_KEYWORDS: list[str] = hidden("python_keywords")
PYDANTIC_RESERVED_NAMES: list[str] = hidden("pydantic_reserved_names")

SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*")
TAKEN_MODULES = {entry["module"] for entry in EXISTING_DESTINATIONS}
TAKEN_RESOURCE_TYPES = set(hidden("tracardi_resource_types")["open_source"])
TAKEN_CLASS_PREFIXES = {entry["class_prefix"].lower() for entry in EXISTING_DESTINATIONS}


@functools.cache
def _environment() -> SandboxedEnvironment:
    # The extension Copier loads by default: regex_replace and friends.
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(REPO_ROOT)),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
    )


@functools.cache
def _macros() -> Any:
    return _environment().get_template("includes/names.jinja").module


@dataclass(frozen=True)
class DerivedNames:
    resource_type: str
    module_name: str
    class_prefix: str

    def problems(self) -> list[tuple[str, str]]:
        """The questions whose validators refuse these names as defaults, in the order Copier
        asks them, each with how its error names the value (empty when all are accepted)."""
        found = []
        if (
            not KEBAB.fullmatch(self.resource_type)
            or len(self.resource_type) > 60
            or self.resource_type in TAKEN_RESOURCE_TYPES
        ):
            found.append(("resource_type", f"resource type {json.dumps(self.resource_type)}"))
        if (
            not SNAKE.fullmatch(self.module_name)
            or len(self.module_name) > 40
            or self.module_name in PYTHON_KEYWORDS
            or self.module_name in TAKEN_MODULES
        ):
            found.append(("module_name", f"module name {json.dumps(self.module_name)}"))
        if (
            not PASCAL.fullmatch(self.class_prefix)
            or len(self.class_prefix) > 40
            or self.class_prefix.lower() in TAKEN_CLASS_PREFIXES
        ):
            found.append(("class_prefix", f"class prefix {json.dumps(self.class_prefix)}"))
        return found


@functools.cache
def derived_names(destination_name: str) -> DerivedNames:
    """The names Copier offers as defaults for a destination name: the template's own macros."""
    macros = _macros()
    module_name = str(macros.module_stem(destination_name, ORGANISATION_PREFIXES))
    return DerivedNames(
        resource_type=str(macros.kebab(destination_name)),
        module_name=module_name,
        class_prefix=str(macros.pascal(module_name)),
    )


def valid_choice(text: Any) -> bool:
    """What the validator takes as a choice: non-empty printable text, at most 60 columns."""
    return isinstance(text, str) and bool(text) and text.isprintable() and text_width(text) <= 60


@functools.cache
def _width_macros() -> Any:
    return _environment().get_template("includes/text_width.jinja").module


def text_width(text: str) -> int:
    """Columns `text` takes, as the template (and ruff) count them."""
    return int(str(_width_macros().width(text)))


def pascal(snake_name: str) -> str:
    return str(_macros().pascal(snake_name))


def destination_name_problem(name: str) -> str | None:
    """Why the destination_name validator refuses `name` itself, or None."""
    if not name.strip():
        return "empty"
    if name != name.strip():
        return "spaces around"
    if len(name) > 60:
        return "too long"
    if re.search(r'[\x00-\x1f\x7f-\x9f"\\{}]', name):
        return "forbidden character"
    return None


TEMPLATE = REPO_ROOT / "template"


@functools.cache
def runtime_paths(transport: str) -> tuple[str, ...]:
    """The shared files a render of `transport` writes: every template file whose name does not
    hold the module name (the runtime, the shared test checks, the destinations package's
    __init__.py), which every destination of a template version writes with the same bytes."""
    found = []
    for source in sorted(TEMPLATE.rglob("*")):
        relative = source.relative_to(TEMPLATE).as_posix().removesuffix(".jinja")
        if not source.is_file() or "module_name" in relative or "_copier_conf" in relative:
            continue
        rendered = (
            _environment().from_string(relative).render(transport=transport, transports=TRANSPORTS)
        )
        if not rendered.endswith("/"):
            found.append(rendered)
    return tuple(found)


@functools.cache
def _shared_paths() -> frozenset[str]:
    return frozenset(path for transport in TRANSPORTS for path in runtime_paths(transport))


def is_shared(path: str) -> bool:
    """Whether a rendered path belongs to no one destination but to every one of the checkout."""
    return path in _shared_paths()
