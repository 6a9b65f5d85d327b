"""What a blueprint is, and the registry that finds them by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

from generator.assembly.assemble import TemplateSet
from generator.components.chaos import check_chaos
from generator.components.chat import check_chat
from generator.components.custom_actions import check_custom_actions
from generator.components.feature_flags import check_feature_flags
from generator.components.load_test import check_load_test
from generator.spec.checks import SpecIssue, check_common
from generator.spec.model import PipelineSpec


class Blueprint(ABC):
    """A kind of pipeline: its spec model, its extra checks, and how it composes components."""

    name: ClassVar[str]
    summary: ClassVar[str]
    spec_model: ClassVar[type[PipelineSpec[Any]]]

    def checks(self, spec: PipelineSpec[Any]) -> Iterator[SpecIssue]:
        """Cross-field rules; blueprints extend, and should keep, the common ones."""
        yield from check_common(spec)
        yield from check_chat(spec)
        yield from check_custom_actions(spec)
        yield from check_load_test(spec)
        yield from check_chaos(spec)
        yield from check_feature_flags(spec)

    @abstractmethod
    def build(self, spec: Any, template_format: str) -> TemplateSet:
        """Compose the template set for a validated spec. Pure: no I/O."""

    @abstractmethod
    def starter_spec(self, name: str) -> str:
        """A commented spec to start from (`pipegen new`)."""


@cache
def registry() -> dict[str, Blueprint]:
    from blueprints import ALL

    return {blueprint.name: blueprint for blueprint in ALL}
