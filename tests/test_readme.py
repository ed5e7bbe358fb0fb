"""The README's tables of field types and transports are the tables of copier.yml: each is
generated from its table here, and the README must hold exactly that."""

import re
from collections.abc import Callable

import pytest
from rendering import REPO_ROOT
from template_facts import FIELD_TYPES, TRANSPORTS

README = REPO_ROOT / "README.md"


def code(text: str) -> str:
    return f"`{text}`" if text else ""


def cell(text: str) -> str:
    return f" {text} |" if text else " |"


def field_types_table() -> str:
    lines = [
        "| type | annotation | imported from | form component | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in FIELD_TYPES.items():
        annotation = row["annotation"] + ("[…]" if row.get("choices") else "")
        cells = [code(name), code(annotation), code(row.get("import", "")), code(row["component"])]
        lines.append("|" + "".join(cell(text) for text in [*cells, row.get("notes", "")]))
    return "\n".join(lines)


def transports_table() -> str:
    lines = [
        "| transport | what it is | fields it reads | needs |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in TRANSPORTS.items():
        groups = [
            ", ".join(code(spec["name"]) for spec in entry[key])
            for key in ("credential_fields", "init_fields")
            if entry[key]
        ]
        dependency = entry.get("dependency")
        needs = f"{code(dependency['pip'])} {dependency['supported']}" if dependency else ""
        cells = [code(name), entry["title"], "; ".join(groups) or "none", needs]
        lines.append("|" + "".join(cell(text) for text in cells))
    return "\n".join(lines)


def readme_block(name: str) -> str:
    match = re.search(rf"<!-- {name}: [^\n]*-->\n(.*?)\n<!-- /{name} -->", README.read_text(), re.S)
    assert match, f"README.md has no generated {name} block"
    return match.group(1)


@pytest.mark.parametrize(
    ("name", "table"),
    [("field-types", field_types_table), ("transports", transports_table)],
    ids=["field-types", "transports"],
)
def test_readme_table_is_the_copier_yml_table(name: str, table: Callable[[], str]) -> None:
    expected = table()
    assert readme_block(name) == expected, f"put this into README.md's {name} block:\n{expected}"
