"""One runtime per checkout across template versions: rendering a newer destination brings the
newer runtime through Copier's overwrite of a conflicting file, an older destination keeps
working on it, a connector refuses a runtime older than it needs with the command that mends
it, and `copier update` moves a destination rendered before the runtime existed onto it.

Each test builds real template versions (tests/test_update.py's template_repository) and works
on a stand-in Tracardi checkout under git, through Copier's command line.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from render_helpers import REPO_ROOT, TEMPLATE_PARTS
from rendering import make_checkout, run, run_rendered_tests
from test_update import COPIER, commit_all, git, template_repository, unchanged

RUNTIME = "tracardi/process_engine/destination/transport"
# The last commit before the shared runtime: what destinations rendered until then look like.
BEFORE_THE_RUNTIME = "8a0ce63"


def version_1_1(template: Path) -> None:
    """A newer template whose runtime gained something an older connector does not notice."""
    copier_yml = template / "copier.yml"
    text = copier_yml.read_text()
    assert 'runtime_version:\n  type: str\n  when: false\n  default: "1.0.0"' in text
    copier_yml.write_text(text.replace('default: "1.0.0"', 'default: "1.1.0"', 1))
    with (template / "template" / RUNTIME / "record.py").open("a") as record:
        record.write('\n\nNEWER_RUNTIME = "1.1.0"\n')


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repository(
        tmp_path_factory.mktemp("runtime"), [("1.0.0", unchanged), ("1.1.0", version_1_1)]
    )


def checkout_with(root: Path, template: Path, version: str, name: str) -> Path:
    checkout = make_checkout(root / "tracardi-checkout")
    (checkout / ".gitignore").write_text("__pycache__/\n*.pyc\npytest-report.xml\n")
    git(checkout, "init", "--quiet")
    copy(checkout, template, version, name)
    commit_all(checkout, f"{name} from template {version}")
    return checkout


def copy(
    checkout: Path, template: Path, version: str, name: str, *options: str
) -> subprocess.CompletedProcess[str]:
    arguments = ["copy", "--defaults", "--vcs-ref", version, "--data", f"destination_name={name}"]
    return subprocess.run(
        [*COPIER, *arguments, "--data", "transport=custom", *options, str(template), "."],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )


def runtime_version(checkout: Path) -> str:
    match = re.search(
        r'^RUNTIME_VERSION = "(.+)"$', (checkout / RUNTIME / "__init__.py").read_text(), re.M
    )
    assert match, "the runtime declares no version"
    return match.group(1)


def import_error(checkout: Path, module: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", f"import tracardi.process_engine.destination.{module}_connector"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr if result.returncode else ""


def assert_both_pass(checkout: Path) -> None:
    for module in ("acme_crm", "beta_crm"):
        result = run_rendered_tests(checkout, f"test/unit/destination/test_{module}_connector.py")
        assert (result.failed, result.skipped, result.unfinished) == (0, 0, 1), result.output
        assert result.passed > 0, result.output


def test_a_newer_destination_brings_its_runtime_through_the_overwrite_of_a_conflict(
    two_versions: Path, tmp_path: Path
) -> None:
    checkout = checkout_with(tmp_path, two_versions, "1.0.0", "Acme CRM")
    # Without a terminal Copier will not decide a conflict by itself: it stops and says how.
    refused = copy(checkout, two_versions, "1.1.0", "Beta CRM")
    assert refused.returncode != 0
    assert f"conflict  {RUNTIME}/record.py" in re.sub(r"\x1b\[[0-9;]*m", "", refused.stderr)
    assert "--overwrite" in refused.stderr + refused.stdout
    written = copy(checkout, two_versions, "1.1.0", "Beta CRM", "--overwrite")
    assert written.returncode == 0, written.stderr
    assert runtime_version(checkout) == "1.1.0"
    # Only the runtime changed under the first destination: its own files are as rendered.
    changed = git(checkout, "diff", "--name-only").split()
    assert changed == [f"{RUNTIME}/__init__.py", f"{RUNTIME}/record.py"]
    assert_both_pass(checkout)


def test_a_runtime_older_than_a_connector_needs_is_refused_with_the_command_that_mends_it(
    two_versions: Path, tmp_path: Path
) -> None:
    checkout = checkout_with(tmp_path, two_versions, "1.0.0", "Acme CRM")
    # As when the overwrite was declined: the newer destination beside the older runtime.
    kept = copy(checkout, two_versions, "1.1.0", "Beta CRM", "--skip", f"{RUNTIME}/*")
    assert kept.returncode == 0, kept.stderr
    assert runtime_version(checkout) == "1.0.0"
    error = import_error(checkout, "beta_crm")
    connector = "tracardi/process_engine/destination/beta_crm_connector.py"
    assert "RuntimeVersionError" in error and connector in error, error
    assert "needs the runtime 1.1.0 or a newer 1.x" in error, error
    assert "transport runtime 1.0.0" in error, error
    command = re.search(r"in the checkout: (copier recopy .+)$", error, re.M)
    assert command, error
    (checkout / f"{connector}").write_text(
        (checkout / connector).read_text() + "# the author's line\n"
    )
    # The command as printed, the quotes of its pattern as a shell takes them.
    run([*COPIER, *command.group(1).replace("'", "").split()[1:]], cwd=checkout)
    assert runtime_version(checkout) == "1.1.0"
    assert (checkout / connector).read_text().endswith("# the author's line\n")
    assert not import_error(checkout, "beta_crm")
    assert_both_pass(checkout)


def before_the_runtime(template: Path) -> None:
    """The template as it was before the shared runtime, from this repository's history."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE_THE_RUNTIME, *TEMPLATE_PARTS],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    assert archive.returncode == 0, (
        f"this test needs the repository's history: {archive.stderr.decode()}"
    )
    for part in TEMPLATE_PARTS:
        path = template / part
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive.stdout, check=True)


