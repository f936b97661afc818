"""The backend catalogue lint reads (silspec/spec/backends.py) agrees with the run registry."""

from __future__ import annotations

from silspec.run.backends import registry
from silspec.spec import backends as catalogue


def test_catalogue_built_ins_equal_the_registry_s():
    assert set(catalogue.BUILTIN_ANSWER_MODES) == set(registry.BUILTIN)
    assert catalogue.BUILTIN_ANSWER_MODES == registry.BUILTIN_ANSWER_MODES
    for name in registry.BUILTIN:
        assert catalogue.answer_modes(name) == registry.answer_modes(name)


def test_a_backend_registered_in_process_is_known_to_lint(monkeypatch):
    monkeypatch.setattr(catalogue, "_declared", {})
    monkeypatch.setattr(registry, "_extra", {})

    class Echo:
        answer_modes = frozenset({"sampled"})

    assert "echo_test" not in catalogue.known_backends()
    registry.register("echo_test", Echo)
    assert "echo_test" in catalogue.known_backends()
    assert catalogue.answer_modes("echo_test") == registry.answer_modes("echo_test") == frozenset({"sampled"})
    assert catalogue.known_backends() == registry.known_backends()


def test_an_unknown_backend_has_no_answer_modes():
    assert catalogue.answer_modes("no_such_backend") is None
    assert "no_such_backend" not in catalogue.known_backends()
