"""The manual page reaches tracardi-api, which serves it to Tracardi's GUI.

The GUI fetches /manual/en/docs/resources/<manual>.md, <manual> being the `manual=` of the
resource type, and tracardi-api serves /manual/en/docs from its own docs/ folder. So the file
the template renders must be named after what the resource declares, and tasks/publish_manual.py
must put it into a tracardi-api checkout's docs/resources/.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import RenderInto
from render_helpers import REPO_ROOT, render
from rendering import copier_copy, load_script, make_checkout

ANSWER_SETS = sorted((REPO_ROOT / "tests" / "answer_sets").glob("*.yml"))
EXAMPLES = sorted(p.parent for p in REPO_ROOT.glob("generated_examples/*/.copier-answers.*.yml"))
AUDIT_LOG = {"destination_name": "Audit Log", "transport": "custom"}


def declared_manual(checkout: Path, module_name: str) -> str:
    manual: str = load_script("tasks/publish_manual.py").declared_manual(checkout, module_name)
    return manual


def module_of(render: Path) -> str:
    (answers_file,) = render.glob(".copier-answers.destination-*.yml")
    module: str = yaml.safe_load(answers_file.read_text())["module_name"]
    return module


def assert_the_declared_manual_is_the_rendered_page(render: Path) -> None:
    manual = declared_manual(render, module_of(render))
    pages = sorted(path.name for path in (render / "docs" / "resources").iterdir())
    assert pages == [f"{manual}.md"]
    assert (render / "docs" / "resources" / f"{manual}.md").read_text().strip()


@pytest.mark.parametrize("answers_file", ANSWER_SETS, ids=lambda path: path.stem)
def test_each_answer_set_renders_the_manual_its_resource_declares(
    answers_file: Path, template_dir: Path, tmp_path: Path
) -> None:
    render(template_dir, tmp_path, yaml.safe_load(answers_file.read_text()))
    assert_the_declared_manual_is_the_rendered_page(tmp_path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_each_example_carries_the_manual_its_resource_declares(example: Path) -> None:
    assert_the_declared_manual_is_the_rendered_page(example)


def tracardi_api(root: Path) -> Path:
    """A folder laid out like tracardi-api where the GUI's manuals come from."""
    (root / "docs" / "resources").mkdir(parents=True)
    (root / "docs" / "resources" / "index.md").write_text("# Resources\n")
    return root


def publish(
    template_dir: Path, checkout: Path, api: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    script = template_dir / "tasks" / "publish_manual.py"
    return subprocess.run(
        [sys.executable, script, checkout, "audit_log", api, *options],
        capture_output=True,
        text=True,
        check=False,
    )


def test_publishing_puts_the_page_where_tracardi_api_serves_it_once(
    template_dir: Path, render_into_checkout: RenderInto, tmp_path: Path
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    api = tracardi_api(tmp_path / "tracardi-api")
    first = publish(template_dir, checkout, api)
    assert first.returncode == 0, first.stderr
    served = api / "docs" / "resources" / f"{declared_manual(checkout, 'audit_log')}.md"
    assert served.read_bytes() == (checkout / "docs/resources/audit_log_resource.md").read_bytes()
    second = publish(template_dir, checkout, api)
    assert second.returncode == 0 and "nothing changed" in second.stdout, second.stderr
    assert (api / "docs" / "resources" / "index.md").read_text() == "# Resources\n"


def test_another_page_of_that_name_is_kept_unless_replace_is_given(
    template_dir: Path, render_into_checkout: RenderInto, tmp_path: Path
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    api = tracardi_api(tmp_path / "tracardi-api")
    served = api / "docs" / "resources" / "audit_log_resource.md"
    served.write_text("tracardi-api's own page\n")
    refused = publish(template_dir, checkout, api)
    assert refused.returncode == 1 and "--replace" in refused.stderr, refused.stderr
    assert served.read_text() == "tracardi-api's own page\n"
    replaced = publish(template_dir, checkout, api, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert served.read_bytes() == (checkout / "docs/resources/audit_log_resource.md").read_bytes()


def test_a_folder_that_is_not_tracardi_api_is_refused(
    template_dir: Path, render_into_checkout: RenderInto, tmp_path: Path
) -> None:
    checkout = render_into_checkout(AUDIT_LOG)
    result = publish(template_dir, checkout, tmp_path / "somewhere")
    assert result.returncode == 1 and "a tracardi-api checkout?" in result.stderr, result.stderr
    assert not (tmp_path / "somewhere").exists()


def test_the_after_copy_message_says_where_the_manual_must_go(
    template_dir: Path, tmp_path: Path
) -> None:
    checkout = make_checkout(tmp_path / "tracardi-checkout")
    copy = copier_copy(template_dir, checkout, "--data", "destination_name=Audit Log")
    assert copy.returncode == 0, copy.stderr
    message = " ".join(copy.stderr.split())
    assert (
        "copy docs/resources/audit_log_resource.md into docs/resources/ of your tracardi-api"
        in (message)
    )
    assert "tasks/publish_manual.py . audit_log <tracardi-api checkout>" in message