@pytest.mark.parametrize(
    ("transport", "module", "private_files"),
    [
        ("pulsar", "pulsar", ["producer", "handshake", "outages"]),
        ("http", "webhook", ["http", "outages"]),
    ],
)
def test_update_moves_a_destination_from_before_the_runtime_onto_it(
    tmp_path: Path, transport: str, module: str, private_files: list[str]
) -> None:
    template = template_repository(tmp_path, [("0.9.0", before_the_runtime), ("1.0.0", unchanged)])
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    (checkout / ".gitignore").write_text("__pycache__/\n*.pyc\npytest-report.xml\n")
    git(checkout, "init", "--quiet")
    answers = ["--data", f"transport={transport}", "--data", f"module_name={module}"]
    run(
        [*COPIER, "copy", "--defaults", "--vcs-ref", "0.9.0", *answers, template, "."], cwd=checkout
    )
    connector = checkout / f"tracardi/process_engine/destination/{module}_connector.py"
    for name in private_files:
        assert (checkout / f"tracardi/process_engine/destination/{module}_{name}.py").is_file()
    commit_all(checkout, "rendered before the runtime")
    connector.write_text("# The author's note, kept across the update.\n" + connector.read_text())
    commit_all(checkout, "the author's edit")
    answers_file = f".copier-answers.destination-{module}.yml"
    # Its migration (which only speaks) runs code, so Copier needs --trust for this update.
    arguments = ["--defaults", "--trust", "--vcs-ref", "1.0.0", "--answers-file", answers_file]
    said = run([*COPIER, "update", *arguments], cwd=checkout)
    removed = (
        f"this update removes its private copy:\n  tracardi/process_engine/destination/{module}_"
    )
    assert removed in said, said
    leftovers = [
        path
        for name in private_files
        for path in (
            f"tracardi/process_engine/destination/{module}_{name}.py",
            f"test/unit/destination/test_{module}_{name}.py",
        )
        if (checkout / path).exists()
    ]
    assert not leftovers, leftovers
    assert not list(checkout.rglob("*.rej")), "the update left rejected hunks"
    assert (checkout / RUNTIME / "__init__.py").is_file()
    # At the top, which no template version changes: an edit beside changed lines would show
    # as a conflict to resolve, as any update's does.
    assert connector.read_text().startswith("# The author's note, kept across the update.\n")
    result = run_rendered_tests(checkout, "test/unit")
    assert (result.failed, result.skipped) == (0, 0), result.output
    assert result.passed > 0, result.output
