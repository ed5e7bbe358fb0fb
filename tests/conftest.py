"""Shared fixtures: one export of the template per session, and a stand-in Tracardi checkout
per test."""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hypothesis_profiles  # noqa: F401  (registers and loads the Hypothesis profile)
import pytest
from render_helpers import export_template, render
from rendering import make_checkout


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "tracardi-checkout")


RenderInto = Callable[[Mapping[str, Any]], Path]


@pytest.fixture
def render_into_checkout(template_dir: Path, checkout: Path) -> RenderInto:
    def render_answers(answers: Mapping[str, Any]) -> Path:
        render(template_dir, checkout, answers)
        return checkout

    return render_answers
