"""The reusable GitHub Action (action.yml): checked against its schema, then run step by
step as a runner runs a composite action, against a copy of the example paper in a
subfolder of a checkout and the emulator as the API.

The runner is played by `Runner` below: each `run:` step goes to ``bash -eo pipefail``
with the variables GitHub sets (GITHUB_ACTIONS, GITHUB_WORKSPACE, RUNNER_TEMP,
GITHUB_ACTION_PATH, and a fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step), lines
appended to GITHUB_PATH reach the later steps, and the `if:` conditions are evaluated.
The `uses:` steps (setup-python, upload-artifact) are GitHub's own actions: not run
here, only recorded with their inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from figbuild.emulator import Emulator, EmulatorConfig

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
#: SchemaStore's schema of action.yml (Apache-2.0; see tests/data/README.md).
SCHEMA = Path(__file__).parent / "data" / "github-action.schema.json"
EXAMPLE = REPO / "example-paper"
INSTALL = "Install figbuild"

pytestmark = pytest.mark.skipif(not ACTION.is_file(), reason="needs a checkout (action.yml)")


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return loaded


def test_action_yml_matches_the_schema_of_github_actions() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(action(), schema)


def test_every_expression_names_an_input_or_step_that_exists() -> None:
    document = action()
    text = ACTION.read_text(encoding="utf-8")
    inputs = set(re.findall(r"inputs\.([\w-]+)", text))
    steps = set(re.findall(r"steps\.([\w-]+)\.", text))
    assert inputs <= set(document["inputs"])
    assert steps <= {step["id"] for step in document["runs"]["steps"] if "id" in step}
    for step in document["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), "inputs reach scripts through env:, never inline"


# -- the runner ----------------------------------------------------------------------------

_TERM = re.compile(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'")


@dataclass
class Step:
    name: str
    outcome: str
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    uses: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    steps: list[Step]
    outputs: dict[str, str]
    summary: str

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failure" for step in self.steps)

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    @property
    def stdout(self) -> str:
        return "".join(step.stdout for step in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(step.stderr for step in self.steps)


class Runner:
    """Runs action.yml's steps as GitHub's runner does (see the module docstring)."""

    def __init__(
        self, workspace: Path, temp: Path, env: dict[str, str], installed: Path | None = None
    ) -> None:
        self.workspace, self.temp, self.installed = workspace, temp, installed
        # figbuild must come from the action's install step, not from this test's venv.
        path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "figbuild").exists()]
        self.path = path
        if installed is not None:
            self.path.insert(0, str(installed))
        self.env = env
        self.steps: dict[str, Step] = {}

    def value(self, ref: str, inputs: dict[str, str]) -> str:
        parts = ref.split(".")
        if parts[0] == "inputs":
            return inputs[parts[1]]
        if parts[0] == "steps":
            step = self.steps.get(parts[1])
            if step is None:
                return ""
            return step.outputs.get(parts[3], "") if parts[2] == "outputs" else step.outcome
        return {"runner.temp": str(self.temp), "github.action_path": str(REPO)}[ref]

    def expand(self, text: str, inputs: dict[str, str]) -> str:
        return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: self.value(m.group(1), inputs), str(text))

    def condition(self, expression: str | None, inputs: dict[str, str], failed: bool) -> bool:
        if not expression:
            return not failed
        functions = {"!cancelled()": True, "always()": True, "success()": not failed, "failure()": failed}

        def term(text: str) -> bool:
            text = text.strip()
            if text in functions:
                return functions[text]
            match = _TERM.fullmatch(text)
            assert match, f"the test runner cannot evaluate {text!r}"
            left = self.value(match.group(1), inputs)
            return (left == match.group(3)) == (match.group(2) == "==")

        result = any(all(term(t) for t in alt.split("&&")) for alt in expression.split("||"))
        explicit = any(function.lstrip("!") in expression for function in functions)
        return result if explicit else result and not failed

    def run(self, given: dict[str, str]) -> Run:
        document = action()
        inputs = {name: str(spec.get("default", "")) for name, spec in document["inputs"].items()}
        assert set(given) <= set(inputs), "the test passes only inputs the action has"
        inputs.update(given)
        failed = False
        summaries: list[str] = []
        for number, spec in enumerate(document["runs"]["steps"]):
            step = Step(spec["name"], "skipped")
            if self.condition(spec.get("if"), inputs, failed):
                if "uses" in spec:
                    step.uses = spec["uses"]
                    step.inputs = {k: self.expand(v, inputs) for k, v in spec.get("with", {}).items()}
                    step.outcome = "success"
                elif spec["name"] == INSTALL and self.installed is not None:
                    step.outcome = "success"  # done once for the module (see `installed`)
                else:
                    summaries.append(self._run_script(number, spec, inputs, step))
                failed |= step.outcome == "failure"
            self.steps[spec.get("id", f"step{number}")] = step
        outputs = {name: self.expand(spec["value"], inputs) for name, spec in document["outputs"].items()}
        return Run(list(self.steps.values()), outputs, "".join(summaries))

    def _run_script(self, number: int, spec: dict[str, Any], inputs: dict[str, str], step: Step) -> str:
        assert spec["shell"] == "bash"
        files = {name: self.temp / f"{name}-{number}" for name in ("output", "summary", "path", "env")}
        for path in files.values():
            path.write_text("", encoding="utf-8")
        env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
        env.update(self.env)
        env.update(
            PATH=os.pathsep.join(self.path),
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_ACTION_PATH=str(REPO),
            RUNNER_TEMP=str(self.temp),
            GITHUB_OUTPUT=str(files["output"]),
            GITHUB_STEP_SUMMARY=str(files["summary"]),
            GITHUB_PATH=str(files["path"]),
            GITHUB_ENV=str(files["env"]),
        )
        env.update({key: self.expand(value, inputs) for key, value in spec.get("env", {}).items()})
        script = self.temp / f"step-{number}.sh"
        script.write_text(spec["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        step.outcome = "success" if done.returncode == 0 else "failure"
        step.stdout, step.stderr = done.stdout, done.stderr
        step.outputs = _outputs(files["output"].read_text(encoding="utf-8"))
        self.path[:0] = reversed(files["path"].read_text(encoding="utf-8").split())
        return files["summary"].read_text(encoding="utf-8")


def _outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's lines: name=value, or name<<DELIMITER ... DELIMITER."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            outputs[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


# -- the runs ------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A paper repository with the example paper in its folder ``paper``."""
    workspace = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".figbuild", "paper.pdf", "paper.html", "*.aux", "*.log")
    shutil.copytree(EXAMPLE, workspace / "paper", ignore=ignore)
    return workspace


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.05, image_scale=0.1)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """figbuild installed by the action's own install step (pip from this checkout), once."""
    temp = tmp_path_factory.mktemp("runner-temp")
    workspace = tmp_path_factory.mktemp("workspace")
    runner = Runner(workspace, temp, {})
    document = action()
    (install,) = [step for step in document["runs"]["steps"] if step["name"] == INSTALL]
    step = Step(INSTALL, "skipped")
    runner._run_script(0, install, {"figbuild-version": ""}, step)
    if step.outcome != "success" and "Could not find a version" in step.stderr + step.stdout:
        pytest.skip("pip could not reach a package index to install figbuild's dependencies")
    assert step.outcome == "success", step.stdout + step.stderr
    venv_bin = temp / "figbuild-venv" / "bin"
    assert step.stdout.startswith("figbuild, version ")
    return venv_bin


