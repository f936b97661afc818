"""Security: templates cannot reach Python internals; files cannot leave the spec tree."""

from __future__ import annotations

import os

import pytest

from silspec.spec.load import load_spec

HEAD = '''silspec 1
study s { seed = 1 }
scale s3 { 1 = "a"  2 = "b"  3 = "c" }
survey sv { item Q1 { text = "q"  scale = s3  benchmark = [0.2, 0.5, 0.3] } }
parser fi { extract = first_integer }
model m { backend = openai  name = "x"  api_key = env("OPENAI_API_KEY") }
'''


def tree(tmp_path, body: str, name: str = "spec.sil"):
    (tmp_path / "silspec.toml").write_text("# root\n")
    spec = tmp_path / "specs" / name
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(HEAD + body, encoding="utf-8")
    return spec


def codes(result, severity="error"):
    return [d.code for d in result.diagnostics if d.severity == severity]


@pytest.mark.parametrize(
    "template",
    [
        "{{ item.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ item['__class__'] }}",
        "{% if false %}{{ cycler.__init__.__globals__ }}{% endif %}",  # even in a branch never taken
        "{{ item.text.format.__globals__ }}",
    ],
)
def test_template_reaching_python_internals_is_an_error(tmp_path, template):
    spec = tree(tmp_path, f'template t = "{template}"\ncondition c {{ model = m  items = sv.*  prompt = t  parser = fi  countries = ["KOR"] }}\n')
    result = load_spec(str(spec), env={})
    assert not result.ok
    bad = [d for d in result.diagnostics if d.severity == "error"]
    assert bad[0].code in ("SIL603", "SIL601"), bad
    assert any(d.code == "SIL603" for d in bad) or "unsafe" in bad[0].message


def test_sandbox_refuses_unsafe_calls_at_render_time(tmp_path):
    # no underscore attribute is written, but the sandbox still refuses to call str.format on internals
    spec = tree(tmp_path, 'template t = "{{ \'{0.__class__}\'.format(item) }}"\ncondition c { model = m  items = sv.*  prompt = t  parser = fi  countries = ["KOR"] }\n')
    result = load_spec(str(spec), env={})
    assert any(d.code in ("SIL603", "SIL604") for d in result.diagnostics), result.diagnostics


def test_file_outside_the_tree_is_an_error(tmp_path):
    spec = tree(tmp_path, 'template t = file("../../etc/passwd")\n')
    result = load_spec(str(spec), env={})
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code == "SIL702" and "outside the spec tree" in d.message and d.span.line == 7


def test_absolute_path_outside_the_tree_is_an_error(tmp_path):
    spec = tree(tmp_path, 'template t = file("/etc/hostname")\n')
    assert codes(load_spec(str(spec), env={})) == ["SIL702"]


def test_symlink_pointing_outside_is_an_error(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}_outside.j2"
    outside.write_text("secret {{ item.text }}")
    spec = tree(tmp_path, 'template t = file("templates/link.j2")\n')
    (tmp_path / "templates").mkdir()
    os.symlink(outside, tmp_path / "templates" / "link.j2")
    assert codes(load_spec(str(spec), env={})) == ["SIL702"]


def test_file_inside_the_tree_at_root_or_next_to_spec(tmp_path):
    spec = tree(tmp_path, 'template t = file("templates/p.j2")\ntemplate u = file("local.j2")\n'
                          'condition c { model = m  items = sv.*  system = u  prompt = t  parser = fi  countries = ["KOR"] }\n')
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "p.j2").write_text("{{ item.text }} in {{ country }}")
    (spec.parent / "local.j2").write_text("You answer surveys.")
    result = load_spec(str(spec), env={})
    assert result.ok, result.diagnostics
    assert [f.path for f in result.spec.files] == ["specs/local.j2", "templates/p.j2"]
    assert result.spec.templates["t"].source.startswith("{{ item.text }}")


def test_literal_api_key_is_an_error_and_never_echoed(tmp_path):
    spec = tree(tmp_path, 'model leak { backend = openai  name = "x"  api_key = "sk-THIS-IS-SECRET" }\n')
    result = load_spec(str(spec), env={})
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code == "SIL801" and 'env("' in d.hint
    assert all("sk-THIS-IS-SECRET" not in (x.message + (x.hint or "")) for x in result.diagnostics)


def test_unset_external_is_a_warning_and_set_one_is_recorded(tmp_path):
    body = ('population p { sampling = rows  rows = microdata(env("WVS_MICRODATA"))  columns = ["sex"] }\n'
            'condition c { model = m  population = p  items = sv.*  prompt = "{{ persona.sex }} {{ item.text }}"  parser = fi }\n'
            'analysis { metric js {} }\n')
    spec = tree(tmp_path, body)
    result = load_spec(str(spec), env={})
    assert result.ok
    (w,) = [d for d in result.diagnostics if d.severity == "warning"]
    assert w.code == "SIL703" and w.message == "provide WVS_MICRODATA to run this spec"
    data = tmp_path / "wvs.csv"
    data.write_text("sex\n1\n")
    result = load_spec(str(spec), env={"WVS_MICRODATA": str(data)})
    assert result.ok and not [d for d in result.diagnostics if d.severity == "warning"]
    assert result.spec.populations["p"].external.path == str(data)
