"""The YAML writer: whatever it writes parses back to exactly the template it was given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.rendering import canonical, render
from generator.spec.loader import load_spec
from tests.cfn_yaml import parse

REPO = Path(__file__).resolve().parent.parent


def test_every_generated_template_round_trips() -> None:
    checked = 0
    for spec_path in sorted((REPO / "pipelines").glob("*.yaml")):
        loaded = load_spec(spec_path)
        template_set = loaded.blueprint.build(loaded.spec, "yaml")
        for _, template in template_set.templates():
            document = canonical(template.to_dict())
            assert parse(render(document)) == document
            checked += 1
    assert checked >= 14


scalars = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="ab :#-{}[],'\"!&*|>%@`?\n\t$\\/", max_size=20),
    st.sampled_from(
        ["yes", "no", "on", "off", "null", "~", "1.5", "0x1F", "2012-10-17", "=", "1:30"]
    ),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=12), children, max_size=4),
        st.builds(lambda v: {"Ref": v}, st.text(min_size=1, max_size=10)),
        st.builds(
            lambda v: {"Fn::Sub": v},
            st.one_of(st.text(max_size=20), st.lists(children, max_size=2)),
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), documents, min_size=1, max_size=5))
def test_any_document_round_trips(document: dict[str, Any]) -> None:
    assert parse(render(document)) == document


def test_text_is_readable_where_it_can_be() -> None:
    text = render(
        {
            "Resources": {
                "A": {
                    "Type": "X",
                    "Properties": {"Ref": {"Ref": "B"}, "S": "${A}/x", "Spec": "a\nb\n"},
                }
            }
        }
    )
    assert "Ref: !Ref B" in text
    assert "S: ${A}/x" in text
    assert "Spec: |\n" in text
