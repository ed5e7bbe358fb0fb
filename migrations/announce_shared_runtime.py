"""Say which of a destination's files the update to the shared transport runtime removes.

    python announce_shared_runtime.py ANSWERS_FILE

Template 1.0.0 moved each destination's private copy of its transport (`<module>_http.py`,
`_producer.py`, `_handshake.py`, `_outages.py` and their tests) into the one runtime a checkout
shares, tracardi/process_engine/destination/transport/. `copier update` removes those files,
since the newer template no longer renders them, edited or not. Copier runs this before the
update, in the destination, so that an author who changed one of them knows what to carry
over (into the connector's `_send`) and where the old text stays (git history). It changes
nothing; running it again says the same.
"""

import sys
from pathlib import Path

import yaml

PRIVATE_MODULES = ("http", "producer", "handshake", "outages")


def private_files(checkout: Path, module: str) -> list[str]:
    """The destination's private transport files that are still there."""
    candidates = [
        path
        for name in PRIVATE_MODULES
        for path in (
            f"tracardi/process_engine/destination/{module}_{name}.py",
            f"test/unit/destination/test_{module}_{name}.py",
        )
    ]
    return [path for path in candidates if (checkout / path).is_file()]


def notice(module: str, files: list[str]) -> str:
    listed = "\n".join(f"  {path}" for path in files)
    return (
        f"The {module} destination moves onto the shared transport runtime "
        "(tracardi/process_engine/destination/transport/); this update removes its private copy:\n"
        f"{listed}\n"
        "Changes you made to them are not carried over: they stay in git history "
        f"(git log -p -- FILE); carry what you need into {module}_connector.py."
    )


def main(arguments: list[str]) -> int:
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    answers_file = Path(arguments[0])
    answers = yaml.safe_load(answers_file.read_text()) or {}
    module = str(answers.get("module_name", ""))
    files = private_files(answers_file.parent, module) if module else []
    if files:
        print(notice(module, files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
