"""Rendering the template from the working tree: shared by scripts/examples.py and the tests.

Renders come from an export of the working tree (no git), so they reflect uncommitted edits and
record no `_commit`.
"""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from copier import run_copy

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a template export holds: the template and what its tasks and migrations run.
TEMPLATE_PARTS = ("copier.yml", "template", "includes", "migrations", "tasks", "register")
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache"
)


def export_template(target: Path) -> Path:
    """Copy the template's own files, as they are in the working tree, to `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=IGNORED)
        elif source.exists():
            shutil.copy2(source, target / part)
    return target


def render(template: Path | str, destination: Path | str, answers: Mapping[str, Any]) -> None:
    """`copier copy --defaults --overwrite` of `template`, never trusting it."""
    run_copy(
        str(template),
        str(destination),
        data=dict(answers),
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,
    )
