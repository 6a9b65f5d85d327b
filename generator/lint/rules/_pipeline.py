"""What the pipeline semantics rules (E96xx-E98xx) share: a read-only view of every
AWS::CodePipeline::Pipeline (stages, actions, their type ids, artifacts and configuration, in
every `Fn::If` alternative), the action configuration schemas in generator/data, and the
wording of messages (`where`: the resource and the property path a finding is about).

Not a rule module: cfn-lint loads only `[A-Za-z1-9]*.py` from a rules directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from generator.lint.rules._helpers import (
    ACTION_CONFIGURATIONS,
    MISSING,
    UNKNOWN,
    PathT,
    alternatives,
    is_intrinsic,
    items,
    resources_of,
)

PIPELINE = "AWS::CodePipeline::Pipeline"


# -- wording -------------------------------------------------------------------------------------


def property_path(path: Sequence[str | int]) -> str:
    """`Stages[3].Actions[0].Configuration` for the path of a resource's property (the
    `Resources/<id>/Properties` prefix left out); `Fn::If` branches show as `Fn::If[1]`."""
    steps = list(path)
    if len(steps) >= 2 and steps[0] == "Resources":
        steps = steps[2:]
    if steps and steps[0] == "Properties":
        steps = steps[1:]
    text = ""
    for step in steps:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text or "Properties"


def where(path: Sequence[str | int]) -> str:
    """`Pipeline Stages[3].Actions[0].Configuration`: the resource and the property path."""
    steps = list(path)
    if len(steps) > 1 and steps[0] == "Parameters":
        return f"Parameter {steps[1]} {property_path(['Resources', *steps[1:]])}"
    resource = str(steps[1]) if len(steps) > 1 and steps[0] == "Resources" else "template"
    return f"{resource} {property_path(path)}"


def literal(value: Any) -> Any:
    """The value itself when it is written out; UNKNOWN for an intrinsic function."""
    if value is MISSING or value is UNKNOWN:
        return value
    return UNKNOWN if is_intrinsic(value) else value


def text(value: Any) -> str | None:
    """A literal string (numbers and booleans as CloudFormation passes them), else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def closest(word: str, choices: Sequence[str]) -> str | None:
    """The choice `word` is most likely a misspelling of (case differences and up to two
    edits), or None."""
    best: tuple[int, str] | None = None
    for choice in choices:
        if choice.lower() == word.lower():
            return choice
        distance = edit_distance(word.lower(), choice.lower())
        if distance <= 2 and (best is None or distance < best[0]):
            best = (distance, choice)
    return best[1] if best else None


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of two neighbours counts as one edit)."""
    if abs(len(a) - len(b)) > 2:
        return 3
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    guess = closest(word, choices)
    return f" (did you mean {guess!r}?)" if guess and guess != word else ""


# -- the pipeline model ----------------------------------------------------------------------------


@dataclass
class Artifact:
    name: Any  # str or UNKNOWN
    path: PathT


@dataclass
class Action:
    pipeline: str  # logical id
    stage: Stage
    index: int
    body: Mapping[str, Any]
    path: PathT

    @property
    def name(self) -> Any:
        return literal(self.body.get("Name", MISSING))

    @property
    def label(self) -> str:
        """`stage 'Build' action 'Build'`, for messages."""
        stage = self.stage.name if isinstance(self.stage.name, str) else "?"
        name = self.name if isinstance(self.name, str) else "?"
        return f"stage {stage!r} action {name!r}"

    def type_id(self, key: str) -> Any:
        type_id = self.body.get("ActionTypeId")
        if not isinstance(type_id, Mapping) or is_intrinsic(type_id):
            return UNKNOWN
        return literal(type_id.get(key, MISSING))

    @property
    def category(self) -> Any:
        return self.type_id("Category")

    @property
    def owner(self) -> Any:
        return self.type_id("Owner")

    @property
    def provider(self) -> Any:
        return self.type_id("Provider")

    @property
    def run_order(self) -> int | None:
        """RunOrder (1 when it is not set); None when an intrinsic function hides it."""
        value = self.body.get("RunOrder", 1)
        return whole_number(value) if not is_intrinsic(value) else None

    def artifacts(self, key: str) -> list[Artifact] | None:
        """InputArtifacts or OutputArtifacts; None when an intrinsic function hides the list."""
        value = self.body.get(key, [])
        if is_intrinsic(value) or not isinstance(value, list):
            return None
        found = []
        for index, item in enumerate(value):
            at: PathT = [*self.path, key, index]
            if isinstance(item, Mapping) and not is_intrinsic(item):
                found.append(Artifact(literal(item.get("Name", MISSING)), [*at, "Name"]))
            else:
                found.append(Artifact(UNKNOWN, at))
        return found

    @property
    def configuration(self) -> Mapping[str, Any] | None:
        """The configuration (an empty one when it is not set); None when an intrinsic
        function stands for it."""
        value = self.body.get("Configuration", {})
        if not isinstance(value, Mapping) or is_intrinsic(value):
            return None
        return value

    @property
    def configuration_path(self) -> PathT:
        return [*self.path, "Configuration"] if "Configuration" in self.body else self.path

    def setting(self, key: str) -> list[tuple[Any, PathT]]:
        """Every value of a configuration key (each Fn::If branch), MISSING when absent."""
        configuration = self.configuration
        if configuration is None:
            return [(UNKNOWN, self.path)]
        if key not in configuration:
            return [(MISSING, self.configuration_path)]
        return [
            (literal(value), where)
            for value, where in alternatives(configuration[key], [*self.configuration_path, key])
        ]

    def setting_text(self, key: str) -> str | None:
        """The configuration value when it is one literal text in every alternative."""
        values = {text(value) for value, _ in self.setting(key)}
        if len(values) != 1:
            return None
        return next(iter(values))


@dataclass
class Stage:
    index: int
    body: Mapping[str, Any]
    path: PathT
    actions: list[Action] = field(default_factory=list)

    @property
    def name(self) -> Any:
        return literal(self.body.get("Name", MISSING))

    @property
    def label(self) -> str:
        return f"stage {self.name!r}" if isinstance(self.name, str) else f"stage {self.index}"

    @property
    def is_source(self) -> bool:
        """The stage holds a Source action (by convention the first stage)."""
        return any(action.category == "Source" for action in self.actions)


@dataclass
class Pipeline:
    name: str  # logical id
    resource: Mapping[str, Any]
    properties: Mapping[str, Any]
    path: PathT  # of the properties
    stages: list[Stage]

    def value(self, key: str) -> list[tuple[Any, PathT]]:
        if key not in self.properties:
            return [(MISSING, self.path)]
        return [
            (literal(value), at)
            for value, at in alternatives(self.properties[key], [*self.path, key])
        ]

    @property
    def actions(self) -> Iterator[Action]:
        for stage in self.stages:
            yield from stage.actions

    def pipeline_types(self) -> list[tuple[Any, PathT]]:
        """PipelineType in each alternative; MISSING means CloudFormation's default, V1."""
        return self.value("PipelineType")

    def is_v1(self) -> tuple[bool, PathT, str]:
        """(whether some alternative is a V1 pipeline, the path to report, how it is V1)."""
        for value, at in self.pipeline_types():
            if value is MISSING:
                return True, at, "sets no PipelineType, so it is a V1 pipeline"
            if value == "V1":
                return True, at, "is a V1 pipeline (PipelineType: V1)"
        return False, self.path, ""

    def execution_modes(self) -> set[str]:
        modes = set()
        for value, _ in self.value("ExecutionMode"):
            if value is MISSING:
                modes.add("SUPERSEDED")  # CodePipeline's default
            elif isinstance(value, str):
                modes.add(value)
        return modes


