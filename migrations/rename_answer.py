"""Rename one answer in a Copier answers file, for a question the template renamed.

    python rename_answer.py ANSWERS_FILE OLD_NAME NEW_NAME

Copier runs it from `_migrations` before an update, in the destination, so the update reads
the answer under its new name instead of asking again or falling back to the default. Only
the key's own line changes; the rest of the file stays byte for byte. Running it again, or on
a file without OLD_NAME, changes nothing.
"""

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


def renamed(text: str, old: str, new: str) -> str | None:
    """`text` with the top-level key `old` called `new`; None when there is nothing to do."""
    answers: dict[str, Any] = yaml.safe_load(text) or {}
    if old not in answers or new in answers:
        return None
    # In a block mapping every top-level key starts a line at column 0; nothing else does.
    result = re.sub(rf"^{re.escape(old)}:", f"{new}:", text, count=1, flags=re.MULTILINE)
    expected = {new if key == old else key: value for key, value in answers.items()}
    if yaml.safe_load(result) != expected:
        # An unusual layout (a quoted key, a flow mapping): write the data out plainly.
        comments = "".join(line for line in text.splitlines(keepends=True) if line[:1] == "#")
        result = comments + yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)
    return result


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
    os.chmod(out.name, path.stat().st_mode)
    os.replace(out.name, path)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, old, new = Path(argv[0]), argv[1], argv[2]
    if not path.is_file():
        print(f"rename_answer: {path} does not exist; nothing to rename", file=sys.stderr)
        return 0
    result = renamed(path.read_text(encoding="utf-8"), old, new)
    if result is None:
        print(f"rename_answer: {path}: no {old!r} to rename into {new!r}", file=sys.stderr)
        return 0
    write_atomically(path, result)
    print(f"rename_answer: {path}: the answer {old!r} is now called {new!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
