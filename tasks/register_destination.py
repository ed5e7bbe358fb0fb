"""Register a rendered destination's resource type in a Tracardi checkout.

    python register_destination.py CHECKOUT MODULE_NAME

Adds two lines to tracardi/service/setup/setup_resources.py: the import of <MODULE>_RESOURCE
from tracardi/service/setup/destinations/<module>_resource.py, after the last import, and
<MODULE>_RESOURCE as the first element of the `os_resource_types` list in
get_resource_types(). Every other byte stays as it was, and a second run changes nothing.

When the file is missing, is not shaped like that, or already registers the same resource type
id with another entry, it changes nothing and says what to add by hand. It exits 0 in those
cases too (the render before it succeeded), and 2 on bad arguments.
"""

import argparse
import ast
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SETUP_FILE = "tracardi/service/setup/setup_resources.py"
FUNCTION = "get_resource_types"
LIST = "os_resource_types"


class NotRegistered(Exception):
    """Why the file was left as it was."""


@dataclass(frozen=True)
class Destination:
    module_name: str

    @property
    def constant(self) -> str:
        return f"{self.module_name.upper()}_RESOURCE"

    @property
    def module(self) -> str:
        return f"tracardi.service.setup.destinations.{self.module_name}_resource"

    @property
    def import_line(self) -> str:
        return f"from {self.module} import {self.constant}"

    def by_hand(self) -> str:
        """The manual steps, worded as the template's after-copy message words them."""
        return (
            f"Register it with Tracardi: in {SETUP_FILE} add\n"
            f"    {self.import_line}\n"
            f"and put {self.constant} into the `{LIST}` list of {FUNCTION}()."
        )


def keyword_id(node: ast.expr) -> str | None:
    """The `id="..."` of a ResourceSettings(...) call, if `node` is one."""
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "id" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def resource_id(checkout: Path, destination: Destination) -> str:
    """The resource type id the rendered registration module declares."""
    path = checkout / (destination.module.replace(".", "/") + ".py")
    if not path.is_file():
        raise NotRegistered(f"{path} does not exist: render the destination into {checkout} first")
    for node in ast.parse(path.read_bytes()).body:
        if (
            isinstance(node, ast.Assign)
            and [ast.unparse(target) for target in node.targets] == [destination.constant]
            and (found := keyword_id(node.value))
        ):
            return found
    raise NotRegistered(f"{path} has no `{destination.constant} = ResourceSettings(id=...)`")


def resource_list(tree: ast.Module) -> ast.List:
    """The list literal assigned to `os_resource_types` in get_resource_types()."""
    for function in tree.body:
        if isinstance(function, ast.FunctionDef) and function.name == FUNCTION:
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Assign)
                    and [ast.unparse(target) for target in node.targets] == [LIST]
                    and isinstance(node.value, ast.List)
                ):
                    return node.value
    raise NotRegistered(f"it has no `{LIST} = [...]` list literal in {FUNCTION}()")


def is_imported(tree: ast.Module, destination: Destination) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == destination.module
        and any(alias.name == destination.constant and not alias.asname for alias in node.names)
        for node in tree.body
    )


def is_listed(elements: ast.List, destination: Destination) -> bool:
    return any(ast.unparse(element) == destination.constant for element in elements.elts)


def registered(text: str, destination: Destination, type_id: str) -> str | None:
    """`text` with the destination registered; None when it already is."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise NotRegistered(f"it does not parse: {error}") from None
    elements = resource_list(tree)
    add_entry = not is_listed(elements, destination)
    add_import = not is_imported(tree, destination)
    if not (add_entry or add_import):
        return None
    lines = io.StringIO(text, newline="").readlines()
    ending = "\r\n" if "\r\n" in text else "\n"
    insertions: dict[int, str] = {}  # line index -> the line inserted before it
    if add_entry:
        for element in elements.elts:
            if keyword_id(element) == type_id:
                pro = any(keyword.arg == "pro" for keyword in getattr(element, "keywords", []))
                raise NotRegistered(
                    f"line {element.lineno} already registers the resource type id {type_id!r}"
                    + (" (a Tracardi Pro entry)" if pro else "")
                    + "; a second entry with that id would clash. Remove that entry, or render"
                    " the destination with another resource_type"
                )
        opening = lines[elements.lineno - 1].encode()
        after = opening[elements.col_offset + 1 :].strip()
        if opening[elements.col_offset : elements.col_offset + 1] != b"[" or (
            after and not after.startswith(b"#")
        ):
            raise NotRegistered(f"its `{LIST} = [` does not end its line")
        if elements.elts and elements.elts[0].lineno > elements.lineno:
            indent = elements.elts[0].col_offset
        else:
            indent = len(opening) - len(opening.lstrip()) + 4
        insertions[elements.lineno] = f"{' ' * indent}{destination.constant},{ending}"
    if add_import:
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        after_imports = (imports[-1].end_lineno or 0) if imports else 0
        insertions[after_imports] = destination.import_line + ending
    for index in sorted(insertions, reverse=True):
        if index == len(lines) and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += ending
        lines.insert(index, insertions[index])
    result = "".join(lines)
    try:
        check = ast.parse(result)
        landed = is_listed(resource_list(check), destination) and is_imported(check, destination)
    except (SyntaxError, NotRegistered):
        landed = False
    if not landed:
        raise NotRegistered("the edited file would not parse, or not as expected")
    return result


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text.encode())
    os.chmod(out.name, path.stat().st_mode)
    os.replace(out.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="the Tracardi checkout rendered into")
    parser.add_argument("module_name", help="the destination's module_name answer, e.g. pulsar")
    arguments = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", arguments.module_name):
        parser.error(f"module name {arguments.module_name!r} is not snake_case")
    destination = Destination(arguments.module_name)
    path = arguments.checkout / SETUP_FILE
    try:
        type_id = resource_id(arguments.checkout, destination)
        if not path.is_file():
            raise NotRegistered("it does not exist")
        result = registered(path.read_bytes().decode(), destination, type_id)
    except NotRegistered as reason:
        print(
            f"\n!!! {destination.constant} was NOT registered with Tracardi, and {path} was not"
            f" changed: {reason}.\n!!! {destination.by_hand()}\n",
            file=sys.stderr,
        )
        return 0
    if result is None:
        print(f"{destination.constant} is already registered in {path}; nothing changed.")
        return 0
    write_atomically(path, result)
    print(f"Registered {destination.constant} ({type_id!r}) in {path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