def _stages(pipeline_path: PathT, properties: Mapping[str, Any]) -> list[Stage]:
    stages: list[Stage] = []
    for index, (body, at) in enumerate(
        items(properties.get("Stages", MISSING), [*pipeline_path, "Stages"])
    ):
        if not isinstance(body, Mapping):
            continue
        stage = Stage(index, body, at)
        for position, (action, spot) in enumerate(
            items(body.get("Actions", MISSING), [*at, "Actions"])
        ):
            if isinstance(action, Mapping):
                stage.actions.append(Action(str(pipeline_path[1]), stage, position, action, spot))
        stages.append(stage)
    return stages


def pipelines(cfn: Any) -> Iterator[Pipeline]:
    for name, resource, properties, base in resources_of(cfn, PIPELINE):
        yield Pipeline(name, resource, properties, base, _stages(base, properties))


# -- action configuration schemas ------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int | None

    def allows(self, count: int) -> bool:
        return count >= self.minimum and (self.maximum is None or count <= self.maximum)

    def __str__(self) -> str:
        if self.maximum == self.minimum:
            return f"exactly {self.minimum}"
        if self.maximum is None:
            return f"at least {self.minimum}"
        return f"{self.minimum} to {self.maximum}"


def _bounds(data: Any) -> Bounds:
    data = data or {}
    maximum = data.get("max")
    return Bounds(int(data.get("min", 0)), None if maximum is None else int(maximum))


