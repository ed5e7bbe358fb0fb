"""Every valid answer renders working code; every invalid answer is refused.

Valid answer sets (answer_strategies.valid_answer_sets) are rendered in-process into one shared
stand-in checkout and checked there in-process, one by one, so Hypothesis can shrink a failure:
the files and the answers file, the models (names, aliases, required, descriptions, defaults,
accepting a sample and refusing a wrong type), the registration (config, init, form), the
module docstring and the manual. Then ruff, mypy and the rendered unit tests run once over all
of them.

Invalid answer sets (answer_strategies.invalid_cases) must be refused with an error naming the
bad value and nothing written: in-process, through the copier CLI with --data-file and with
--data, and at the interactive prompt, which must show the error, ask again, and write nothing
when the session is then aborted.

Sizes follow the Hypothesis profile (tests/hypothesis_profiles.py): ci by default, deep on
request.
"""

import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import regressions
import yaml
from answer_strategies import (
    InvalidCase,
    invalid_cases,
    typed_at_prompt,
    valid_answer_sets,
)
from hypothesis import example, given, note, settings
from jinja_cache import shared_compilation
from prompt_session import PromptSession
from rendered_checks import check_rendered, importable
from rendering import copier_copy, render
from shared_checkout import SharedCheckout
from template_facts import TRANSPORTS, derived_names

pytestmark = pytest.mark.slow

TestFunction = TypeVar("TestFunction", bound=Callable[..., None])

