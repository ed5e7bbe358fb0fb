"""In-process checks of one rendered destination against the answers it was rendered from.

The rendered modules are imported from the checkout, so every check is a plain function call:
fast enough for Hypothesis to run on each generated answer set and to shrink a failure. What
needs a subprocess (ruff, mypy, the rendered tests) runs once for many renders instead; see
shared_checkout.py.
"""

import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, TypeAdapter, ValidationError
from template_facts import (
    BOUND_CHECKS,
    BOUND_WORDS,
    FIELD_TYPES,
    TRANSPORTS,
    bounds_of,
    derived_names,
    pascal,
    runtime_paths,
    with_transport_bounds,
    within_bounds,
)

Spec = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# What a field spec promises.
# ---------------------------------------------------------------------------------------------


def required(spec: Spec) -> bool:
    return bool(spec.get("required", False))


def has_default(spec: Spec) -> bool:
    return spec.get("default") is not None


def description(spec: Spec) -> str | None:
    """The description every rendering must show; an empty one is the same as none."""
    return spec.get("description") or None


def label(spec: Spec) -> str:
    return str(spec.get("label", spec["name"].replace("_", " ").capitalize()))


def takes_choices(spec: Spec) -> bool:
    return bool(FIELD_TYPES[spec["type"]].get("choices"))


def sample(spec: Spec) -> Any:
    """A value the field takes: the row's sample, or where the bounds leave it out the default,
    a bound, or a number between them."""
    if takes_choices(spec):
        return spec["choices"][-1]
    value = FIELD_TYPES[spec["type"]]["sample"]
    if within_bounds(value, spec):
        return value
    low, high = spec.get("ge", spec.get("gt")), spec.get("le", spec.get("lt"))
    candidates = [spec.get("default"), low, high]
    candidates += [None if low is None else low + 1, None if high is None else high - 1]
    if low is not None and high is not None:
        middle = (low + high) / 2
        integers_only = "float" not in FIELD_TYPES[spec["type"]]["python_types"]
        candidates.append(int(middle) if integers_only else middle)
    return next(value for value in candidates if value is not None and within_bounds(value, spec))


def beyond_bounds(spec: Spec) -> list[Any]:
    """A value just beyond each of the field's bounds."""
    step = {"ge": -1, "gt": 0, "le": 1, "lt": 0}
    return [bound + step[key] for key, bound in bounds_of(spec).items()]


def bounds_sentence(spec: Spec) -> str:
    """The bounds as the manual says them after the description: "At least 1, at most 10."."""
    parts = [f"{BOUND_WORDS[key]} {json.dumps(bound)}" for key, bound in bounds_of(spec).items()]
    return (", ".join(parts).capitalize() + ".") if parts else ""


def wrong(spec: Spec) -> Any:
    return FIELD_TYPES[spec["type"]]["wrong"]


def rendered_default(spec: Spec) -> Any:
    """The default as the rendered Python holds it: a float field's as a float."""
    return (
        float(spec["default"])
        if FIELD_TYPES[spec["type"]].get("default_as") == "float"
        else spec["default"]
    )


def annotation_type(field_type: str) -> Any:
    """The Python type a row's annotation names, imported from the module the row names."""
    row = FIELD_TYPES[field_type]
    return getattr(importlib.import_module(row["import"]), row["annotation"])


