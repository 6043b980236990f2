"""The release workflow parses, and builds, self-tests and uploads on all three systems.

It cannot run here (Windows and macOS runners), so its structure is checked instead; with
`actionlint` on the PATH the full GitHub Actions checks run as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
OS_JOBS = {"linux": "ubuntu-", "windows": "windows-", "macos": "macos-"}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_triggers_on_version_tags_and_by_hand(workflow: dict[str, Any]) -> None:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["push"]["tags"] == ["v*"]
    assert "workflow_dispatch" in triggers


def test_every_step_is_well_formed(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: {step}"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_one_job_per_system_builds_self_tests_and_uploads(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    for name, runner in OS_JOBS.items():
        job = jobs[name]
        assert job["runs-on"].startswith(runner)
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
        assert setup and setup[0]["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"
        text = steps_text(job)
        assert "packaging/build.py" in text or "packaging/build_linux.sh" in text
        assert "smoke_test.py" in text or "build_linux.sh --ci" in text
        assert "actions/upload-artifact" in text
    assert workflow["env"]["PYTHON_VERSION"] == "3.11"
    assert "iscc" in steps_text(jobs["windows"])
    assert "make_dmg.sh" in steps_text(jobs["macos"])


def test_release_job_publishes_only_tags_after_all_builds(workflow: dict[str, Any]) -> None:
    release = workflow["jobs"]["release"]
    assert set(release["needs"]) == set(OS_JOBS)
    assert "refs/tags/" in release["if"]
    assert release["permissions"] == {"contents": "write"}
    assert workflow["permissions"] == {"contents": "read"}


def test_files_the_workflow_runs_exist() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for path in re.findall(r"(?<![\w/])packaging/[\w./-]+\.(?:py|sh|iss)", text):
        assert (ROOT / path).is_file(), path


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_actionlint_passes() -> None:
    result = subprocess.run(
        ["actionlint", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cached_wheel_folder_is_the_one_build_py_uses(workflow: dict[str, Any]) -> None:
    variable = "EMBEDDINGGEMMA_RAG_WHEEL_CACHE"
    assert variable in (ROOT / "packaging" / "build.py").read_text(encoding="utf-8")
    assert variable in workflow["env"]
    expected = "${{ env." + variable + " }}"
    for name in OS_JOBS:
        steps = workflow["jobs"][name]["steps"]
        caches = [step for step in steps if "actions/cache" in step.get("uses", "")]
        assert [cache["with"]["path"] for cache in caches] == [expected], name