def _runner(checkout: Path, tmp_path: Path, installed: Path, **env: str) -> Runner:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return Runner(checkout, temp, env, installed=installed)


@pytest.mark.slow
def test_check_fails_on_stale_figures_with_annotations_on_their_lines(
    checkout: Path, tmp_path: Path, installed: Path
) -> None:
    run = _runner(checkout, tmp_path, installed).run({"directory": "paper", "python-version": ""})
    assert [step.outcome for step in run.steps] == [
        "skipped",  # setup-python: python-version ''
        "success",
        "success",  # validate
        "skipped",  # sync: command check
        "failure",  # the committed example figures are placeholders: stale
        "skipped",
        "skipped",
    ]
    check = run.step("Check that every figure is fresh")
    errors = [line for line in check.stdout.splitlines() if line.startswith("::error ")]
    assert errors, check.stdout
    manifest = (checkout / "paper" / "figures.yaml").read_text(encoding="utf-8").splitlines()
    for error in errors:
        line = int(re.search(r"line=(\d+)", error).group(1))  # type: ignore[union-attr]
        figure = re.search(r"figure '([\w-]+)'", error).group(1)  # type: ignore[union-attr]
        assert error.startswith("::error file=paper/figures.yaml,")
        assert manifest[line - 1].strip() == f"{figure}:", "the annotation is on the figure's entry"
    assert "| figure | state | output | reasons |" in run.summary
    assert run.outputs["fresh"] == "false"
    assert run.outputs["credits-spent"] == ""


@pytest.mark.slow
def test_sync_with_the_key_spends_credits_then_passes_and_uploads_the_gallery(
    checkout: Path, tmp_path: Path, installed: Path, server: Emulator
) -> None:
    runner = _runner(checkout, tmp_path, installed, PAPERBANANA_BASE_URL=server.base_url)
    inputs = {"directory": "paper", "command": "sync", "api-key": "sk-action-test", "gallery": "true"}
    run = runner.run({**inputs, "max-credits": "500"})
    assert not run.failed, run.stdout + run.stderr
    spent = int(run.outputs["credits-spent"])
    assert spent > 0
    assert f"**{spent} credits spent**" in run.summary
    assert run.outputs["fresh"] == "true"
    assert "❌" not in run.summary.split("### figbuild status")[1]
    upload = run.step("Upload the gallery")
    assert upload.uses == "actions/upload-artifact@v4"
    assert (Path(upload.inputs["path"]) / "index.html").is_file()
    assert "sk-action-test" not in run.stdout + run.stderr + run.summary


@pytest.mark.slow
def test_best_effort_without_a_key_passes_and_warns(checkout: Path, tmp_path: Path, installed: Path) -> None:
    run = _runner(checkout, tmp_path, installed).run({"directory": "paper", "command": "best-effort"})
    assert not run.failed, run.stdout + run.stderr
    assert run.step("Sync the figures").outcome == "success"
    assert "::warning " in run.stdout
    assert run.outputs["fresh"] == "false", "the summary and outputs still say what is stale"
    assert run.step("Set up Python").inputs == {"python-version": "3.12"}
