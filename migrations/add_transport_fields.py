"""Give a destination's recorded answers the fields its transport reads but they lack.

    python add_transport_fields.py ANSWERS_FILE COPIER_YML

A transport may come to read a new field (pulsar's unreachable_backoff_seconds, say). Answers
recorded before it lack the field, and the validator would refuse them on `copier update`. Copier
runs this from `_migrations` before the update, in the destination: each fixed field of the
transport's entry in the template's `transports` table that the recorded credential_fields or
init_fields do not name is appended there, as the entry gives it. Fields the answers have are
left as they are. Running it again changes nothing.
"""

import sys
from pathlib import Path
from typing import Any

import yaml

FIELD_QUESTIONS = ("credential_fields", "init_fields")


def with_transport_fields(
    answers: dict[str, Any], transports: dict[str, Any]
) -> dict[str, Any] | None:
    """`answers` with the transport's missing fixed fields appended; None when none is missing."""
    entry = transports.get(answers.get("transport"))
    if not isinstance(entry, dict):
        return None
    result = dict(answers)
    added = False
    for question in FIELD_QUESTIONS:
        recorded = list(answers.get(question) or [])
        names = {spec.get("name") for spec in recorded if isinstance(spec, dict)}
        missing = [dict(spec) for spec in entry.get(question) or [] if spec["name"] not in names]
        if missing:
            result[question] = recorded + missing
            added = True
    return result if added else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, copier_yml = Path(argv[0]), Path(argv[1])
    if not path.is_file():
        print(f"add_transport_fields: {path} does not exist; nothing to add", file=sys.stderr)
        return 0
    text = path.read_text(encoding="utf-8")
    transports = yaml.safe_load(copier_yml.read_text(encoding="utf-8"))["transports"]["default"]
    result = with_transport_fields(yaml.safe_load(text) or {}, transports)
    if result is None:
        return 0
    comments = "".join(line for line in text.splitlines(keepends=True) if line[:1] == "#")
    path.write_text(
        comments + yaml.safe_dump(result, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    added = [
        spec["name"]
        for question in FIELD_QUESTIONS
        for spec in result.get(question) or []
        if spec not in (yaml.safe_load(text) or {}).get(question, [])
    ]
    print(f"add_transport_fields: {path}: added {', '.join(added)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
