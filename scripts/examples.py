"""Regenerate the committed examples under generated_examples/ from their answers files.

    python scripts/examples.py            # rewrite every example from the working tree
    python scripts/examples.py --check    # write nothing; exit 1 on any difference

Each example is rendered from an export of the template laid out like this repository, with
the example's folder as Copier's destination and `../..` as its source. So the answers file
records `_src_path: ../..` and no `_commit`, and stays the same from one commit to the next.
"""

import argparse
import contextlib
import difflib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from render_helpers import REPO_ROOT, export_template, render

EXAMPLES = REPO_ROOT / "generated_examples"
ANSWERS_GLOB = ".copier-answers.destination-*.yml"


def example_answers(example: Path) -> dict[str, Any]:
    answers_files = sorted(example.glob(ANSWERS_GLOB))
    if len(answers_files) != 1:
        raise SystemExit(f"{example}: expected one {ANSWERS_GLOB}, found {len(answers_files)}")
    recorded = yaml.safe_load(answers_files[0].read_text())
    return {key: value for key, value in recorded.items() if not key.startswith("_")}


def render_example(example: Path, workdir: Path) -> Path:
    """Render `example` from its answers into `workdir`; return the rendered folder."""
    root = export_template(workdir / "repository")
    target = root / "generated_examples" / example.name
    target.mkdir(parents=True)
    with contextlib.chdir(target):
        render("../..", ".", example_answers(example))
    return target


def files_below(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def differences(committed: Path, rendered: Path) -> list[str]:
    """What differs between the committed example and a fresh render, as readable lines."""
    old, new = files_below(committed), files_below(rendered)
    found = [f"only in the commit: {name}" for name in sorted(old.keys() - new.keys())]
    found += [f"missing from the commit: {name}" for name in sorted(new.keys() - old.keys())]
    for name in sorted(old.keys() & new.keys()):
        if old[name] != new[name]:
            diff = difflib.unified_diff(
                old[name].decode(errors="replace").splitlines(),
                new[name].decode(errors="replace").splitlines(),
                f"committed/{name}",
                f"rendered/{name}",
                lineterm="",
            )
            found.append("\n".join(list(diff)[:40]))
    return found


def replace_folder(committed: Path, rendered: Path) -> None:
    """Swap the fresh render in whole, so a failure never leaves half an example."""
    staged = committed.with_name(f".{committed.name}.new")
    retired = committed.with_name(f".{committed.name}.old")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    shutil.copytree(rendered, staged)
    committed.rename(retired)
    staged.rename(committed)
    shutil.rmtree(retired)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on any difference")
    arguments = parser.parse_args()
    examples = sorted(path.parent for path in EXAMPLES.glob(f"*/{ANSWERS_GLOB}"))
    if not examples:
        print(f"no examples found under {EXAMPLES}", file=sys.stderr)
        return 1
    stale = 0
    for example in examples:
        with tempfile.TemporaryDirectory() as workdir:
            rendered = render_example(example, Path(workdir))
            found = differences(example, rendered)
            if not found:
                print(f"{example.relative_to(REPO_ROOT)}: up to date")
            elif arguments.check:
                stale += 1
                print(f"{example.relative_to(REPO_ROOT)}: differs from a fresh render:")
                print("\n".join(found))
            else:
                replace_folder(example, rendered)
                print(f"{example.relative_to(REPO_ROOT)}: regenerated ({len(found)} changes)")
    if stale:
        print(f"{stale} example(s) out of date: run python scripts/examples.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
