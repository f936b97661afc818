"""`silspec completion bash|zsh`: the script completes what the parser accepts, run in real bash."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from silspec.cli.completion import script
from silspec.cli.main import COMMANDS, build_parser, main

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "silspec.bash"
    path.write_text(script(build_parser(), "bash"), encoding="utf-8")
    return path


def complete(bash_script, line: str, cwd) -> list[str]:
    """COMPREPLY for the command line ``line`` (completing its last word), from real bash."""
    words = line.split(" ")
    quoted = " ".join(shlex.quote(w) for w in words)  # the last word may be empty: ''
    program = (
        f"source {bash_script}\n"
        f"COMP_WORDS=({quoted})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_silspec\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run([BASH, "--norc", "-c", program], capture_output=True, text=True, cwd=cwd, timeout=30)
    assert out.returncode == 0, out.stderr
    return sorted(w for w in out.stdout.splitlines() if w)


def test_commands_complete(bash_script, tmp_path):
    assert complete(bash_script, "silspec ", tmp_path) == sorted(c for c in COMMANDS)
    assert complete(bash_script, "silspec l", tmp_path) == ["lint"]
    assert complete(bash_script, "silspec --v", tmp_path) == ["--version"]


def test_options_and_their_choices_complete(bash_script, tmp_path):
    assert complete(bash_script, "silspec run --c", tmp_path) == ["--cache", "--condition", "--cpus-per-worker"]
    assert complete(bash_script, "silspec run --engine ", tmp_path) == ["local", "ray"]
    assert "--check-env" in complete(bash_script, "silspec lint --", tmp_path)
    assert complete(bash_script, "silspec lint --format ", tmp_path) == ["github", "json", "text"]
    assert complete(bash_script, "silspec report x --format h", tmp_path) == ["html"]
    assert complete(bash_script, "silspec completion ", tmp_path) == ["bash", "zsh"]
    assert complete(bash_script, "silspec run --limit ", tmp_path) == []  # a number: nothing offered


def test_sub_actions_complete(bash_script, tmp_path):
    assert complete(bash_script, "silspec models ", tmp_path) == ["fetch", "list"]
    assert complete(bash_script, "silspec models fetch ", tmp_path) == ["smollm2"]
    assert complete(bash_script, "silspec models fetch --", tmp_path) == ["--dest", "--help"]


def test_specs_complete_to_sil_files_and_run_dirs_to_folders(bash_script, tmp_path):
    (tmp_path / "study.sil").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "runs").mkdir()
    assert complete(bash_script, "silspec run ", tmp_path) == ["runs", "study.sil"]
    assert complete(bash_script, "silspec lint --quiet s", tmp_path) == ["study.sil"]
    assert complete(bash_script, "silspec report ", tmp_path) == ["runs"]
    assert complete(bash_script, "silspec run study.sil --out ", tmp_path) == ["runs"]


def test_every_option_of_every_command_is_in_the_script():
    text = script(build_parser(), "bash")
    parser = build_parser()
    for name, sub in next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)).choices.items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--"):
                    assert option in text, (name, option)


def test_the_command_prints_bash_and_zsh(capsys):
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("complete -o filenames -F _silspec silspec")
    assert main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert zsh.startswith("#compdef silspec") and "bashcompinit" in zsh
    zsh_bin = shutil.which("zsh")
    if zsh_bin:
        subprocess.run([zsh_bin, "-n", "-c", zsh], check=True, timeout=30)
