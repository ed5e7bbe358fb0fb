"""Many renders in one stand-in Tracardi checkout, so ruff, mypy and the rendered tests start once
for all of them instead of once per answer set.

Each answer set gets its own module name, so their files sit side by side; a render under a
module name already there replaces the earlier one. When a tool fails, the failure names the
modules it is about and the answers that rendered them, ready to go into tests/answer_sets/.
"""

import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from render_helpers import render
from rendered_checks import Rendered, forget_render, module_name_of
from rendering import code_checks, make_checkout, rendered_pytest, unfinished
from template_facts import is_shared


class SharedCheckout:
    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = make_checkout(root)
        self.renders: dict[str, Rendered] = {}
        self.render_count = 0
        self.failed_examples = 0

    def render(self, answers: Mapping[str, Any]) -> Rendered:
        module = module_name_of(dict(answers))
        previous = self.renders.pop(module, None)
        if previous is not None:
            for path in previous.paths():
                path.unlink(missing_ok=True)
        forget_render(module)
        before = self.listing()
        render(self.template, self.root, answers)
        self.render_count += 1
        written = tuple(sorted(self.listing() - before))
        rendered = Rendered(self.root, dict(answers), written)
        self.renders[module] = rendered
        return rendered

    def listing(self) -> set[Path]:
        """The files renders own: the shared runtime, written by the first, belongs to none."""
        return {
            path.relative_to(self.root)
            for path in self.root.rglob("*")
            if path.is_file()
            and "__pycache__" not in path.parts
            and not is_shared(path.relative_to(self.root).as_posix())
        }

    def python_files(self) -> list[Path]:
        return sorted(
            path.relative_to(self.root)
            for rendered in self.renders.values()
            for path in rendered.python_files()
        )

    def unit_tests(self) -> list[Path]:
        return [path for path in self.python_files() if path.parts[:2] == ("test", "unit")]

    def about(self, text: str) -> list[str]:
        """The modules whose rendered files `text` mentions."""
        return sorted(
            module
            for module, rendered in self.renders.items()
            if any(str(path.relative_to(self.root)) in text for path in rendered.paths())
        )

    def report(self, tool: str, output: str, modules: Iterable[str]) -> str:
        modules = sorted(set(modules))
        lines = [f"{tool} failed on the renders of {', '.join(modules) or 'no module it named'}."]
        lines.append(f"--- {tool} said:")
        lines.append(output[:8000])
        for module in modules[:3]:
            answers = self.renders[module].answers
            lines.append(f"--- answers rendering {module} (a tests/answer_sets/ file):")
            lines.append(yaml.safe_dump(answers, allow_unicode=True, sort_keys=False))
        return "\n".join(lines)

    def run_tool(self, tool: str, command: Sequence[str | Path]) -> str | None:
        """Run a checker over the checkout; a report of what failed, or None."""
        result = subprocess.run(
            [str(part) for part in command],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        output = result.stdout + result.stderr
        if result.returncode == 0:
            return None
        return self.report(tool, output, self.about(output))

    def check_code(self, mypy_cache: Path) -> list[str]:
        """ruff check, ruff format --check and mypy --strict over every render at once."""
        commands = code_checks(self.python_files(), mypy_cache)
        reports = [self.run_tool(tool, command) for tool, command in commands.items()]
        return [report for report in reports if report]

    def run_unit_tests(self) -> list[str]:
        """Every render's unit tests in one pytest run, as a plain Tracardi checkout runs them:
        each must pass, none may be skipped, and every module's tests must have run."""
        junit = self.root / "pytest-report.xml"
        result = subprocess.run(
            rendered_pytest(junit, self.unit_tests()),
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        output = result.stdout + result.stderr
        if not junit.exists():
            return [self.report("pytest", output, self.about(output))]
        # Which module a test belongs to, by its test file's dotted path.
        owners = {
            ".".join(path.with_suffix("").parts): module
            for module, rendered in self.renders.items()
            for path in rendered.files
            if path.parts[:2] == ("test", "unit") and path.suffix == ".py"
        }
        bad: list[str] = []
        passed: dict[str, int] = dict.fromkeys(self.renders, 0)
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            where = case.get("classname", "")
            owner = next(
                (
                    module
                    for dotted, module in owners.items()
                    if f"{where}.".startswith(dotted + ".")
                ),
                None,
            )
            problems = [
                child
                for child in case
                if child.tag in ("failure", "error", "skipped") and not unfinished(case)
            ]
            if owner is None:
                raise AssertionError(f"a rendered test of no render: {where}.{case.get('name')}")
            if problems:
                bad.append(owner)
            elif not unfinished(case):
                passed[owner] += 1
        bad += [module for module, count in passed.items() if count == 0]
        if result.returncode != 0 or bad:
            return [self.report("pytest", output, bad or self.about(output))]
        return []
