"""Renders a `PipelinePlan` into a V2 `AWS::CodePipeline::Pipeline` inside a child stack."""

from __future__ import annotations

import json
from typing import Any

from troposphere import Ref, Sub, codepipeline

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components.artifact_store import ArtifactStore
from generator.components.log_groups import encrypted_log_group
from generator.naming import Names
from generator.pipeline_plan import (
    ActionEnvironment,
    AlarmWatch,
    EntryCondition,
    JsonText,
    OnFailure,
    PipelinePlan,
    Stage,
    Step,
)


def _resolve(stack: ChildStack, value: Any) -> Any:
    if isinstance(value, Exported | RootParameter):
        return stack.use(value)
    if isinstance(value, ActionEnvironment):
        return action_environment(stack, value)
    if isinstance(value, JsonText):
        return json_text(stack, value.value)
    if isinstance(value, dict):
        return {k: _resolve(stack, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(stack, v) for v in value]
    return value


def render_step(stack: ChildStack, step: Step) -> codepipeline.Actions:
    props: dict[str, Any] = {
        "Name": step.name,
        "ActionTypeId": codepipeline.ActionTypeId(
            Category=step.category, Owner=step.owner, Provider=step.provider, Version=step.version
        ),
        "Configuration": _resolve(stack, dict(step.configuration)),
        "RunOrder": step.run_order,
    }
    if step.role is not None:
        props["RoleArn"] = _resolve(stack, step.role)  # a handle, or another account's ARN
    if step.inputs:
        props["InputArtifacts"] = [codepipeline.InputArtifacts(Name=n) for n in step.inputs]
    if step.outputs:
        props["OutputArtifacts"] = [codepipeline.OutputArtifacts(Name=n) for n in step.outputs]
    if step.namespace:
        props["Namespace"] = step.namespace
    if step.timeout_minutes:
        props["TimeoutInMinutes"] = step.timeout_minutes
    if step.region:
        props["Region"] = step.region
    if step.environment:
        props["EnvironmentVariables"] = [
            codepipeline.EnvironmentVariable(Name=name, Value=value, Type="PLAINTEXT")
            for name, value in step.environment
        ]
    return codepipeline.Actions(**props)


def failure_conditions(policy: OnFailure) -> codepipeline.FailureConditions:
    if policy.mode == "retry":
        return codepipeline.FailureConditions(
            Result="RETRY",
            RetryConfiguration=codepipeline.RetryConfiguration(
                RetryMode=policy.retry_mode.upper().replace("-", "_")
            ),
        )
    return codepipeline.FailureConditions(Result="ROLLBACK")


def success_conditions(stack: ChildStack, watch: AlarmWatch) -> codepipeline.SuccessConditions:
    rules = [
        codepipeline.RuleDeclaration(
            Name=f"Alarm{index + 1}",
            RuleTypeId=codepipeline.RuleTypeId(
                Category="Rule", Owner="AWS", Provider="CloudWatchAlarm", Version="1"
            ),
            Configuration={
                "AlarmName": _resolve(stack, name),
                "AlarmStates": "ALARM",
                "WaitTime": str(watch.wait_minutes),
            },
        )
        for index, name in enumerate(watch.alarm_names)
    ]
    return codepipeline.SuccessConditions(
        Conditions=[codepipeline.Condition(Result="ROLLBACK", Rules=rules)]
    )


def entry_conditions(entry: EntryCondition) -> codepipeline.BeforeEntryConditions:
    """BeforeEntry takes exactly one condition; its rules must all pass."""
    rules = [
        codepipeline.RuleDeclaration(
            Name=check.name,
            RuleTypeId=codepipeline.RuleTypeId(
                Category="Rule", Owner="AWS", Provider="VariableCheck", Version="1"
            ),
            Configuration={
                "Variable": check.variable,
                "Operator": check.operator,
                "Value": check.value,
            },
        )
        for check in entry.checks
    ]
    return codepipeline.BeforeEntryConditions(
        Conditions=[codepipeline.Condition(Result=entry.result, Rules=rules)]
    )


def render_stage(stack: ChildStack, stage: Stage, execution_mode: str) -> codepipeline.Stages:
    props: dict[str, Any] = {
        "Name": stage.name,
        "Actions": [render_step(stack, step) for step in stage.steps],
    }
    if stage.entry is not None:
        props["BeforeEntry"] = entry_conditions(stage.entry)
    if stage.on_failure is not None:
        props["OnFailure"] = failure_conditions(stage.on_failure)
    # A success condition can only roll back, which PARALLEL pipelines cannot do.
    if stage.watch is not None and stage.watch.alarm_names and execution_mode != "PARALLEL":
        props["OnSuccess"] = success_conditions(stack, stage.watch)
    return codepipeline.Stages(**props)


def render_trigger(plan: PipelinePlan) -> list[codepipeline.PipelineTriggerDeclaration]:
    trigger = plan.trigger
    if trigger is None:
        return []
    push: dict[str, Any] = {
        "Branches": codepipeline.GitBranchFilterCriteria(Includes=trigger.branches)
    }
    if trigger.include_paths or trigger.exclude_paths:
        paths: dict[str, Any] = {}
        if trigger.include_paths:
            paths["Includes"] = list(trigger.include_paths)
        if trigger.exclude_paths:
            paths["Excludes"] = list(trigger.exclude_paths)
        push["FilePaths"] = codepipeline.GitFilePathFilterCriteria(**paths)
    return [
        codepipeline.PipelineTriggerDeclaration(
            ProviderType="CodeStarSourceConnection",
            GitConfiguration=codepipeline.GitConfiguration(
                SourceActionName=trigger.source_step,
                Push=[codepipeline.GitPushFilter(**push)],
            ),
        )
    ]


def pipeline(stack: ChildStack, plan: PipelinePlan, store: ArtifactStore) -> codepipeline.Pipeline:
    role_arn = stack.use(plan.role)  # first: the stack's parameters keep their order
    home = codepipeline.ArtifactStore(
        Type="S3",
        Location=stack.use(store.bucket_name),
        EncryptionKey=codepipeline.EncryptionKey(Id=stack.use(store.key_arn), Type="KMS"),
    )
    props: dict[str, Any] = {
        "Name": plan.name,
        "PipelineType": "V2",
        "ExecutionMode": plan.execution_mode,
        "RoleArn": role_arn,
        "RestartExecutionOnUpdate": plan.restart_on_update,
        **({} if plan.regional_stores else {"ArtifactStore": home}),
        "Stages": [render_stage(stack, stage, plan.execution_mode) for stage in plan.stages],
    }
    if plan.regional_stores:
        props["ArtifactStores"] = [
            codepipeline.ArtifactStoreMap(Region=Ref("AWS::Region"), ArtifactStore=home),
            *(
                codepipeline.ArtifactStoreMap(
                    Region=regional.region,
                    ArtifactStore=codepipeline.ArtifactStore(
                        Type="S3",
                        Location=regional.bucket,
                        EncryptionKey=codepipeline.EncryptionKey(
                            Id=regional.key_arn(stack.use(store.key_arn)), Type="KMS"
                        ),
                    ),
                )
                for regional in plan.regional_stores
            ),
        ]
    triggers = render_trigger(plan)
    if triggers:
        props["Triggers"] = triggers
    return stack.add(codepipeline.Pipeline("Pipeline", **props))


def json_text(stack: ChildStack, value: Any) -> Any:
    """`value` as compact JSON text; stack handles and intrinsics in it become Fn::Sub
    variables, and a literal `${` is escaped so Fn::Sub leaves it alone."""
    substitutions: dict[str, Any] = {}

    def encode(item: Any) -> Any:
        if isinstance(item, str):
            return item.replace("${", "${!")
        if isinstance(item, dict):
            return {key: encode(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [encode(v) for v in item]
        if isinstance(item, bool | int | float) or item is None:
            return item
        placeholder = f"Value{len(substitutions)}"
        substitutions[placeholder] = _resolve(stack, item)
        return f"${{{placeholder}}}"

    text = json.dumps(encode(value), separators=(",", ":"))
    return Sub(text, **substitutions) if substitutions else text.replace("${!", "${")


def action_environment(stack: ChildStack, env: ActionEnvironment) -> Any:
    """The CodeBuild action's EnvironmentVariables: a JSON array in a string."""
    return json_text(
        stack,
        [{"name": name, "value": value, "type": "PLAINTEXT"} for name, value in env.variables],
    )


def managed_compute_log_group(stack: ChildStack, names: Names, key_arn: Any, days: int) -> None:
    """Actions that run on CodePipeline-managed compute (EKS, InspectorScan) log here."""
    encrypted_log_group(stack, "PipelineActionLogGroup", names.pipeline_log_group(), key_arn, days)


def console_url(name: str) -> Sub:
    return Sub(
        "https://${AWS::Region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
        f"{name}/view?region=${{AWS::Region}}"
    )
