"""The bounded sandbox: each way a stranger's template could exhaust memory or time is refused."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from silspec.templating.sandbox import MAX_ITEMS, MAX_RENDERED_CHARS, TemplateLimitError, deep_size
from silspec.templating.context import make_environment

VECTORS = {
    "string repeat": "{{ 'a' * 10**10 }}",
    "list repeat": "{{ ([1] * 10**9)|length }}",
    "bytes repeat": "{{ ('a'.encode() * 10**10)|length }}",
    "power": "{{ 2 ** 1000000000 }}",
    "big int product": "{{ 10**5000 * 10**5000 * 10**50000 }}",
    "center": '{{ "a"|center(1000000000) }}',
    "indent": "{{ 'a'|indent(1000000000, true) }}",
    "indent by string": "{{ ('a\n' * 50000)|indent('x' * 1000) }}",
    "wordwrap": "{{ 'a'|wordwrap(1000000000) }}",
    "wordwrap wrapstring": "{{ ('a ' * 50000)|wordwrap(1, wrapstring='x' * 100000) }}",
    "truncate": "{{ 'a'|truncate(1000000000) }}",
    "format filter": "{{ '%1000000000s'|format(1) }}",
    "percent padding": "{{ '%1000000000d' % 1 }}",
    "percent star width": "{{ '%*d' % (1000000000, 1) }}",
    "str.format padding": "{{ '{:>1000000000}'.format(1) }}",
    "str.format nested width": "{{ '{:>{}}'.format(1, 10**9) }}",
    "huge width": "{{ 'a'|center(10**5000) }}",
    "huge repeat count": "{{ 'a' * 10**5000 }}",
    "5000-digit padding": "{{ ('%' ~ '9' * 5000 ~ 'd') % 1 }}",
    "ljust": "{{ 'a'.ljust(10**9) }}",
    "zfill": "{{ '1'.zfill(10**9) }}",
    "expandtabs": "{{ 'x\tx'.expandtabs(10**9) }}",
    "replace": "{{ ('a' * 90000).replace('a', 'bbbbb') }}",
    "replace filter": "{{ ('a' * 90000)|replace('a', 'bbbbb') }}",
    "batch": "{{ [1]|batch(1000000000, 'x')|list }}",
    "slice": "{{ [1]|slice(1000000000, 'x')|list }}",
    "join of a huge range": "{{ range(99999)|map('string')|join('x' * 1000) }}",
    "join of long strings": "{{ (['a' * 90000] * 3)|join }}",
    "str.join": "{{ ','.join(['a' * 90000] * 3) }}",
    "nested list printed": "{{ [[1] * 1000] * 1000 }}",
    "nested list as json": "{{ ([[1] * 300] * 300)|tojson }}",
    "plus": "{{ ('a' * 99999) + ('b' * 99999) + ('c' * 99999) }}",
    "tilde doubling": "{% set ns = namespace(x='a' * 50000) %}{% for i in range(30) %}"
                      "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}",
    "output loop": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "macro buffer": "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"
                    "{% endmacro %}{{ m() }}",
    "nested empty loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "lipsum": "{{ lipsum(10**6) }}",
}


@pytest.mark.parametrize("source", VECTORS.values(), ids=VECTORS.keys())
def test_resource_vector_is_refused(source):
    with pytest.raises(TemplateLimitError):
        make_environment().from_string(source).render()


def test_mutating_methods_are_refused():
    # `l.extend(l)` in a loop doubles memory per iteration; prompts never need mutation
    with pytest.raises(SecurityError, match="extend"):
        make_environment().from_string("{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}").render()


def test_normal_templates_still_render():
    env = make_environment()
    source = (
        "{{ persona.age }}|{{ '%5d'|format(3) }}|{{ [1, 2]|join(', ') }}|{{ 'ab'|center(6) }}|"
        "{{ 'x' * 3 }}|{{ 2 ** 10 }}|{{ '{:>4}'.format(7) }}|{{ 'a b'|replace(' ', '-') }}|"
        "{{ 'a' ~ 'b' }}|{{ ([1, 2, 3]|batch(2)|list)|length }}|{{ 'abc'|truncate(3, leeway=0) }}"
    )
    assert env.from_string(source).render(persona={"age": 30}) == "30|    3|1, 2|  ab  |xxx|1024|   7|a-b|ab|2|abc"


def test_limits_sit_just_above_legitimate_sizes():
    env = make_environment()
    assert len(env.from_string("{{ 'a' * n }}").render(n=MAX_ITEMS)) == MAX_ITEMS
    with pytest.raises(TemplateLimitError):
        env.from_string("{{ 'a' * n }}").render(n=MAX_ITEMS + 1)
    text = "b" * MAX_RENDERED_CHARS
    assert env.from_string("{{ t }}").render(t=text) == text
    with pytest.raises(TemplateLimitError, match="200,000"):
        env.from_string("{{ t }}!").render(t=text)


def test_each_render_gets_a_fresh_budget():
    template = make_environment().from_string("{% for i in range(90000) %}{% endfor %}{{ 'x' * 90000 }}")
    for _ in range(30):  # 30 renders x 180,000 work units: far over one budget, fine one by one
        assert len(template.render()) == 90000


def test_deep_size_counts_shared_lists_per_use():
    inner = [1] * 10
    assert deep_size([inner] * 10) == 10 + 10 * (10 + 10)
    assert deep_size("abc") == 3 and deep_size(7) == 1