@dataclass(frozen=True)
class Condition:
    key: str
    values: tuple[str, ...]
    require: tuple[str, ...]
    input_artifacts: Bounds | None


@dataclass(frozen=True)
class ModeGroup:
    name: str
    keys: tuple[str, ...]
    requires: tuple[str, ...]


@dataclass(frozen=True)
class ActionSchema:
    provider: str
    categories: tuple[str, ...]
    source: str
    v2_only: bool
    required: tuple[str, ...]
    optional: tuple[str, ...]
    values: Mapping[str, tuple[str, ...]]
    list_values: Mapping[str, tuple[str, ...]]
    ranges: Mapping[str, tuple[int | None, int | None]]
    artifact_keys: tuple[str, ...]
    artifact_path_keys: tuple[str, ...]
    together: tuple[tuple[str, ...], ...]
    modes: tuple[ModeGroup, ...]
    one_mode_required: bool
    when: tuple[Condition, ...]
    input_artifacts: Bounds
    output_artifacts: Bounds

    @property
    def keys(self) -> tuple[str, ...]:
        return self.required + self.optional


def _schema(provider: str, data: Mapping[str, Any]) -> ActionSchema:
    exclusive = data.get("exclusive") or {}
    return ActionSchema(
        provider=provider,
        categories=tuple(data["categories"]),
        source=str(data["source"]),
        v2_only=bool(data.get("v2_only", False)),
        required=tuple(data.get("required") or ()),
        optional=tuple(data.get("optional") or ()),
        values={k: tuple(str(x) for x in v) for k, v in (data.get("values") or {}).items()},
        list_values={
            k: tuple(str(x) for x in v) for k, v in (data.get("list_values") or {}).items()
        },
        ranges={k: (v.get("min"), v.get("max")) for k, v in (data.get("ranges") or {}).items()},
        artifact_keys=tuple(data.get("artifact_keys") or ()),
        artifact_path_keys=tuple(data.get("artifact_path_keys") or ()),
        together=tuple(tuple(group) for group in data.get("together") or ()),
        modes=tuple(
            ModeGroup(name, tuple(group["keys"]), tuple(group["requires"]))
            for name, group in (exclusive.get("groups") or {}).items()
        ),
        one_mode_required=bool(exclusive.get("one_of", False)),
        when=tuple(
            Condition(
                str(item["key"]),
                tuple(str(x) for x in item["in"]),
                tuple(item.get("require") or ()),
                _bounds(item["input_artifacts"]) if "input_artifacts" in item else None,
            )
            for item in data.get("when") or ()
        ),
        input_artifacts=_bounds(data.get("input_artifacts")),
        output_artifacts=_bounds(data.get("output_artifacts")),
    )


@cache
def action_schemas() -> dict[str, tuple[ActionSchema, ...]]:
    """Provider -> its schemas (one per set of categories), from generator/data."""
    data = yaml.safe_load(ACTION_CONFIGURATIONS.read_text()) or {}
    return {
        str(provider): tuple(_schema(str(provider), entry) for entry in entries)
        for provider, entries in data.items()
    }


def schema_for(action: Action) -> tuple[ActionSchema | None, tuple[ActionSchema, ...]]:
    """(the schema of the action's provider and category, all schemas of the provider).
    Both empty for an action that is not owned by AWS or whose provider is not listed."""
    if action.owner != "AWS" or not isinstance(action.provider, str):
        return None, ()
    schemas = action_schemas().get(action.provider, ())
    for schema in schemas:
        if action.category in schema.categories:
            return schema, schemas
    return None, schemas


def v2_only_providers() -> dict[str, str]:
    """Provider -> the action-reference page that says it is V2 only."""
    return {
        provider: schema.source
        for provider, schemas in action_schemas().items()
        for schema in schemas
        if schema.v2_only
    }
