"""What a destination can observe of Tracardi's pydantic models: each model's fields in order,
with the default each one takes. Shared by the stand-in's tests and the snapshot of master.

    PYTHONPATH=/path/to/tracardi python scripts/master_models.py \
        > tests/tracardi_host/master_models.json

The snapshot is read from a Tracardi checkout (with the packages docs/tracardi-src.md lists),
for every model the stand-in defines; tests/test_tracardi_host.py compares the stand-in to it.
"""

import ast
import datetime
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

STAND_IN = Path(__file__).resolve().parents[1] / "tests" / "tracardi_host"
SNAPSHOT = STAND_IN / "master_models.json"


def stand_in_models() -> list[str]:
    """The dotted names of the pydantic models the stand-in's modules define, read from source
    so that listing them imports nothing."""
    found = []
    for path in sorted((STAND_IN / "tracardi").rglob("*.py")):
        module = ".".join(path.relative_to(STAND_IN).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.bases:
                found.append(f"{module}.{node.name}")
    return found


def described(value: Any) -> Any:
    """A default as JSON: models by their dump, a datetime by its type (it is a moment)."""
    if isinstance(value, BaseModel):
        return {type(value).__name__: described(value.model_dump())}
    if isinstance(value, datetime.datetime):
        return "<datetime>"
    if isinstance(value, dict):
        # A default made at import time (a session's `timestamp`, and the `weekday` of that
        # moment) is a moment too, or the snapshot would change from one day to the next.
        return {
            str(key): "<moment>"
            if (key == "timestamp" and isinstance(item, float))
            or (key == "weekday" and isinstance(item, int))
            else described(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [described(item) for item in value]
    return value


def default_of(info: FieldInfo) -> Any:
    if info.is_required():
        return "<required>"
    if info.default_factory is not None:
        return described(info.default_factory())  # type: ignore[call-arg]
    return described(info.default)


def fields_of(dotted: str) -> list[list[Any]] | None:
    """[[name, default], ...] of a model, or None when it is not a pydantic model."""
    module, _, name = dotted.rpartition(".")
    model = getattr(importlib.import_module(module), name, None)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        return None
    return [[field, default_of(info)] for field, info in model.model_fields.items()]


def snapshot(models: list[str]) -> dict[str, list[list[Any]] | None]:
    return {dotted: fields_of(dotted) for dotted in models}


def main() -> int:
    print(json.dumps(snapshot(stand_in_models()), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
