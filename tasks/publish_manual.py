"""Copy a rendered destination's manual page to tracardi-api, which serves it to the GUI.

    python publish_manual.py CHECKOUT MODULE_NAME TRACARDI_API_CHECKOUT [--replace]

Tracardi's GUI shows a resource's manual by fetching /manual/en/docs/resources/<manual>.md,
and tracardi-api serves /manual/en/docs from its own docs/ folder; the Tracardi repository
itself serves no docs. So the page the template renders into CHECKOUT/docs/resources/ is only
seen once it is in TRACARDI_API_CHECKOUT/docs/resources/. The file name comes from the
`manual="..."` the rendered <MODULE>_RESOURCE declares, so the GUI asks for exactly that file.

A page already there with other content (tracardi-api's own, or an older render) is left alone
unless --replace is given. Exit status: 0 when the page is in place (now or before), 1 when
nothing was copied (the reason is printed), 2 on bad arguments.
"""

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

RESOURCES = "docs/resources"


class NotPublished(Exception):
    """Why no page was copied."""


def declared_manual(checkout: Path, module_name: str) -> str:
    """The `manual=` of <MODULE>_RESOURCE in the rendered registration module."""
    path = checkout / "tracardi/service/setup/destinations" / f"{module_name}_resource.py"
    if not path.is_file():
        raise NotPublished(f"{path} does not exist: render the destination into {checkout} first")
    constant = f"{module_name.upper()}_RESOURCE"
    for node in ast.parse(path.read_bytes()).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [constant]:
            for keyword in getattr(node.value, "keywords", []):
                if keyword.arg == "manual" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    raise NotPublished(f"{path} declares no `{constant} = ResourceSettings(..., manual=...)`")


def publish(checkout: Path, module_name: str, api_checkout: Path, replace: bool) -> str:
    """Copy the page; what was done, in words."""
    manual = declared_manual(checkout, module_name)
    source = checkout / RESOURCES / f"{manual}.md"
    if not source.is_file():
        raise NotPublished(f"{source}, the manual {module_name}_resource.py declares, is missing")
    folder = api_checkout / RESOURCES
    if not folder.is_dir():
        raise NotPublished(f"{folder} does not exist: is {api_checkout} a tracardi-api checkout?")
    target = folder / source.name
    if target.exists():
        if target.read_bytes() == source.read_bytes():
            return f"{target} is already this manual; nothing changed."
        if not replace:
            raise NotPublished(
                f"{target} exists with other content; run again with --replace to overwrite it"
            )
    shutil.copyfile(source, target)
    return f"Copied {source} to {target}; the GUI shows it as the manual of {manual!r}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="the Tracardi checkout rendered into")
    parser.add_argument("module_name", help="the destination's module_name answer, e.g. pulsar")
    parser.add_argument("api_checkout", type=Path, help="the tracardi-api checkout")
    parser.add_argument("--replace", action="store_true", help="overwrite a different page")
    arguments = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", arguments.module_name):
        parser.error(f"module name {arguments.module_name!r} is not snake_case")
    try:
        done = publish(
            arguments.checkout, arguments.module_name, arguments.api_checkout, arguments.replace
        )
    except NotPublished as reason:
        print(f"!!! The manual was NOT copied to tracardi-api: {reason}.", file=sys.stderr)
        return 1
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
