"""Two destinations of one transport in one Tracardi checkout: the second brings only its own part.

As a contributor does it: the first destination rendered and committed, then the second rendered
beside it. The second may add at most LINE_BUDGET lines all told (its answers file aside), must
repeat no run of IDENTICAL_RUN lines of the first (models and forms alike in shape are fine), and
must leave every file of the first as it was; then both pass their tests in that checkout.

The runs are counted in code, as `duplicates` counts them: a manual page is prose that
tracardi-api serves whole, one page a resource, so each destination's must stand on its own.
Models and forms are declarations, which for a transport's fixed fields say the same thing in
every destination: the registration module, and the connector's choice aliases and models
(from DESTINATION_NAME to the connector class), are left out.
"""

from pathlib import Path

import pytest
from render_helpers import render
from rendering import assert_all_passed, make_checkout, run, run_rendered_tests
from test_update import GIT_ENV, commit_all

LINE_BUDGET = 900
IDENTICAL_RUN = 12

# The tests each destination runs of its own in this checkout: unit tests, and the integration
# test against an embedded server or broker where its transport has one (Kafka's needs Apache
# Kafka: tests/test_apache_kafka.py runs it; RabbitMQ: tests/test_rabbitmq.py).
OWN_TESTS = {
    "amqp": ["test/unit/destination/test_{module}_connector.py"],
    "custom": ["test/unit/destination/test_{module}_connector.py"],
    "http": [
        "test/unit/destination/test_{module}_connector.py",
        "test/integration/destination/test_{module}_connector_server.py",
    ],
    "kafka": ["test/unit/destination/test_{module}_connector.py"],
    "pulsar": [
        "test/unit/destination/test_{module}_connector.py",
        "test/integration/destination/test_{module}_connector_broker.py",
    ],
}


def added_files(checkout: Path) -> list[Path]:
    """What the working tree adds or changes against the last commit, answers files aside."""
    listed = run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=checkout, env=GIT_ENV
    )
    paths = [checkout / line[3:] for line in listed.splitlines() if line.strip()]
    return sorted(
        path for path in paths if path.is_file() and not path.name.startswith(".copier-answers.")
    )


def python_files(paths: list[Path]) -> list[Path]:
    return [path for path in paths if path.suffix == ".py"]


def changed_files(checkout: Path) -> list[str]:
    return run(["git", "diff", "--name-only", "HEAD"], cwd=checkout, env=GIT_ENV).split()


def code_lines(path: Path) -> list[str]:
    """The file's lines, its declarations (models and form) blanked."""
    lines = path.read_text().splitlines()
    if path.name.endswith("_resource.py"):
        return []
    if path.name.endswith("_connector.py") and "process_engine" in path.parts:
        # From DESTINATION_NAME (the choice aliases follow it) to the end of the Configuration
        # model: whatever comes after it up to the connector class is code, and counts.
        start = next(n for n, line in enumerate(lines) if line.startswith("DESTINATION_NAME = "))
        model = next(
            n
            for n, line in enumerate(lines)
            if line.startswith("class ") and "Configuration(" in line
        )
        end = next(
            (
                n
                for n in range(model + 1, len(lines))
                if lines[n] and not lines[n].startswith((" ", ")"))
            ),
            len(lines),
        )
        lines[start:end] = [""] * (end - start)
    return lines


def windows(lines: list[str]) -> dict[tuple[str, ...], int]:
    """Every run of IDENTICAL_RUN non-blank lines, stripped, with the line it starts at."""
    numbered = [(number, line.strip()) for number, line in enumerate(lines, 1) if line.strip()]
    return {
        tuple(text for _, text in numbered[start : start + IDENTICAL_RUN]): numbered[start][0]
        for start in range(len(numbered) - IDENTICAL_RUN + 1)
    }


def repeated_runs(first: list[Path], second: list[Path], root: Path) -> list[str]:
    seen: dict[tuple[str, ...], str] = {}
    for path in first:
        for run_lines, line in windows(code_lines(path)).items():
            seen.setdefault(run_lines, f"{path.relative_to(root)}:{line}")
    found = []
    for path in second:
        for run_lines, line in windows(code_lines(path)).items():
            if run_lines in seen:
                found.append(f"{path.relative_to(root)}:{line} repeats {seen[run_lines]}")
    return found


@pytest.mark.parametrize("transport", sorted(OWN_TESTS))
def test_a_second_destination_of_a_transport_adds_only_its_own_part(
    transport: str, template_dir: Path, tmp_path: Path
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    (checkout / ".gitignore").write_text("__pycache__/\n*.pyc\npytest-report.xml\n")
    run(["git", "init", "--quiet"], cwd=checkout, env=GIT_ENV)
    commit_all(checkout, "Tracardi")
    render(template_dir, checkout, {"destination_name": "Acme Orders", "transport": transport})
    first = added_files(checkout)
    commit_all(checkout, "the first destination")
    render(template_dir, checkout, {"destination_name": "Beta Alerts", "transport": transport})
    assert changed_files(checkout) == [], "the second render changed files of the first"
    second = added_files(checkout)
    assert all("beta_alerts" in path.name for path in second), [
        str(p.relative_to(checkout)) for p in second
    ]
    lines = sum(len(path.read_text().splitlines()) for path in second)
    assert lines <= LINE_BUDGET, f"the second {transport} destination adds {lines} lines"
    repeats = repeated_runs(python_files(first), python_files(second), checkout)
    assert not repeats, "\n".join(repeats[:10])
    for module in ("acme_orders", "beta_alerts"):
        tests = [test.format(module=module) for test in OWN_TESTS[transport]]
        assert_all_passed(run_rendered_tests(checkout, *tests))