assert settings.default is not None
BASE = settings.default.max_examples
EXAMPLES = {
    "valid": BASE,
    "invalid in-process": 3 * BASE,
    "invalid CLI": max(4, BASE // 5),
    "invalid at the prompt": max(4, BASE // 5),
}


@pytest.fixture(scope="module", autouse=True)
def _compile_templates_once() -> Iterator[None]:
    with shared_compilation():
        yield


# ---------------------------------------------------------------------------------------------
# Valid answers.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(
    template_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedCheckout]:
    checkout = SharedCheckout(template_dir, tmp_path_factory.mktemp("shared") / "checkout")
    with importable(checkout.root):
        yield checkout


def with_examples(name: str, values: list[Any]) -> Callable[[TestFunction], TestFunction]:
    """Run each of `values` as an explicit example, before anything generated."""

    def decorate(test: TestFunction) -> TestFunction:
        for value in reversed(values):
            test = example(**{name: value})(test)
        return test

    return decorate


@settings(max_examples=EXAMPLES["valid"])
@with_examples("answers", regressions.VALID)
@given(answers=valid_answer_sets())
def test_valid_answers_render_code_that_agrees_with_them(
    shared: SharedCheckout, answers: dict[str, Any]
) -> None:
    try:
        check_rendered(shared.render(answers))
    except Exception:
        shared.failed_examples += 1
        raise


def test_every_valid_render_passes_ruff_mypy_and_its_own_tests(
    shared: SharedCheckout, mypy_cache: Path
) -> None:
    if not shared.renders:  # run on its own: make the renders first
        test_valid_answers_render_code_that_agrees_with_them(shared=shared)
    started = time.monotonic()
    reports = shared.check_code(mypy_cache) + shared.run_unit_tests()
    print(
        f"{len(shared.renders)} answer sets ({shared.render_count} renders) checked by ruff, "
        f"mypy and {len(shared.unit_tests())} rendered test modules in "
        f"{time.monotonic() - started:.1f}s"
    )
    assert not reports, "\n\n".join(reports)
    if not shared.failed_examples:  # a failure stops generation and shrinks instead
        assert len(shared.renders) >= EXAMPLES["valid"] // 2, "too few distinct answer sets"


# ---------------------------------------------------------------------------------------------
# Invalid answers.
# ---------------------------------------------------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


@pytest.fixture(scope="module")
def existing_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with something in it, which a refused answer must leave as it is."""
    checkout = tmp_path_factory.mktemp("existing") / "checkout"
    (checkout / "tracardi").mkdir(parents=True)
    (checkout / "tracardi" / "__init__.py").write_text("")
    return checkout


def error_line(case: InvalidCase) -> str:
    return f"Validation error for question '{case.question}': "


@settings(max_examples=EXAMPLES["invalid in-process"])
@with_examples("case", regressions.INVALID)
@given(case=invalid_cases)
def test_invalid_answers_are_refused_naming_the_value(
    template_dir: Path, existing_checkout: Path, case: InvalidCase
) -> None:
    before = listing(existing_checkout)
    with pytest.raises(ValueError) as raised:
        render(template_dir, existing_checkout, case.answers)
    message = str(raised.value)
    assert message.startswith(error_line(case)), message
    assert case.expected in message
    assert listing(existing_checkout) == before


def data_options(answers: dict[str, Any]) -> list[str] | None:
    """The answers as --data options, or None when one cannot go on a command line."""
    options = []
    for key, value in answers.items():
        text = value if isinstance(value, str) else yaml_line(value)
        if "\x00" in text:
            return None
        options += ["--data", f"{key}={text}"]
    return options


class _TypedYaml(yaml.SafeDumper):  # type: ignore[misc]
    """Strings double-quoted, so every character is escaped onto one line of ASCII."""


_TypedYaml.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)


def yaml_line(value: Any) -> str:
    """A YAML answer on one line of ASCII, as a person types it."""
    text: str = yaml.dump(
        value,
        Dumper=_TypedYaml,
        default_flow_style=True,
        width=sys.maxsize,
        allow_unicode=False,
        sort_keys=False,
    )
    text = text.removesuffix("\n").removesuffix("\n...").strip()
    assert "\n" not in text and text.isascii(), text
    assert repr(yaml.safe_load(text)) == repr(value), text
    return text


@settings(max_examples=EXAMPLES["invalid CLI"])
@with_examples("case", regressions.INVALID_CLI)
@given(case=invalid_cases)
def test_invalid_answers_are_refused_by_the_cli(
    template_dir: Path, tmp_path_factory: pytest.TempPathFactory, case: InvalidCase
) -> None:
    """The same answers, from --data-file and from --data options (two copier processes at a
    time): a non-zero exit, the error naming the value, nothing written."""
    work = tmp_path_factory.mktemp("cli")
    data_file = work / "answers.yml"
    # Escaped: PyYAML writes U+0085 raw when allowed to, and reads it back as a space.
    data_file.write_text(yaml.safe_dump(case.answers), encoding="utf-8")
    runs = {"--data-file": ["--data-file", str(data_file)]}
    options = data_options(case.answers)
    if options is not None:  # a NUL cannot go on a command line
        runs["--data"] = options
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {
            name: pool.submit(copier_copy, template_dir, work / name, "--quiet", *run_options)
            for name, run_options in runs.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        assert result.returncode != 0, (name, result.stdout, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("ValueError: " + error_line(case)), (name, result.stderr)
        assert case.expected in last, (name, last)
        assert not (work / name).exists(), name


# The prompt: every question but the ones typed is answered with --data.
DERIVED = ["resource_type", "module_name", "class_prefix"]


def prompt_data(case: InvalidCase) -> dict[str, Any]:
    """Answers for every question but the one typed (and, when that is the destination name,
    the names derived from it, whose defaults are accepted at the prompt)."""
    transport = case.answers.get("transport", "custom")
    data: dict[str, Any] = {
        "transport": transport,
        "description": "A destination.",
        "tags": ["destination"],
        "icon": "plugin",
        "credential_fields": TRANSPORTS[transport]["credential_fields"],
        "init_fields": TRANSPORTS[transport]["init_fields"],
        **case.answers,
    }
    if case.typed_question == "destination_name":
        for question in DERIVED:
            data.pop(question, None)
    else:
        derived = derived_names(data["destination_name"])
        data.setdefault("resource_type", derived.resource_type)
        data.setdefault("module_name", derived.module_name)
        data.setdefault("class_prefix", derived.class_prefix)
    data.pop(case.typed_question)
    return data


def prompt_session(template: Path, destination: Path, data: dict[str, Any]) -> PromptSession:
    options = data_options(data)
    assert options is not None
    return PromptSession(template, destination, options)


@settings(max_examples=EXAMPLES["invalid at the prompt"])
@given(case=invalid_cases.filter(typed_at_prompt))
def test_invalid_answers_are_refused_at_the_prompt(
    template_dir: Path, tmp_path_factory: pytest.TempPathFactory, case: InvalidCase
) -> None:
    """The prompt shows the validator's error, naming the value, and stays on the question;
    aborted there, Copier exits non-zero and has written nothing."""
    destination = tmp_path_factory.mktemp("prompt") / "destination"
    session = prompt_session(template_dir, destination, prompt_data(case))
    try:
        typed = case.typed if isinstance(case.typed, str) else yaml_line(case.typed)
        note(f"typed into {case.typed_question}: {typed}")
        session.answer(case.typed_question, typed)
        if case.typed_question == "destination_name":
            # The name may pass, and a default derived from it be refused.
            session.accept_defaults_until_refused(DERIVED)
        shown = session.error_showing(case.expected)
        assert shown.startswith(error_line(case)), shown
        assert case.expected in shown, shown
        session.abort()
    finally:
        status = session.close()
    assert status != 0
    assert not destination.exists()


def test_the_prompt_asks_again_after_a_refused_answer(template_dir: Path, tmp_path: Path) -> None:
    """After a refused answer the question stays open: a valid answer then goes through."""
    destination = tmp_path / "destination"
    data = {
        "destination_name": "Prompt Probe",
        "resource_type": "prompt-probe",
        "module_name": "prompt_probe",
        "class_prefix": "PromptProbe",
        "transport": "custom",
        "description": "Probe.",
        "tags": ["x"],
        "icon": "plugin",
        "credential_fields": [],
    }
    session = prompt_session(template_dir, destination, data)
    try:
        session.answer("init_fields", "[{name: Topic, type: str}]")
        expected = 'name "Topic" is not a snake_case identifier'
        assert expected in session.error_showing(expected)
        session.answer("init_fields", "[{name: topic, type: str, required: true}]")
        session.finish()
    finally:
        status = session.close()
    assert status == 0, session.text()
    assert (destination / "tracardi/process_engine/destination/prompt_probe_connector.py").is_file()
