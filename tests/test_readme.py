"""The README's spec reference stays true: every spec field is documented there."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from generator.blueprint import registry

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for inner in _models(field.annotation):
            names |= _fields(inner, seen)
    return names


def test_every_spec_field_is_in_the_readme() -> None:
    for blueprint in registry().values():
        missing = sorted(
            f for f in _fields(blueprint.spec_model, set()) if not re.search(rf"[`.]{f}`", README)
        )
        assert not missing, f"document these {blueprint.name} spec fields in README.md: {missing}"


def test_readme_shows_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make templates" in first_screen
    assert "make test" in first_screen
