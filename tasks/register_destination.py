"""Register a rendered destination's resource type in a Tracardi checkout.

    python register_destination.py CHECKOUT MODULE_NAME

Adds two lines to tracardi/service/setup/setup_resources.py: the import of <MODULE>_RESOURCE
from tracardi/service/setup/destinations/<module>_resource.py, after the last import, and
<MODULE>_RESOURCE as the first element of the `os_resource_types` list in
get_resource_types(). Every other byte stays as it was, and a second run changes nothing.

Tracardi master lists a few Pro resource types as stubs: `destination=DestinationData(
package="com_tracardi...", pro=True)`, whose package open-source Tracardi does not have. A
destination rendered with such an id (apache-pulsar, say) replaces that stub on purpose: the
stub's lines are removed, so the list keeps one entry per id and get_type_of_resources() still
sorts. An open-source entry with the same id is never touched.

Exit status: 0 when the destination is registered (now or before); 1 when the file is missing,
is not shaped like that, or an open-source entry already has the id, in which case nothing is
changed and the steps to do by hand are printed; 2 on bad arguments.
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

    def by_hand(self, replaces: str | None = None) -> str:
        """The manual steps, worded as the template's after-copy message words them; `replaces`
        is the id of a Pro stub the destination takes the place of."""
        steps = (
            f"Register it with Tracardi: in {SETUP_FILE} add\n"
            f"    {self.import_line}\n"
            f"and put {self.constant} into the `{LIST}` list of {FUNCTION}()."
        )
        if replaces:
            steps += (
                f'\nRemove the entry with id="{replaces}" from that list:'
                " it is Tracardi Pro's stub (its package\nis in com_tracardi, which open-source"
                " Tracardi lacks), and"
                f" {self.constant} replaces it."
            )
        return steps


def keyword_id(node: ast.expr) -> str | None:
    """The `id="..."` of a ResourceSettings(...) call, if `node` is one."""
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "id" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def is_pro_stub(node: ast.expr) -> bool:
    """Whether a ResourceSettings(...) call is master's Pro shape: destination=DestinationData(
    ..., pro=True)."""
    if not isinstance(node, ast.Call):
        return False
    for keyword in node.keywords:
        if keyword.arg == "destination" and isinstance(keyword.value, ast.Call):
            return any(
                inner.arg == "pro"
                and isinstance(inner.value, ast.Constant)
                and inner.value.value is True
                for inner in keyword.value.keywords
            )
    return False


def entry_lines(lines: list[str], element: ast.expr) -> range:
    """The whole lines an element of the list occupies, with its trailing comma."""
    first = lines[element.lineno - 1].encode()
    last = lines[(element.end_lineno or element.lineno) - 1].encode()
    after = last[element.end_col_offset or 0 :].strip()
    if (
        first[: element.col_offset].strip()
        or not after.startswith(b",")
        or after[1:].strip()[:1] not in (b"", b"#")
    ):
        raise NotRegistered(
            f"the entry on line {element.lineno} does not stand on lines of its own"
        )
    return range(element.lineno - 1, element.end_lineno or element.lineno)


def pro_stubs(elements: ast.List, type_id: str) -> list[ast.expr]:
    """The Pro stubs with `type_id`; raises when an open-source entry has it."""
    stubs = []
    for element in elements.elts:
        if keyword_id(element) == type_id:
            if not is_pro_stub(element):
                raise NotRegistered(
                    f"line {element.lineno} already registers the resource type id {type_id!r}"
                    " with one of Tracardi's own entries; a second entry with that id would clash."
                    " Render the destination with another resource_type"
                )
            stubs.append(element)
    return stubs


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


def registered(text: str, destination: Destination, type_id: str) -> tuple[str, list[int]] | None:
    """`text` with the destination registered and the line numbers of the Pro stubs it
    replaced; None when it already is registered and no stub is left."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise NotRegistered(f"it does not parse: {error}") from None
    elements = resource_list(tree)
    stubs = pro_stubs(elements, type_id)
    add_entry = not is_listed(elements, destination)
    add_import = not is_imported(tree, destination)
    if not (add_entry or add_import or stubs):
        return None
    lines = io.StringIO(text, newline="").readlines()
    ending = "\r\n" if "\r\n" in text else "\n"
    removed = {index for stub in stubs for index in entry_lines(lines, stub)}
    insertions: dict[int, str] = {}  # line index -> the line inserted before it
    if add_entry:
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
    if len(lines) in insertions and lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += ending
    edited = [
        part
        for index, line in enumerate([*lines, ""])
        for part in (insertions.get(index, ""), "" if index in removed else line)
    ]
    result = "".join(edited)
    try:
        check = ast.parse(result)
        entries = resource_list(check)
        landed = (
            is_listed(entries, destination)
            and is_imported(check, destination)
            and not any(keyword_id(element) == type_id for element in entries.elts)
        )
    except (SyntaxError, NotRegistered):
        landed = False
    if not landed:
        raise NotRegistered("the edited file would not parse, or not as expected")
    return result, [stub.lineno for stub in stubs]


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
    replaces = None
    try:
        type_id = resource_id(arguments.checkout, destination)
        if not path.is_file():
            raise NotRegistered("it does not exist")
        text = path.read_bytes().decode()
        replaces = type_id if stub_in(text, type_id) else None
        result = registered(text, destination, type_id)
    except NotRegistered as reason:
        print(
            f"\n!!! {destination.constant} was NOT registered with Tracardi, and {path} was not"
            f" changed: {reason}.\n!!! {destination.by_hand(replaces)}\n",
            file=sys.stderr,
        )
        return 1
    if result is None:
        print(f"{destination.constant} is already registered in {path}; nothing changed.")
        return 0
    edited, stub_lines = result
    write_atomically(path, edited)
    print(f"Registered {destination.constant} ({type_id!r}) in {path}.")
    for line in stub_lines:
        print(
            f"It replaces the Tracardi Pro stub with id {type_id!r} that was on line {line}: its"
            " package is in com_tracardi, which open-source Tracardi does not have."
        )
    return 0


def stub_in(text: str, type_id: str) -> bool:
    """Whether the file lists a Pro stub with `type_id` (for the manual steps)."""
    try:
        elements = resource_list(ast.parse(text))
    except (SyntaxError, NotRegistered):
        return False
    return any(keyword_id(element) == type_id and is_pro_stub(element) for element in elements.elts)


if __name__ == "__main__":
    sys.exit(main())
