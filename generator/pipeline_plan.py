"""A plain model of a pipeline: stages of steps, gates and failure policies.

Blueprints compose this from the spec; `generator.components.pipeline` renders it into an
`AWS::CodePipeline::Pipeline`. Configuration values may be stack handles (`Exported`,
`RootParameter`), resolved only when the plan is rendered into a stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from generator.assembly.stack import StackValue

Category = Literal["Source", "Build", "Test", "Deploy", "Approval", "Invoke"]
Owner = Literal["AWS", "ThirdParty", "Custom"]


@dataclass(frozen=True)
class ActionEnvironment:
    """The CodeBuild action's EnvironmentVariables: plaintext values or stack handles."""

    variables: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class JsonText:
    """A configuration value that is a JSON document in a string (ParameterOverrides, ...);
    stack handles inside it are substituted when the plan is rendered."""

    value: Any


@dataclass(frozen=True)
class Step:
    """One action."""

    name: str
    category: Category
    provider: str
    configuration: Mapping[str, Any]
    role: StackValue | Any = None  # a handle, or a literal ARN (another account's role)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    run_order: int = 1
    namespace: str | None = None
    timeout_minutes: int | None = None
    environment: tuple[tuple[str, str], ...] = ()  # action-level variables (EKS, Commands)
    region: str | None = None  # a cross-region action runs there
    owner: Owner = "AWS"  # "Custom": a CustomActionType whose job workers poll for the job
    version: str = "1"  # the action type's version (a custom action type sets its own)


@dataclass(frozen=True)
class OnFailure:
    mode: Literal["rollback", "retry"] = "rollback"
    retry_mode: Literal["failed-actions", "all-actions"] = "failed-actions"


@dataclass(frozen=True)
class AlarmWatch:
    """After the stage succeeds, watch these alarms; roll the stage back if one fires (not in
    PARALLEL pipelines, which cannot roll back: there the watch is left out)."""

    alarm_names: tuple[Any, ...]  # names or stack handles; at most 5 per condition
    wait_minutes: int = 10


@dataclass(frozen=True)
class VariableCheck:
    """A CodePipeline VariableCheck rule: compare a pipeline variable with a value."""

    name: str  # the rule's name, shown in the console when the check fails
    variable: str  # a reference such as #{SourceVariables.BranchName}
    value: str
    operator: Literal["EQ", "NE", "CONTAINS", "MATCHES"] = "EQ"


@dataclass(frozen=True)
class EntryCondition:
    """Before the stage runs, evaluate these checks; if one fails, the stage fails (FAIL: the
    execution stops there) or is skipped (SKIP)."""

    checks: tuple[VariableCheck, ...]
    result: Literal["FAIL", "SKIP"] = "FAIL"


@dataclass(frozen=True)
class Stage:
    name: str
    steps: tuple[Step, ...]
    on_failure: OnFailure | None = None
    watch: AlarmWatch | None = None
    entry: EntryCondition | None = None


@dataclass(frozen=True)
class GitTrigger:
    source_step: str
    branch: str
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    extra_branches: tuple[str, ...] = ()  # pushes to these start the pipeline too

    @property
    def branches(self) -> list[str]:
        return [self.branch, *(b for b in self.extra_branches if b != self.branch)]


@dataclass(frozen=True)
class RegionalStore:
    """The artifact store of a region other than the pipeline's, known by name."""

    region: str
    bucket: str

    def key_arn(self, home_key_arn: Any) -> Any:
        """The replica, in this region, of the pipeline's multi-Region key: same key id."""
        from troposphere import Select, Split, Sub

        return Sub(
            f"arn:${{AWS::Partition}}:kms:{self.region}:${{AWS::AccountId}}:key/${{KeyId}}",
            KeyId=Select(1, Split("/", home_key_arn)),
        )


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    execution_mode: str
    stages: tuple[Stage, ...]
    role: StackValue
    trigger: GitTrigger | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    regional_stores: tuple[RegionalStore, ...] = ()
    restart_on_update: bool = False  # a pipeline that updates itself starts over when it does

    def steps(self) -> list[tuple[Stage, Step]]:
        return [(stage, step) for stage in self.stages for step in stage.steps]