def model_default(spec: Spec) -> Any:
    """The value a model field without a value must take: its default, validated."""
    if not has_default(spec):
        return None
    if FIELD_TYPES[spec["type"]].get("validate_default"):
        return TypeAdapter(annotation_type(spec["type"])).validate_python(spec["default"])
    return rendered_default(spec)


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type all the way down (so 1 is not 1.0, nor -0.0 0.0)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float):
        return repr(actual) == repr(expected)
    if isinstance(expected, dict):
        return list(actual) == list(expected) and all(
            same(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    return bool(actual == expected)


# ---------------------------------------------------------------------------------------------
# The render.
# ---------------------------------------------------------------------------------------------


def rendered_paths(module: str, transport: str) -> list[str]:
    """The files a render of `module` writes for itself, relative to the checkout (the shared
    runtime aside: runtime_paths)."""
    entry = TRANSPORTS[transport]
    paths = [
        f".copier-answers.destination-{module}.yml",
        f"docs/resources/{module}_resource.md",
        f"test/unit/destination/test_{module}_connector.py",
        f"tracardi/process_engine/destination/{module}_connector.py",
        f"tracardi/service/setup/destinations/{module}_resource.py",
        *(path.replace("{module_name}", module) for path in entry.get("files", [])),
    ]
    return sorted(paths)


def module_name_of(answers: dict[str, Any]) -> str:
    """The module name Copier will use for `answers`."""
    explicit = answers.get("module_name")
    return str(explicit) if explicit else derived_names(answers["destination_name"]).module_name


@dataclass(frozen=True)
class Rendered:
    checkout: Path
    answers: dict[str, Any]
    # What the render wrote for itself, relative to the checkout (what every render of the
    # checkout shares aside: template_facts.is_shared).
    files: tuple[Path, ...]

    @property
    def module(self) -> str:
        return module_name_of(self.answers)

    @property
    def transport(self) -> str:
        return str(self.answers["transport"])

    def paths(self) -> list[Path]:
        return [self.checkout / path for path in self.files]

    def python_files(self) -> list[Path]:
        return [path for path in self.paths() if path.suffix == ".py"]

    def recorded(self) -> dict[str, Any]:
        path = self.checkout / f".copier-answers.destination-{self.module}.yml"
        recorded: dict[str, Any] = yaml.safe_load(path.read_text())
        return recorded

    def python_module(self, dotted_suffix: str) -> ModuleType:
        return importlib.import_module(f"tracardi.{dotted_suffix}")

    def connector(self) -> ModuleType:
        return self.python_module(f"process_engine.destination.{self.module}_connector")

    def resource(self) -> ModuleType:
        return self.python_module(f"service.setup.destinations.{self.module}_resource")


@contextmanager
def importable(checkout: Path) -> Iterator[None]:
    """Make the checkout's `tracardi` importable here; forget it all again afterwards."""
    sys.path.insert(0, str(checkout))
    writes_bytecode = sys.dont_write_bytecode
    # Renders of one module name can follow one another within a second: never trust a .pyc.
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = writes_bytecode
        sys.path.remove(str(checkout))
        forget_modules("tracardi")


def forget_modules(prefix: str) -> None:
    for name in [name for name in sys.modules if name == prefix or name.startswith(prefix + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def forget_render(module: str) -> None:
    """Drop a module's rendered files from the import system, so a new render is imported."""
    for suffix in ("connector", "producer", "resource"):
        for package in ("process_engine.destination", "service.setup.destinations"):
            sys.modules.pop(f"tracardi.{package}.{module}_{suffix}", None)
    importlib.invalidate_caches()


# ---------------------------------------------------------------------------------------------
# Checks.
# ---------------------------------------------------------------------------------------------


def check_rendered(rendered: Rendered) -> None:
    """Everything about one render that needs no subprocess."""
    check_files(rendered)
    check_recorded_answers(rendered)
    connector = rendered.connector()
    prefix = rendered.recorded()["class_prefix"]
    credentials_model = getattr(connector, f"{prefix}Credentials")
    configuration_model = getattr(connector, f"{prefix}Configuration")
    entry = TRANSPORTS[rendered.transport]
    credential_fields = with_transport_bounds(
        rendered.answers["credential_fields"], entry["credential_fields"]
    )
    init_fields = with_transport_bounds(rendered.answers["init_fields"], entry["init_fields"])
    check_model(credentials_model, credential_fields)
    check_model(configuration_model, init_fields)
    check_docstring(rendered, connector)
    resource = getattr(rendered.resource(), f"{rendered.module.upper()}_RESOURCE")
    check_resource(rendered, resource, connector, prefix)
    check_resource_config(resource.config, credentials_model, credential_fields)
    check_init(resource.destination.init, configuration_model, init_fields)
    check_form(rendered, resource.destination.form, configuration_model, init_fields)
    check_manual(rendered, credential_fields, init_fields)


def check_files(rendered: Rendered) -> None:
    written = {path.as_posix() for path in rendered.files}
    expected = set(rendered_paths(rendered.module, rendered.transport))
    assert written == expected, (
        f"not written: {sorted(expected - written)}; not expected: {sorted(written - expected)}"
    )
    missing = [
        path
        for path in runtime_paths(rendered.transport)
        if not (rendered.checkout / path).is_file()
    ]
    assert not missing, f"the shared runtime lacks {missing}"
    for name in written:
        assert rendered.module in name, f"{name}: not named after the module"
    for path in rendered.python_files():
        text = path.read_text(encoding="utf-8")
        compile(text, str(path), "exec")
        assert "\r" not in text, f"{path}: a carriage return would end the line for Python"


def check_recorded_answers(rendered: Rendered) -> None:
    """The answers file gives back every answer as given (copier update relies on it), and the
    derived names the template's own derivation gives."""
    recorded = rendered.recorded()
    for key, value in rendered.answers.items():
        assert recorded[key] == value, f"{key} was recorded as {recorded[key]!r}"
    derived = derived_names(rendered.answers["destination_name"])
    assert recorded["resource_type"] == rendered.answers.get("resource_type", derived.resource_type)
    assert recorded["module_name"] == rendered.answers.get("module_name", derived.module_name)
    assert recorded["class_prefix"] == rendered.answers.get(
        "class_prefix", pascal(recorded["module_name"])
    )


def check_model(model: type[BaseModel], specs: Sequence[Spec]) -> None:
    """One model field per spec, in order, that is what the spec says: name or alias, required,
    description, default, bounds; accepting a value of its type and refusing one of the wrong
    type or beyond a bound."""
    items = list(model.model_fields.items())
    names = [spec["name"] for spec in specs]
    assert [info.alias or attribute for attribute, info in items] == names
    for (attribute, info), spec in zip(items, specs, strict=True):
        where = f"{model.__name__}.{spec['name']}"
        assert attribute in (spec["name"], spec["name"] + "_"), where
        assert info.is_required() == required(spec), where
        assert info.description == description(spec), where
        bounds = {
            key: getattr(item, key)
            for item in info.metadata
            for key in BOUND_CHECKS
            if hasattr(item, key)
        }
        assert bounds == bounds_of(spec), where
    # Only the required fields given: every other field takes its default.
    required_values = {spec["name"]: sample(spec) for spec in specs if required(spec)}
    defaults_only = model.model_validate(required_values)
    for (attribute, _), spec in zip(items, specs, strict=True):
        if not required(spec):
            actual = getattr(defaults_only, attribute)
            assert same(actual, model_default(spec)), (spec["name"], actual, spec.get("default"))
    samples = {spec["name"]: sample(spec) for spec in specs}
    model.model_validate(samples)
    for spec in specs:
        for refused in (wrong(spec), *beyond_bounds(spec)):
            try:
                model.model_validate({**samples, spec["name"]: refused})
            except ValidationError as error:
                locations = [problem["loc"][:1] for problem in error.errors()]
                assert (spec["name"],) in locations, (spec["name"], error)
            else:
                raise AssertionError(f"{model.__name__} accepts {refused!r} for {spec['name']}")


def check_docstring(rendered: Rendered, connector: ModuleType) -> None:
    """The module docstring carries the description word for word (lines wrapped anew)."""
    answers = rendered.recorded()
    expected = f"{answers['destination_name']} destination for Tracardi. {answers['description']}"
    assert "".join((connector.__doc__ or "").split()) == "".join(expected.split())


def check_resource(rendered: Rendered, resource: Any, connector: ModuleType, prefix: str) -> None:
    recorded = rendered.recorded()
    assert resource.id == recorded["resource_type"]
    assert resource.name == recorded["destination_name"]
    assert resource.icon == recorded["icon"]
    assert resource.tags == (recorded["tags"] or [])
    assert resource.manual == f"{rendered.module}_resource"
    module_path, _, class_name = resource.destination.package.rpartition(".")
    connector_class = getattr(importlib.import_module(module_path), class_name)
    assert connector_class is getattr(connector, f"{prefix}Connector")


def config_start(spec: Spec) -> Any:
    """What the resource config starts with for a credential field."""
    if has_default(spec):
        return rendered_default(spec)
    if takes_choices(spec):
        return spec["choices"][0]
    placeholder = FIELD_TYPES[spec["type"]]["placeholder"]
    return (
        placeholder.replace("{name}", spec["name"]) if isinstance(placeholder, str) else placeholder
    )


def check_resource_config(
    config: dict[str, Any], model: type[BaseModel], specs: Sequence[Spec]
) -> None:
    """The registered config starts each credential with its default (else a placeholder); with
    the placeholders filled in, the model accepts it and reads the defaults as its own."""
    assert list(config) == [spec["name"] for spec in specs]
    for spec in specs:
        assert same(config[spec["name"]], config_start(spec)), spec["name"]
    check_rendered_defaults(config, model, specs)


def check_init(init: dict[str, Any], model: type[BaseModel], specs: Sequence[Spec]) -> None:
    """The registered init starts each field with its default, else empty; with the required
    ones filled in, the model accepts it and reads the defaults as its own."""
    assert list(init or {}) == [spec["name"] for spec in specs]
    for spec in specs:
        expected = rendered_default(spec) if has_default(spec) else None
        assert same(init[spec["name"]], expected), spec["name"]
    check_rendered_defaults(init or {}, model, specs)


def check_rendered_defaults(
    values: dict[str, Any], model: type[BaseModel], specs: Sequence[Spec]
) -> None:
    # Fields without a default get a sample; those with one get the rendered value, or (left
    # out) the model's default: both must validate to the same.
    others = {spec["name"]: sample(spec) for spec in specs if not has_default(spec)}
    rendered = {spec["name"]: values[spec["name"]] for spec in specs if has_default(spec)}
    required_rendered = {
        name: value for name, value in rendered.items() if required(specs_by_name(specs)[name])
    }
    assert model.model_validate({**others, **rendered}) == model.model_validate(
        {**others, **required_rendered}
    )


def specs_by_name(specs: Sequence[Spec]) -> dict[str, Spec]:
    return {spec["name"]: spec for spec in specs}


def check_form(
    rendered: Rendered, form: Any, model: type[BaseModel], specs: Sequence[Spec]
) -> None:
    """One form field per init field, agreeing with the spec and with the model field."""
    if not specs:
        assert not form
        return
    (group,) = form.groups
    assert group.name == rendered.answers["destination_name"]
    model_fields = {info.alias or name: info for name, info in model.model_fields.items()}
    assert [form_field.id for form_field in group.fields] == [spec["name"] for spec in specs]
    for form_field, spec in zip(group.fields, specs, strict=True):
        model_field = model_fields[spec["name"]]
        assert form_field.name == label(spec), spec["name"]
        assert form_field.description == description(spec) == model_field.description
        assert form_field.required == required(spec) == model_field.is_required()
        assert form_field.component.type == FIELD_TYPES[spec["type"]]["component"]
        props = form_field.component.props
        assert props["label"] == label(spec)
        if takes_choices(spec):
            assert list(props["items"].items()) == [(choice, choice) for choice in spec["choices"]]


# ---------------------------------------------------------------------------------------------
# The manual, read as a Markdown renderer reads it (CommonMark with GFM tables).
# ---------------------------------------------------------------------------------------------

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def plain_text(children: Sequence[Token]) -> str:
    """What a reader sees of inline Markdown that must be plain text: <br> is a line break,
    anything else that is not text is markup the manual let through."""
    parts = []
    for child in children:
        if child.type in ("text", "text_special"):
            parts.append(child.content)
        elif child.type == "html_inline" and child.content == "<br>":
            parts.append("\n")
        else:
            raise AssertionError(f"markup in the manual's text: {child.type} {child.content!r}")
    return "".join(parts)


def manual_sections(text: str) -> tuple[str, str, dict[str, list[list[Token]]]]:
    """The manual's title, its first paragraph, and the body rows (their cells' inline tokens)
    of each section's table."""
    tokens = MARKDOWN.parse(text)
    title = ""
    first_paragraph = None
    section = ""
    tables: dict[str, list[list[Token]]] = {}
    row: list[Token] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            if token.tag == "h1" and not title:
                title = plain_text(inline.children or [])
            else:
                section = inline.content
        elif token.type == "paragraph_open" and first_paragraph is None:
            first_paragraph = plain_text(tokens[index + 1].children or [])
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and tokens[index - 1].type == "td_open":
            row.append(token)
        elif token.type == "tr_close" and row:
            tables.setdefault(section, []).append(row)
    return title, first_paragraph or "", tables


def check_manual(
    rendered: Rendered, credential_fields: Sequence[Spec], init_fields: Sequence[Spec]
) -> None:
    """Names, labels, types, choices, defaults, descriptions and bounds read in the manual
    exactly as they were given."""
    text = (rendered.checkout / f"docs/resources/{rendered.module}_resource.md").read_text()
    title, description, tables = manual_sections(text)
    assert title == rendered.answers["destination_name"]
    assert description == rendered.recorded()["description"]
    for section, specs in (
        ("Credentials", credential_fields),
        ("Destination settings", init_fields),
    ):
        rows = tables.get(section, [])
        assert len(rows) == len(specs), (section, len(rows))
        for row, spec in zip(rows, specs, strict=True):
            check_manual_row([cell.children or [] for cell in row], spec)
    check_what_is_sent(rendered, text)


# The manual's sections written from the transport's entry, by heading, and the key of each.
ENTRY_SECTIONS = {"What is sent": "carries", "What an outage costs a tracked event": "unreachable"}


def check_what_is_sent(rendered: Rendered, text: str) -> None:
    """The manual says what the transport's entry says its messages carry, and what an outage
    costs when the entry says so, names filled in."""
    recorded = rendered.recorded()
    sections = dict(part.split("\n", 1) for part in text.split("\n## ")[1:])
    entry = TRANSPORTS[rendered.transport]
    expected = [heading for heading, key in ENTRY_SECTIONS.items() if key in entry]
    found = [heading for heading in sections if heading in ENTRY_SECTIONS]
    assert found == expected, list(sections)
    for heading in expected:
        written = str(entry[ENTRY_SECTIONS[heading]])
        for placeholder in ("module_name", "class_prefix"):
            written = written.replace("{" + placeholder + "}", recorded[placeholder])
        section = "".join(sections[heading].split())
        if "{destination_name}" in written:
            before, after = written.split("{destination_name}", 1)
            assert "".join(before.split()) in section, section
            assert "".join(after.split()) in section, section
        else:
            assert section == "".join(written.split()), section


def check_manual_row(cells: list[list[Token]], spec: Spec) -> None:
    name_cell, type_cell, required_cell, default_cell, description_cell = cells
    assert name_cell[0].type == "code_inline" and name_cell[0].content == spec["name"]
    assert plain_text(name_cell[1:]) == f" ({label(spec)})", spec["name"]
    if takes_choices(spec):
        assert plain_text(type_cell[:1]) == f"{spec['type']}: "
        shown = [token.content for token in type_cell if token.type == "code_inline"]
        assert shown == spec["choices"]
    else:
        assert plain_text(type_cell) == spec["type"]
    assert plain_text(required_cell) == ("yes" if required(spec) else "no")
    if has_default(spec):
        (code,) = default_cell
        assert code.type == "code_inline"
        assert same(json.loads(code.content), spec["default"]), (code.content, spec["default"])
    else:
        assert not default_cell
    said = " ".join(text for text in (spec.get("description"), bounds_sentence(spec)) if text)
    assert plain_text(description_cell) == said, spec["name"]
