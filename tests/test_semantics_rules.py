"""pipegen's pipeline semantics rules (E96xx-E98xx in generator/lint/rules): the mistakes
cfn-lint and checkov let through (docs/pitfalls: V2-only features, stage conditions, action
configuration, regions, CodeDeploy, StackSets, IAM condition keys, public topic policies, SAM).

Mutation tests take a real generated template from output/ (a hand-written StackSet template
for the StackSet rules), plant one mistake and expect the exact rule, path and message; the
untouched templates pass. Table tests cover the good and bad variants of each check on small
snippets. Only the semantics rules run here (the gate's own rule objects and configuration),
which keeps each case to a few milliseconds; tests/test_pipegen_lint.py runs them with
everything else.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from generator.lint import gate
from generator.lint.gate import GUARDRAIL_RULES
from generator.lint.rules._pipeline import action_schemas
from tests.cfn_yaml import load_template

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "output"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "semantics"

SEMANTICS_IDS = {
    "E9601", "E9602", "E9603", "E9604", "E9605", "E9606",
    "E9701", "E9702",
    "E9801", "E9802", "E9803",
}  # fmt: skip

Found = tuple[str, tuple[Any, ...], str]  # (rule id, path, message)


def is_semantics(rule: str) -> bool:
    return rule[:3] in ("E96", "E97", "E98", "W96", "W97", "W98")


@cache
def semantics_rules() -> Any:
    from cfnlint.rules import Rules

    return Rules({k: v for k, v in gate._rules().items() if is_semantics(k)})


def lint(path: Path, regions: tuple[str, ...] = ("us-east-1",)) -> list[Found]:
    from cfnlint.runner.template.runner import run_template_by_file_path

    matches = run_template_by_file_path(str(path), gate._config(regions), semantics_rules(), False)
    return sorted((m.rule.id, tuple(getattr(m, "path", ()) or ()), m.message) for m in matches)


def lint_dict(folder: Path, template: dict[str, Any], **kwargs: Any) -> list[Found]:
    path = folder / "template.json"
    path.write_text(json.dumps(template, indent=1))
    return lint(path, **kwargs)


@cache
def source(relative: str) -> dict[str, Any]:
    base = FIXTURES if relative.startswith("fixtures:") else OUTPUT
    return without_self_update(load_template(base / relative.removeprefix("fixtures:")))


def without_self_update(template: dict[str, Any]) -> dict[str, Any]:
    """The planted mistakes name stages by position in a pipeline without the UpdatePipeline
    stage: drop it, and the parameters only it used (test_untouched_templates_pass lints the
    pipelines with it)."""
    pipeline = template.get("Resources", {}).get("Pipeline")
    if pipeline is None:
        return template
    stages = pipeline["Properties"]["Stages"]
    update = next((s for s in stages if s["Name"] == "UpdatePipeline"), None)
    if update is None:
        return template
    stages.remove(update)
    for action in update["Actions"]:
        for value in action.get("Configuration", {}).values():
            if isinstance(value, dict) and "Ref" in value:
                template["Parameters"].pop(value["Ref"], None)
    return template


# -- finding things in templates --------------------------------------------------------------


def props(template: dict[str, Any], logical_id: str = "Pipeline") -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


def stage(template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in props(template)["Stages"] if s["Name"] == name)


def action(template: dict[str, Any], stage_name: str, name: str) -> dict[str, Any]:
    return next(a for a in stage(template, stage_name)["Actions"] if a["Name"] == name)


def type_id(category: str, provider: str, owner: str = "AWS") -> dict[str, str]:
    return {"Category": category, "Owner": owner, "Provider": provider, "Version": "1"}


def v2_free(template: dict[str, Any]) -> None:
    """Drop what only V2 pipelines have, so a V1 mutation plants one feature at a time."""
    pipeline = props(template)
    pipeline.pop("Triggers", None)
    pipeline["ExecutionMode"] = "SUPERSEDED"
    for entry in pipeline["Stages"]:
        for key in ("BeforeEntry", "OnSuccess", "OnFailure"):
            entry.pop(key, None)


def alarm_rule(name: str, alarm: str = "web-app-dev-target-5xx") -> dict[str, Any]:
    return {
        "Name": name,
        "RuleTypeId": type_id("Rule", "CloudWatchAlarm"),
        "Configuration": {"AlarmName": alarm, "AlarmStates": "ALARM", "WaitTime": "10"},
    }


# -- the mutations ---------------------------------------------------------------------------

WEB_PIPELINE = "web-app/stacks/pipeline.yaml"
SERVERLESS_PIPELINE = "serverless/stacks/pipeline.yaml"
MICROSERVICE_PIPELINE = "microservice/stacks/pipeline.yaml"
MICROSERVICE_TARGETS = "microservice/stacks/deploy-targets.yaml"
WEB_TARGETS = "web-app/stacks/deploy-targets.yaml"
SERVERLESS_IAM = "serverless/stacks/iam.yaml"
MICROSERVICE_NOTIFICATIONS = "microservice/stacks/notifications.yaml"
SAM_APP = "serverless/app/template.yaml"
STACKSETS = "fixtures:stacksets.yaml"

UNTOUCHED = [
    WEB_PIPELINE,
    SERVERLESS_PIPELINE,
    MICROSERVICE_PIPELINE,
    MICROSERVICE_TARGETS,
    WEB_TARGETS,
    SERVERLESS_IAM,
    MICROSERVICE_NOTIFICATIONS,
    SAM_APP,
    STACKSETS,
]

P = ("Resources", "Pipeline", "Properties")


def res(name: str, *rest: Any) -> tuple[Any, ...]:
    return ("Resources", name, "Properties", *rest)


def stages(index: int, *rest: Any) -> tuple[Any, ...]:
    return (*P, "Stages", index, *rest)


def actions(stage_index: int, index: int, *rest: Any) -> tuple[Any, ...]:
    return stages(stage_index, "Actions", index, *rest)


@dataclass(frozen=True)
class Mutation:
    name: str
    source: str
    mutate: Callable[[dict[str, Any]], Any]
    expected: list[Found]


MUTATIONS: list[Mutation] = []


def mutation(name: str, source_file: str, *expected: Found) -> Callable[[Any], Any]:
    def register(mutate: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        MUTATIONS.append(Mutation(name, source_file, mutate, list(expected)))
        return mutate

    return register


# E9601: V1 pipelines and V2-only features


@mutation(
    "v1-pipeline-with-triggers",
    WEB_PIPELINE,
    (
        "E9601",
        (*P, "Triggers"),
        (
            "Pipeline Triggers: Git triggers are V2-only, but the pipeline is a V1 pipeline "
            "(PipelineType: V1); set PipelineType: V2 or remove Triggers"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    v2_free(t)
    props(t)["PipelineType"] = "V1"
    props(t)["Triggers"] = copy.deepcopy(
        source(WEB_PIPELINE)["Resources"]["Pipeline"]["Properties"]["Triggers"]
    )


@mutation(
    "no-pipeline-type-with-queued",
    WEB_PIPELINE,
    (
        "E9601",
        (*P, "ExecutionMode"),
        (
            "Pipeline ExecutionMode: ExecutionMode QUEUED is V2-only, but the pipeline sets no "
            "PipelineType, so it is a V1 pipeline; set PipelineType: V2 or use SUPERSEDED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    v2_free(t)
    del props(t)["PipelineType"]
    props(t)["ExecutionMode"] = "QUEUED"


@mutation(
    "v1-pipeline-with-stage-conditions",
    WEB_PIPELINE,
    (
        "E9601",
        stages(3, "OnFailure"),
        (
            "Pipeline Stages[3].OnFailure: stage 'DeployDev' has OnFailure; stage conditions "
            "are V2-only, but the pipeline is a V1 pipeline (PipelineType: V1); set "
            "PipelineType: V2 or remove OnFailure"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    v2_free(t)
    props(t)["PipelineType"] = "V1"
    stage(t, "DeployDev")["OnFailure"] = {"Result": "ROLLBACK"}


@mutation(
    "v1-pipeline-with-eks-action",
    MICROSERVICE_PIPELINE,
    (
        "E9601",
        actions(3, 0, "ActionTypeId", "Provider"),
        (
            "Pipeline Stages[3].Actions[0].ActionTypeId.Provider: stage 'DeployDev' action "
            "'Deploy' uses the EKS action, which is V2-only "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-EKS.html), "
            "but the pipeline is a V1 pipeline (PipelineType: V1); set PipelineType: V2"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    v2_free(t)
    props(t)["PipelineType"] = "V1"
    deploy = action(t, "DeployDev", "Deploy")
    deploy["ActionTypeId"] = type_id("Deploy", "EKS")
    deploy["Configuration"] = {"ClusterName": "orders", "ManifestFiles": "k8s/deployment.yaml"}


@mutation(
    "v1-pipeline-with-variables",
    SERVERLESS_PIPELINE,
    (
        "E9601",
        (*P, "Variables"),
        (
            "Pipeline Variables: pipeline-level variables are V2-only, but the pipeline is a "
            "V1 pipeline (PipelineType: V1); set PipelineType: V2 or remove Variables"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    v2_free(t)
    props(t)["PipelineType"] = "V1"
    props(t)["Variables"] = [{"Name": "Release", "DefaultValue": "1"}]


# E9602: triggers


@mutation(
    "push-filter-without-branches",
    WEB_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 0, "GitConfiguration", "Push", 0),
        (
            "Pipeline Triggers[0].GitConfiguration.Push[0]: a Push filter with FilePaths "
            "without Branches; add Branches: {Includes: [...]} naming the branches it watches"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del props(t)["Triggers"][0]["GitConfiguration"]["Push"][0]["Branches"]


@mutation(
    "four-push-filters",
    MICROSERVICE_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 0, "GitConfiguration", "Push"),
        (
            "Pipeline Triggers[0].GitConfiguration.Push: 4 Push filters; a trigger takes at "
            "most 3: merge their branch and path patterns"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    push = props(t)["Triggers"][0]["GitConfiguration"]["Push"]
    push.extend({"Branches": {"Includes": [f"release/{n}"]}} for n in range(3))


@mutation(
    "four-pull-request-filters",
    MICROSERVICE_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 0, "GitConfiguration", "PullRequest"),
        (
            "Pipeline Triggers[0].GitConfiguration.PullRequest: 4 PullRequest filters; a "
            "trigger takes at most 3: merge their branch and path patterns"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    git = props(t)["Triggers"][0]["GitConfiguration"]
    git["PullRequest"] = [{"Branches": {"Includes": [f"feature/{n}"]}} for n in range(4)]


@mutation(
    "trigger-names-no-source-action",
    SERVERLESS_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 0, "GitConfiguration", "SourceActionName"),
        (
            "Pipeline Triggers[0].GitConfiguration.SourceActionName: SourceActionName "
            "'Chekout' names no source action of the pipeline (did you mean 'Checkout'?); name "
            "one of ['Checkout']"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t)["Triggers"][0]["GitConfiguration"]["SourceActionName"] = "Chekout"


@mutation(
    "trigger-on-a-codecommit-source",
    SERVERLESS_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 0, "GitConfiguration", "SourceActionName"),
        (
            "Pipeline Triggers[0].GitConfiguration.SourceActionName: source action 'Checkout' "
            "uses CodeCommit, but triggers exist only for CodeStarSourceConnection source "
            "actions; remove the trigger or use a connection source"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    checkout = action(t, "Source", "Checkout")
    checkout["ActionTypeId"] = type_id("Source", "CodeCommit")
    checkout["Configuration"] = {"RepositoryName": "payments-api", "BranchName": "main"}


@mutation(
    "two-triggers-for-one-source-action",
    WEB_PIPELINE,
    (
        "E9602",
        (*P, "Triggers", 1, "GitConfiguration", "SourceActionName"),
        (
            "Pipeline Triggers[1].GitConfiguration.SourceActionName: a second trigger for "
            "source action 'Checkout'; CodePipeline takes one trigger a source action: put all "
            "its filters in one trigger"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    triggers = props(t)["Triggers"]
    triggers.append(copy.deepcopy(triggers[0]))


# E9603: stage conditions


@mutation(
    "entry-condition-with-rollback",
    WEB_PIPELINE,
    (
        "E9603",
        stages(6, "BeforeEntry", "Conditions", 0, "Result"),
        (
            "Pipeline Stages[6].BeforeEntry.Conditions[0].Result: a BeforeEntry condition "
            "takes Result FAIL or SKIP, not 'ROLLBACK'; set Result: FAIL"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "DeployProd")["BeforeEntry"] = {
        "Conditions": [{"Result": "ROLLBACK", "Rules": [alarm_rule("StagingQuiet")]}]
    }


@mutation(
    "on-success-condition-with-fail",
    WEB_PIPELINE,
    (
        "E9603",
        stages(3, "OnSuccess", "Conditions", 0, "Result"),
        (
            "Pipeline Stages[3].OnSuccess.Conditions[0].Result: an OnSuccess condition takes "
            "Result ROLLBACK, not 'FAIL'; set Result: ROLLBACK"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "DeployDev")["OnSuccess"]["Conditions"][0]["Result"] = "FAIL"


@mutation(
    "on-failure-condition-with-skip",
    SERVERLESS_PIPELINE,
    (
        "E9603",
        stages(3, "OnFailure", "Conditions", 0, "Result"),
        (
            "Pipeline Stages[3].OnFailure.Conditions[0].Result: an OnFailure condition takes "
            "Result ROLLBACK or RETRY, not 'SKIP'; set Result: ROLLBACK"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "DeployDev")["OnFailure"]["Conditions"] = [
        {"Result": "SKIP", "Rules": [alarm_rule("Errors", "serverless-dev-errors")]}
    ]


@mutation(
    "on-failure-result-fail",
    SERVERLESS_PIPELINE,
    (
        "E9603",
        stages(4, "OnFailure", "Result"),
        (
            "Pipeline Stages[4].OnFailure.Result: OnFailure Result 'FAIL' is not one "
            "CodePipeline takes; set ROLLBACK or RETRY"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "DeployStaging")["OnFailure"]["Result"] = "FAIL"


@mutation(
    "six-rules-in-a-condition",
    MICROSERVICE_PIPELINE,
    (
        "E9603",
        stages(6, "OnSuccess", "Conditions", 0, "Rules"),
        (
            "Pipeline Stages[6].OnSuccess.Conditions[0].Rules: 6 rules in one condition; a "
            "condition takes at most 5: split them over conditions or combine alarms into a "
            "composite alarm"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    rules = stage(t, "DeployProd")["OnSuccess"]["Conditions"][0]["Rules"]
    rules.extend(alarm_rule(f"Alarm{n}", f"microservice-prod-{n}") for n in (5, 6))


@mutation(
    "rule-type-category-not-rule",
    WEB_PIPELINE,
    (
        "E9603",
        stages(4, "OnSuccess", "Conditions", 0, "Rules", 1, "RuleTypeId", "Category"),
        (
            "Pipeline Stages[4].OnSuccess.Conditions[0].Rules[1].RuleTypeId.Category: "
            "RuleTypeId Category is 'Invoke'; the category of every condition rule is 'Rule'"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "DeployStaging")["OnSuccess"]["Conditions"][0]["Rules"][1]["RuleTypeId"][
        "Category"
    ] = "Invoke"


@mutation(
    "rollback-on-the-source-stage",
    SERVERLESS_PIPELINE,
    (
        "E9603",
        stages(0, "OnFailure", "Result"),
        (
            "Pipeline Stages[0].OnFailure.Result: stage 'Source' holds the source action and "
            "cannot roll back (there is nothing earlier to roll back to); remove the rollback "
            "from it"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stage(t, "Source")["OnFailure"] = {"Result": "ROLLBACK"}


@mutation(
    "rollback-in-a-parallel-pipeline",
    MICROSERVICE_PIPELINE,
    (
        "E9603",
        stages(3, "OnFailure", "Result"),
        (
            "Pipeline Stages[3].OnFailure.Result: ROLLBACK in a pipeline with ExecutionMode "
            "PARALLEL, which cannot roll back; use QUEUED or SUPERSEDED, or drop the rollback"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t)["ExecutionMode"] = "PARALLEL"
    for name in ("DeployStaging", "DeployProd"):
        stage(t, name).pop("OnSuccess")
        stage(t, name)["OnFailure"] = {
            "Result": "RETRY",
            "RetryConfiguration": {"RetryMode": "FAILED_ACTIONS"},
        }


@mutation(
    "retry-without-retry-configuration",
    WEB_PIPELINE,
    (
        "E9603",
        stages(4, "OnFailure", "Result"),
        (
            "Pipeline Stages[4].OnFailure.Result: OnFailure Result RETRY without a "
            "RetryConfiguration; add RetryConfiguration: {RetryMode: FAILED_ACTIONS or "
            "ALL_ACTIONS}"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del stage(t, "DeployStaging")["OnFailure"]["RetryConfiguration"]


@mutation(
    "alarm-rule-without-alarm-name",
    WEB_PIPELINE,
    (
        "E9603",
        stages(6, "OnSuccess", "Conditions", 0, "Rules", 0, "Configuration"),
        (
            "Pipeline Stages[6].OnSuccess.Conditions[0].Rules[0].Configuration: a "
            "CloudWatchAlarm rule without AlarmName; set AlarmName to the alarm the rule "
            "watches"
        ),
    ),
    (
        "E9603",
        stages(6, "OnSuccess", "Conditions", 0, "Rules", 0, "Configuration", "Alarm"),
        (
            "Pipeline Stages[6].OnSuccess.Conditions[0].Rules[0].Configuration.Alarm: a "
            "CloudWatchAlarm rule takes AlarmName, AlarmStates, WaitTime, not 'Alarm'; remove "
            "it"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    configuration = stage(t, "DeployProd")["OnSuccess"]["Conditions"][0]["Rules"][0][
        "Configuration"
    ]
    configuration["Alarm"] = configuration.pop("AlarmName")


# E9604: action configuration


@mutation(
    "change-set-replace-without-change-set-name",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(4, 0, "Configuration"),
        (
            "Pipeline Stages[4].Actions[0].Configuration: stage 'DeployStaging' action "
            "'CreateChangeSet' (CloudFormation) has no ChangeSetName, which ActionMode "
            "CHANGE_SET_REPLACE requires; set Configuration.ChangeSetName "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CloudFormation.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del action(t, "DeployStaging", "CreateChangeSet")["Configuration"]["ChangeSetName"]


@mutation(
    "misspelled-action-mode",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(3, 1, "Configuration"),
        (
            "Pipeline Stages[3].Actions[1].Configuration: stage 'DeployDev' action "
            "'ExecuteChangeSet' (CloudFormation) has no ActionMode; set "
            "Configuration.ActionMode "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CloudFormation.html)"
        ),
    ),
    (
        "E9604",
        actions(3, 1, "Configuration", "ActonMode"),
        (
            "Pipeline Stages[3].Actions[1].Configuration.ActonMode: stage 'DeployDev' action "
            "'ExecuteChangeSet' (CloudFormation): 'ActonMode' is not a configuration key of "
            "CloudFormation (did you mean 'ActionMode'?); use one of ActionMode, StackName, "
            "Capabilities, ChangeSetName, OutputFileName, ParameterOverrides, RoleArn, "
            "TemplateConfiguration, TemplatePath "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CloudFormation.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    configuration = action(t, "DeployDev", "ExecuteChangeSet")["Configuration"]
    configuration["ActonMode"] = configuration.pop("ActionMode")


@mutation(
    "unknown-action-mode",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(3, 0, "Configuration", "ActionMode"),
        (
            "Pipeline Stages[3].Actions[0].Configuration.ActionMode: stage 'DeployDev' action "
            "'CreateChangeSet' (CloudFormation): ActionMode 'CHANGE_SET_CREATE' is not one of "
            "CHANGE_SET_EXECUTE, CHANGE_SET_REPLACE, CREATE_UPDATE, DELETE_ONLY, "
            "REPLACE_ON_FAILURE; set ActionMode to one of them "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CloudFormation.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployDev", "CreateChangeSet")["Configuration"]["ActionMode"] = "CHANGE_SET_CREATE"


@mutation(
    "lambda-action-without-function-name",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(5, 1, "Configuration"),
        (
            "Pipeline Stages[5].Actions[1].Configuration: stage 'DeployProd' action "
            "'ComplianceCheck' (Lambda) has no FunctionName; set Configuration.FunctionName "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-Lambda.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del action(t, "DeployProd", "ComplianceCheck")["Configuration"]["FunctionName"]


@mutation(
    "stack-instances-without-stack-set-name",
    STACKSETS,
    (
        "E9604",
        actions(2, 0, "Configuration"),
        (
            "Pipeline Stages[2].Actions[0].Configuration: stage 'DeployOtherOus' action "
            "'Instances' (CloudFormationStackInstances) has no StackSetName; set "
            "Configuration.StackSetName "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-StackSets.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del action(t, "DeployOtherOus", "Instances")["Configuration"]["StackSetName"]


@mutation(
    "code-deploy-to-ecs-with-six-inputs",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(6, 0, "InputArtifacts"),
        (
            "Pipeline Stages[6].Actions[0].InputArtifacts: stage 'DeployProd' action 'Deploy' "
            "(CodeDeployToECS) has 6 input artifacts; it takes 1 to 5; remove InputArtifacts "
            "entries "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-ECSbluegreen.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    deploy = action(t, "DeployProd", "Deploy")
    deploy["InputArtifacts"] += [{"Name": "Source"}] * 5


@mutation(
    "eks-with-two-inputs",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(3, 0, "InputArtifacts"),
        (
            "Pipeline Stages[3].Actions[0].InputArtifacts: stage 'DeployDev' action 'Deploy' "
            "(EKS) has 2 input artifacts; it takes exactly 1; remove InputArtifacts entries "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-EKS.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    deploy = action(t, "DeployDev", "Deploy")
    deploy["ActionTypeId"] = type_id("Deploy", "EKS")
    deploy["Configuration"] = {"ClusterName": "orders", "ManifestFiles": "k8s/deployment.yaml"}
    deploy["InputArtifacts"] = [{"Name": "Source"}, {"Name": "BuildOutput"}]


@mutation(
    "inspector-scan-without-sbom-output",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(2, 0),
        (
            "Pipeline Stages[2].Actions[0]: stage 'Test' action 'ImageScan' (InspectorScan) "
            "has 0 output artifacts; it takes exactly 1; add OutputArtifacts entries "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-InspectorScan.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    scan = action(t, "Test", "ImageScan")
    scan["ActionTypeId"] = type_id("Invoke", "InspectorScan")
    del scan["InputArtifacts"]
    scan["Configuration"] = {
        "InspectorRunMode": "ECRImageScan",
        "ECRRepositoryName": "microservice",
        "ImageTag": "#{BuildVariables.IMAGE_TAG}",
    }


@mutation(
    "stack-set-without-input",
    STACKSETS,
    (
        "E9604",
        actions(1, 0),
        (
            "Pipeline Stages[1].Actions[0]: stage 'DeployFirstOu' action 'StackSet' "
            "(CloudFormationStackSet) has 0 input artifacts; it takes 1 to 3; add "
            "InputArtifacts entries "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-StackSets.html)"
        ),
    ),
    (
        "E9604",
        actions(1, 0, "Configuration", "TemplatePath"),
        (
            "Pipeline Stages[1].Actions[0].Configuration.TemplatePath: stage 'DeployFirstOu' "
            "action 'StackSet' (CloudFormationStackSet): TemplatePath names artifact 'Source', "
            "which is not an input artifact of the action; add 'Source' to its InputArtifacts"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del action(t, "DeployFirstOu", "StackSet")["InputArtifacts"]


@mutation(
    "codebuild-as-a-deploy-action",
    WEB_PIPELINE,
    (
        "E9604",
        actions(3, 1, "ActionTypeId", "Category"),
        (
            "Pipeline Stages[3].Actions[1].ActionTypeId.Category: stage 'DeployDev' action "
            "'SmokeTest': the CodeBuild action is not a Deploy action; set Category to Build "
            "or Test "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CodeBuild.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployDev", "SmokeTest")["ActionTypeId"]["Category"] = "Deploy"


@mutation(
    "task-definition-artifact-is-not-an-input",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(4, 0, "Configuration", "TaskDefinitionTemplateArtifact"),
        (
            "Pipeline Stages[4].Actions[0].Configuration.TaskDefinitionTemplateArtifact: stage "
            "'DeployStaging' action 'Deploy' (CodeDeployToECS): TaskDefinitionTemplateArtifact "
            "names artifact 'Build', which is not an input artifact of the action; name one of "
            "its InputArtifacts ['BuildOutput'] or add 'Build' to them"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployStaging", "Deploy")["Configuration"]["TaskDefinitionTemplateArtifact"] = (
        "Build"
    )


@mutation(
    "template-configuration-from-another-artifact",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(3, 0, "Configuration", "TemplateConfiguration"),
        (
            "Pipeline Stages[3].Actions[0].Configuration.TemplateConfiguration: stage "
            "'DeployDev' action 'CreateChangeSet' (CloudFormation): TemplateConfiguration "
            "names artifact 'Source', which is not an input artifact of the action; name one "
            "of its InputArtifacts ['BuildOutput'] or add 'Source' to them"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    configuration = action(t, "DeployDev", "CreateChangeSet")["Configuration"]
    configuration["TemplateConfiguration"] = "Source::dev.json"


@mutation(
    "eks-helm-and-manifests",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(3, 0, "Configuration"),
        (
            "Pipeline Stages[3].Actions[0].Configuration: stage 'DeployDev' action 'Deploy' "
            "(EKS) mixes Helm and Kubectl keys (HelmReleaseName, ManifestFiles); use the keys "
            "of one of Helm or Kubectl only "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-EKS.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    deploy = action(t, "DeployDev", "Deploy")
    deploy["ActionTypeId"] = type_id("Deploy", "EKS")
    deploy["Configuration"] = {
        "ClusterName": "orders",
        "ManifestFiles": "k8s/deployment.yaml",
        "HelmReleaseName": "orders",
    }


@mutation(
    "image-artifact-without-container-name",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(6, 0, "Configuration"),
        (
            "Pipeline Stages[6].Actions[0].Configuration: stage 'DeployProd' action 'Deploy' "
            "(CodeDeployToECS) sets Image1ArtifactName without Image1ContainerName; set them "
            "together "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-ECSbluegreen.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del action(t, "DeployProd", "Deploy")["Configuration"]["Image1ContainerName"]


@mutation(
    "ecs-deployment-timeout-out-of-range",
    MICROSERVICE_PIPELINE,
    (
        "E9604",
        actions(3, 0, "Configuration", "DeploymentTimeout"),
        (
            "Pipeline Stages[3].Actions[0].Configuration.DeploymentTimeout: stage 'DeployDev' "
            "action 'Deploy' (ECS): DeploymentTimeout 90 is out of range; set 1 to 60 "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-ECS.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployDev", "Deploy")["Configuration"]["DeploymentTimeout"] = "90"


@mutation(
    "unknown-capability",
    SERVERLESS_PIPELINE,
    (
        "E9604",
        actions(5, 0, "Configuration", "Capabilities"),
        (
            "Pipeline Stages[5].Actions[0].Configuration.Capabilities: stage 'DeployProd' "
            "action 'CreateChangeSet' (CloudFormation): Capabilities lists "
            "'CAPABILITY_AUTOEXPAND', which is not one of CAPABILITY_IAM, "
            "CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND (did you mean "
            "'CAPABILITY_AUTO_EXPAND'?); list only those, comma-separated "
            "(https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            "action-reference-CloudFormation.html)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployProd", "CreateChangeSet")["Configuration"]["Capabilities"] = (
        "CAPABILITY_IAM,CAPABILITY_AUTOEXPAND"
    )


# E9605: run order


@mutation(
    "execute-in-the-run-order-of-its-replace",
    SERVERLESS_PIPELINE,
    (
        "E9605",
        actions(3, 1, "RunOrder"),
        (
            "Pipeline Stages[3].Actions[1].RunOrder: stage 'DeployDev' action "
            "'ExecuteChangeSet' executes change set 'pipegen-dev' of stack 'serverless-dev' at "
            "RunOrder 1, not after stage 'DeployDev' action 'CreateChangeSet' creates it "
            "(RunOrder 1); set RunOrder to at least 2"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployDev", "ExecuteChangeSet")["RunOrder"] = 1


@mutation(
    "reads-an-artifact-written-in-parallel",
    WEB_PIPELINE,
    (
        "E9605",
        actions(1, 1, "InputArtifacts", 0, "Name"),
        (
            "Pipeline Stages[1].Actions[1].InputArtifacts[0].Name: stage 'Build' action "
            "'Package' (RunOrder 1) reads artifact 'BuildOutput', which stage 'Build' action "
            "'Build' writes at RunOrder 1; give the reader a RunOrder above 1"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    package = copy.deepcopy(action(t, "Build", "Build"))
    package["Name"] = "Package"
    package["InputArtifacts"] = [{"Name": "BuildOutput"}]
    package["OutputArtifacts"] = [{"Name": "Package"}]
    del package["Namespace"]
    stage(t, "Build")["Actions"].append(package)


# E9606: regions


@mutation(
    "action-region-without-artifact-store",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        actions(5, 0, "Region"),
        (
            "Pipeline Stages[5].Actions[0].Region: stage 'DeployProd' action 'CreateChangeSet' "
            "runs in eu-west-1, which has no ArtifactStores entry; add a store (bucket and key "
            "in eu-west-1) for it"
        ),
    ),
    (
        "E9606",
        actions(5, 3, "Region"),
        (
            "Pipeline Stages[5].Actions[3].Region: stage 'DeployProd' action "
            "'ExecuteChangeSet' runs in eu-west-1, which has no ArtifactStores entry; add a "
            "store (bucket and key in eu-west-1) for it"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    pipeline = props(t)
    store = pipeline.pop("ArtifactStore")
    pipeline["ArtifactStores"] = [{"Region": {"Ref": "AWS::Region"}, "ArtifactStore": store}]
    action(t, "DeployProd", "CreateChangeSet")["Region"] = "eu-west-1"
    action(t, "DeployProd", "ExecuteChangeSet")["Region"] = "eu-west-1"


@mutation(
    "pipeline-region-missing-from-artifact-stores",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        (*P, "ArtifactStores"),
        (
            "Pipeline ArtifactStores: no artifact store for the pipeline's own region "
            "(us-east-1); add an entry with Region: !Ref AWS::Region"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    pipeline = props(t)
    store = pipeline.pop("ArtifactStore")
    pipeline["ArtifactStores"] = [
        {"Region": "eu-west-1", "ArtifactStore": {**store, "Location": "payments-eu-west-1"}}
    ]
    action(t, "DeployProd", "CreateChangeSet")["Region"] = "eu-west-1"
    action(t, "DeployProd", "ExecuteChangeSet")["Region"] = "eu-west-1"


@mutation(
    "duplicate-artifact-store-region",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        (*P, "ArtifactStores", 2, "Region"),
        (
            "Pipeline ArtifactStores[2].Region: a second artifact store for 'eu-west-1'; "
            "ArtifactStores takes one store a region: remove the duplicate"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    pipeline = props(t)
    store = pipeline.pop("ArtifactStore")
    pipeline["ArtifactStores"] = [
        {"Region": {"Ref": "AWS::Region"}, "ArtifactStore": store},
        {"Region": "eu-west-1", "ArtifactStore": {**store, "Location": "payments-eu-west-1"}},
        {"Region": "eu-west-1", "ArtifactStore": {**store, "Location": "payments-eu-west-1b"}},
    ]
    action(t, "DeployProd", "CreateChangeSet")["Region"] = "eu-west-1"
    action(t, "DeployProd", "ExecuteChangeSet")["Region"] = "eu-west-1"


@mutation(
    "source-action-with-region",
    WEB_PIPELINE,
    (
        "E9606",
        actions(0, 0, "Region"),
        (
            "Pipeline Stages[0].Actions[0].Region: stage 'Source' action 'Checkout' is a "
            "Source action, and source actions cannot run in another region; remove Region"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "Source", "Checkout")["Region"] = "us-east-1"


@mutation(
    "region-that-does-not-exist",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        (*P, "ArtifactStores", 1, "Region"),
        (
            "Pipeline ArtifactStores[1].Region: ArtifactStores Region 'eu-west-9' is not an "
            "AWS region (did you mean 'eu-west-1'?); use a region name such as us-east-1"
        ),
    ),
    (
        "E9606",
        actions(5, 0, "Region"),
        (
            "Pipeline Stages[5].Actions[0].Region: action Region 'eu-west-9' is not an AWS "
            "region (did you mean 'eu-west-1'?); use a region name such as us-east-1"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    pipeline = props(t)
    store = pipeline.pop("ArtifactStore")
    pipeline["ArtifactStores"] = [
        {"Region": {"Ref": "AWS::Region"}, "ArtifactStore": store},
        {"Region": "eu-west-9", "ArtifactStore": {**store, "Location": "payments-eu"}},
    ]
    action(t, "DeployProd", "CreateChangeSet")["Region"] = "eu-west-9"


@mutation(
    "cross-region-action-with-a-single-store",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        actions(5, 0, "Region"),
        (
            "Pipeline Stages[5].Actions[0].Region: stage 'DeployProd' action 'CreateChangeSet' "
            "runs in eu-west-1, but the pipeline has a single ArtifactStore, which serves its "
            "own region only; use ArtifactStores with an entry for eu-west-1 and one for the "
            "pipeline's region"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployProd", "CreateChangeSet")["Region"] = "eu-west-1"


@mutation(
    "alias-key-with-cross-account-actions",
    SERVERLESS_PIPELINE,
    (
        "E9606",
        (*P, "ArtifactStore", "EncryptionKey", "Id"),
        (
            "Pipeline ArtifactStore.EncryptionKey.Id: the artifact key is named by its alias "
            "ARN, but actions run with roles of account(s) 222222222222, where the alias does "
            "not resolve; use the key ARN (arn:...:kms:<region>:<account>:key/<key id>)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t)["ArtifactStore"]["EncryptionKey"]["Id"] = (
        "arn:aws:kms:us-east-1:111111111111:alias/pipegen/serverless/artifacts"
    )
    action(t, "DeployProd", "CreateChangeSet")["RoleArn"] = (
        "arn:aws:iam::222222222222:role/pipegen/serverless/cross-account-deploy"
    )


# E9701: CodeDeploy


def ecs_group(t: dict[str, Any], name: str = "StagingDeploymentGroup") -> dict[str, Any]:
    return props(t, name)


@mutation(
    "blue-green-without-load-balancer-info",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("StagingDeploymentGroup"),
        (
            "StagingDeploymentGroup Properties: a BLUE_GREEN deployment group (ECS) without "
            "LoadBalancerInfo; set LoadBalancerInfo (blue/green needs the load balancer to "
            "shift traffic and the settings for the green fleet)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del ecs_group(t)["LoadBalancerInfo"]


@mutation(
    "blue-green-without-blue-green-configuration",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("ProdDeploymentGroup"),
        (
            "ProdDeploymentGroup Properties: a BLUE_GREEN deployment group (ECS) without "
            "BlueGreenDeploymentConfiguration; set BlueGreenDeploymentConfiguration "
            "(blue/green needs the load balancer to shift traffic and the settings for the "
            "green fleet)"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del ecs_group(t, "ProdDeploymentGroup")["BlueGreenDeploymentConfiguration"]


@mutation(
    "blue-green-without-traffic-control",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("StagingDeploymentGroup", "DeploymentStyle", "DeploymentOption"),
        (
            "StagingDeploymentGroup DeploymentStyle.DeploymentOption: a BLUE_GREEN deployment "
            "WITHOUT_TRAFFIC_CONTROL has no way to move traffic to the green fleet; set "
            "DeploymentStyle.DeploymentOption: WITH_TRAFFIC_CONTROL"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    ecs_group(t)["DeploymentStyle"]["DeploymentOption"] = "WITHOUT_TRAFFIC_CONTROL"


@mutation(
    "ecs-group-in-place",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("StagingDeploymentGroup", "DeploymentStyle", "DeploymentType"),
        (
            "StagingDeploymentGroup DeploymentStyle.DeploymentType: an ECS deployment group is "
            "IN_PLACE, but ECS deployments are blue/green only; set DeploymentStyle: "
            "{DeploymentType: BLUE_GREEN, DeploymentOption: WITH_TRAFFIC_CONTROL}"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    ecs_group(t)["DeploymentStyle"]["DeploymentType"] = "IN_PLACE"


@mutation(
    "stop-on-alarm-without-alarms",
    WEB_TARGETS,
    (
        "E9701",
        res("DevDeploymentGroup", "AutoRollbackConfiguration", "Events", 1),
        (
            "DevDeploymentGroup AutoRollbackConfiguration.Events[1]: AutoRollbackConfiguration "
            "rolls back on DEPLOYMENT_STOP_ON_ALARM, but there is no AlarmConfiguration; set "
            "AlarmConfiguration: {Enabled: true, Alarms: [{Name: <alarm>}]}"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del props(t, "DevDeploymentGroup")["AlarmConfiguration"]


@mutation(
    "minimum-healthy-hosts-on-an-ecs-config",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("ProdTrafficConfig", "MinimumHealthyHosts"),
        (
            "ProdTrafficConfig MinimumHealthyHosts: MinimumHealthyHosts applies to the Server "
            "platform, not ECS; remove it and shift traffic with TrafficRoutingConfig"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "ProdTrafficConfig")["MinimumHealthyHosts"] = {"Type": "FLEET_PERCENT", "Value": 75}


@mutation(
    "traffic-routing-type-does-not-match-its-block",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("ProdTrafficConfig", "TrafficRoutingConfig"),
        (
            "ProdTrafficConfig TrafficRoutingConfig: TrafficRoutingConfig Type is "
            "TimeBasedCanary without a TimeBasedCanary block; add TimeBasedCanary with its "
            "percentage and interval"
        ),
    ),
    (
        "E9701",
        res("ProdTrafficConfig", "TrafficRoutingConfig", "TimeBasedLinear"),
        (
            "ProdTrafficConfig TrafficRoutingConfig.TimeBasedLinear: TrafficRoutingConfig Type "
            "is TimeBasedCanary, but it carries a TimeBasedLinear block; set Type: "
            "TimeBasedLinear, or remove the TimeBasedLinear block"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "ProdTrafficConfig")["TrafficRoutingConfig"]["Type"] = "TimeBasedCanary"


@mutation(
    "ec2-tag-filters-and-tag-set",
    WEB_TARGETS,
    (
        "E9701",
        res("StagingDeploymentGroup", "Ec2TagSet"),
        (
            "StagingDeploymentGroup Ec2TagSet: both Ec2TagFilters and Ec2TagSet are set, and "
            "CodeDeploy takes only one; keep Ec2TagSet (tag groups) or Ec2TagFilters, not both"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    group = props(t, "StagingDeploymentGroup")
    tag = {"Key": "app", "Value": "web-app", "Type": "KEY_AND_VALUE"}
    group["Ec2TagFilters"] = [tag]
    group["Ec2TagSet"] = {"Ec2TagSetList": [{"Ec2TagGroup": [tag]}]}


@mutation(
    "ecs-group-with-a-server-config",
    MICROSERVICE_TARGETS,
    (
        "E9701",
        res("StagingDeploymentGroup", "DeploymentConfigName"),
        (
            "StagingDeploymentGroup DeploymentConfigName: an ECS deployment group uses "
            "'CodeDeployDefault.OneAtATime', a Server configuration; use a "
            "CodeDeployDefault.ECS* configuration or an ECS DeploymentConfig"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    ecs_group(t)["DeploymentConfigName"] = "CodeDeployDefault.OneAtATime"


@mutation(
    "deployment-with-auto-rollback",
    WEB_TARGETS,
    (
        "E9701",
        res("DevDeploymentGroup", "Deployment"),
        (
            "DevDeploymentGroup Deployment: Deployment is set together with "
            "AutoRollbackConfiguration, which CloudFormation does not support; remove "
            "Deployment and let the pipeline start deployments"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "DevDeploymentGroup")["Deployment"] = {
        "Revision": {
            "RevisionType": "S3",
            "S3Location": {"Bucket": "web-app-releases", "Key": "app.zip", "BundleType": "zip"},
        }
    }


# E9702: StackSets


@mutation(
    "self-managed-stack-set-with-ous",
    STACKSETS,
    (
        "E9702",
        res(
            "BaselineStackSet",
            "StackInstancesGroup",
            0,
            "DeploymentTargets",
            "OrganizationalUnitIds",
        ),
        (
            "BaselineStackSet StackInstancesGroup[0].DeploymentTargets.OrganizationalUnitIds: "
            "a SELF_MANAGED StackSet deploys to accounts, not organizational units; list "
            "DeploymentTargets.Accounts, or use PermissionModel: SERVICE_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    targets = props(t, "BaselineStackSet")["StackInstancesGroup"][0]["DeploymentTargets"]
    targets["OrganizationalUnitIds"] = ["ou-ab12-cdef3456"]


@mutation(
    "self-managed-stack-set-with-auto-deployment",
    STACKSETS,
    (
        "E9702",
        res("BaselineStackSet", "AutoDeployment"),
        (
            "BaselineStackSet AutoDeployment: AutoDeployment works for SERVICE_MANAGED "
            "StackSets only; remove AutoDeployment, or use PermissionModel: SERVICE_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "BaselineStackSet")["AutoDeployment"] = {
        "Enabled": True,
        "RetainStacksOnAccountRemoval": False,
    }


@mutation(
    "service-managed-stack-set-with-administration-role",
    STACKSETS,
    (
        "E9702",
        res("BaselineStackSet", "AdministrationRoleARN"),
        (
            "BaselineStackSet AdministrationRoleARN: a SERVICE_MANAGED StackSet takes no "
            "AdministrationRoleARN (StackSets creates the roles it needs through "
            "Organizations); remove AdministrationRoleARN, or use PermissionModel: SELF_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    stack_set = props(t, "BaselineStackSet")
    stack_set["PermissionModel"] = "SERVICE_MANAGED"
    del stack_set["ExecutionRoleName"]
    group = stack_set["StackInstancesGroup"][0]
    group["DeploymentTargets"] = {"OrganizationalUnitIds": ["ou-ab12-cdef3456"]}


@mutation(
    "failure-tolerance-count-and-percentage",
    STACKSETS,
    (
        "E9702",
        res("BaselineStackSet", "OperationPreferences", "FailureTolerancePercentage"),
        (
            "BaselineStackSet OperationPreferences.FailureTolerancePercentage: "
            "OperationPreferences sets both FailureToleranceCount and "
            "FailureTolerancePercentage; keep one of FailureToleranceCount and "
            "FailureTolerancePercentage"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "BaselineStackSet")["OperationPreferences"]["FailureTolerancePercentage"] = 10


@mutation(
    "max-concurrent-count-and-percentage",
    STACKSETS,
    (
        "E9702",
        res("BaselineStackSet", "OperationPreferences", "MaxConcurrentPercentage"),
        (
            "BaselineStackSet OperationPreferences.MaxConcurrentPercentage: "
            "OperationPreferences sets both MaxConcurrentCount and MaxConcurrentPercentage; "
            "keep one of MaxConcurrentCount and MaxConcurrentPercentage"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "BaselineStackSet")["OperationPreferences"]["MaxConcurrentCount"] = 2


@mutation(
    "delegated-admin-with-self-managed",
    STACKSETS,
    (
        "E9702",
        res("BaselineStackSet", "CallAs"),
        (
            "BaselineStackSet CallAs: CallAs DELEGATED_ADMIN applies to SERVICE_MANAGED "
            "StackSets only; remove CallAs (SELF is the default), or use PermissionModel: "
            "SERVICE_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "BaselineStackSet")["CallAs"] = "DELEGATED_ADMIN"


@mutation(
    "stack-set-action-self-managed-with-auto-deployment",
    STACKSETS,
    (
        "E9702",
        actions(1, 0, "Configuration", "OrganizationsAutoDeployment"),
        (
            "Pipeline Stages[1].Actions[0].Configuration.OrganizationsAutoDeployment: stage "
            "'DeployFirstOu' action 'StackSet' (CloudFormationStackSet, SELF_MANAGED): "
            "OrganizationsAutoDeployment works for SERVICE_MANAGED only; remove it, or set "
            "PermissionModel: SERVICE_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    configuration = action(t, "DeployFirstOu", "StackSet")["Configuration"]
    del configuration["PermissionModel"]
    configuration["DeploymentTargets"] = "222222222222"
    action(t, "DeployOtherOus", "Instances")["Configuration"]["DeploymentTargets"] = "333333333333"


@mutation(
    "stack-set-action-service-managed-with-roles",
    STACKSETS,
    (
        "E9702",
        actions(1, 0, "Configuration", "AdministrationRoleArn"),
        (
            "Pipeline Stages[1].Actions[0].Configuration.AdministrationRoleArn: stage "
            "'DeployFirstOu' action 'StackSet' (CloudFormationStackSet, SERVICE_MANAGED): a "
            "SERVICE_MANAGED StackSet takes no AdministrationRoleArn; remove "
            "AdministrationRoleArn, or set PermissionModel: SELF_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    configuration = action(t, "DeployFirstOu", "StackSet")["Configuration"]
    configuration["AdministrationRoleArn"] = "arn:aws:iam::111111111111:role/stackset-admin"


@mutation(
    "stack-instances-to-accounts-of-a-service-managed-set",
    STACKSETS,
    (
        "E9702",
        actions(2, 0, "Configuration", "DeploymentTargets"),
        (
            "Pipeline Stages[2].Actions[0].Configuration.DeploymentTargets: stage "
            "'DeployOtherOus' action 'Instances': a SERVICE_MANAGED StackSet deploys to "
            "organizational units, but DeploymentTargets lists account ids ['333333333333']; "
            "list OU ids (ou-...), or set PermissionModel: SELF_MANAGED"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    action(t, "DeployOtherOus", "Instances")["Configuration"]["DeploymentTargets"] = (
        "333333333333,ou-ab12-cdef3458"
    )


# E9801, E9802: IAM condition keys, public topic policies


@mutation(
    "misspelled-permissions-boundary-key",
    SERVERLESS_IAM,
    (
        "E9801",
        res(
            "DevExecutionRolePolicy",
            "PolicyDocument",
            "Statement",
            12,
            "Condition",
            "StringEquals",
            "iam:PermissionBoundary",
        ),
        (
            "DevExecutionRolePolicy "
            "PolicyDocument.Statement[12].Condition.StringEquals.iam:PermissionBoundary: "
            "condition key 'iam:PermissionBoundary' is not a condition key: IAM accepts it, "
            "but no request carries it, so the condition does not test what it says; did you "
            "mean 'iam:PermissionsBoundary'?"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    statement = props(t, "DevExecutionRolePolicy")["PolicyDocument"]["Statement"]
    boundary = next(s for s in statement if s.get("Sid") == "CreateRolesOnlyWithTheBoundary")
    equals = boundary["Condition"]["StringEquals"]
    equals["iam:PermissionBoundary"] = equals.pop("iam:PermissionsBoundary")


@mutation(
    "topic-policy-with-principal-star",
    MICROSERVICE_NOTIFICATIONS,
    (
        "E9802",
        res("PipelineEventsTopicPolicy", "PolicyDocument", "Statement", 0, "Principal"),
        (
            "PipelineEventsTopicPolicy PolicyDocument.Statement[0].Principal: Principal '*' "
            "lets every AWS principal use the topic; name the service principal (e.g. "
            "events.amazonaws.com) or the account roles that need it"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    statement = props(t, "PipelineEventsTopicPolicy")["PolicyDocument"]["Statement"][0]
    statement["Principal"] = "*"


# E9803: SAM


@mutation(
    "deployment-preference-type-typo",
    SAM_APP,
    (
        "E9803",
        res("ApiFunction", "DeploymentPreference", "Type"),
        (
            "ApiFunction DeploymentPreference.Type: DeploymentPreference Type "
            "'Canary10Percent5Minute' is not a SAM deployment type (did you mean "
            "'Canary10Percent5Minutes'?); use one of Canary10Percent30Minutes, "
            "Canary10Percent5Minutes, Canary10Percent10Minutes, Canary10Percent15Minutes, "
            "Linear10PercentEvery10Minutes, Linear10PercentEvery1Minute, "
            "Linear10PercentEvery2Minutes, Linear10PercentEvery3Minutes, AllAtOnce, or Ref an "
            "AWS::CodeDeploy::DeploymentConfig"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "ApiFunction")["DeploymentPreference"]["Type"] = "Canary10Percent5Minute"


@mutation(
    "deployment-preference-parameter-allows-a-typo",
    SAM_APP,
    (
        "E9803",
        ("Parameters", "DeploymentPreferenceType", "AllowedValues", 9),
        (
            "Parameter DeploymentPreferenceType AllowedValues[9]: parameter "
            "DeploymentPreferenceType (the DeploymentPreference Type of a function) allows "
            "'Linear10PercentEvery5Minutes', which is not a SAM deployment type (did you mean "
            "'Linear10PercentEvery2Minutes'?); use one of Canary10Percent30Minutes, "
            "Canary10Percent5Minutes, Canary10Percent10Minutes, Canary10Percent15Minutes, "
            "Linear10PercentEvery10Minutes, Linear10PercentEvery1Minute, "
            "Linear10PercentEvery2Minutes, Linear10PercentEvery3Minutes, AllAtOnce"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    t["Parameters"]["DeploymentPreferenceType"]["AllowedValues"].append(
        "Linear10PercentEvery5Minutes"
    )


@mutation(
    "deployment-preference-without-auto-publish-alias",
    SAM_APP,
    (
        "E9803",
        res("ApiFunction", "DeploymentPreference"),
        (
            "ApiFunction DeploymentPreference: a DeploymentPreference without AutoPublishAlias "
            "on the function (CodeDeploy shifts traffic between versions behind an alias); set "
            "AutoPublishAlias: live on the function"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    del props(t, "ApiFunction")["AutoPublishAlias"]


@mutation(
    "deployment-preference-ref-to-a-missing-alarm",
    SAM_APP,
    (
        "E9803",
        res("ApiFunction", "DeploymentPreference", "Alarms", 1),
        (
            "ApiFunction DeploymentPreference.Alarms[1]: Alarms refers to 'ThrottleAlarm', "
            "which is not a resource of the template (did you mean 'ThrottlesAlarm'?); Ref one "
            "of the template's alarms ['ErrorsAlarm', 'ThrottlesAlarm']"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "ApiFunction")["DeploymentPreference"]["Alarms"][1] = {"Ref": "ThrottleAlarm"}


@mutation(
    "deployment-preference-hook-missing",
    SAM_APP,
    (
        "E9803",
        res("ApiFunction", "DeploymentPreference", "Hooks", "PostTraffic"),
        (
            "ApiFunction DeploymentPreference.Hooks.PostTraffic: hook PostTraffic refers to "
            "'PostTrafficHooks', which is not a resource of the template (did you mean "
            "'PostTrafficHook'?); Ref the hook function's logical id"
        ),
    ),
)
def _(t: dict[str, Any]) -> None:
    props(t, "ApiFunction")["DeploymentPreference"]["Hooks"]["PostTraffic"] = {
        "Ref": "PostTrafficHooks"
    }


# -- the mutation tests -----------------------------------------------------------------------


@pytest.mark.parametrize("relative", UNTOUCHED)
def test_untouched_templates_pass(relative: str) -> None:
    base = FIXTURES if relative.startswith("fixtures:") else OUTPUT
    assert lint(base / relative.removeprefix("fixtures:")) == []


@pytest.mark.parametrize("case", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_planted_mistake_gives_the_exact_finding(tmp_path: Path, case: Mutation) -> None:
    template = copy.deepcopy(source(case.source))
    case.mutate(template)
    assert lint_dict(tmp_path, template) == sorted(case.expected)


def test_every_rule_has_a_mutation_case() -> None:
    assert {rule for case in MUTATIONS for rule, _, _ in case.expected} == SEMANTICS_IDS


# -- table tests: good and bad snippets per rule -------------------------------------------------


CONNECTION = "arn:aws:codeconnections:us-east-1:111111111111:connection/c"


def pipeline_template(**changes: Any) -> dict[str, Any]:
    """A small valid V2 pipeline: source, build, a CloudFormation deploy; `changes` replace
    properties (None removes one)."""
    properties: dict[str, Any] = {
        "PipelineType": "V2",
        "ExecutionMode": "QUEUED",
        "RoleArn": "arn:aws:iam::111111111111:role/pipeline",
        "ArtifactStore": {
            "Type": "S3",
            "Location": "artifacts",
            "EncryptionKey": {"Id": "arn:aws:kms:us-east-1:111111111111:key/k", "Type": "KMS"},
        },
        "Stages": [
            {
                "Name": "Source",
                "Actions": [
                    {
                        "Name": "Checkout",
                        "ActionTypeId": type_id("Source", "CodeStarSourceConnection"),
                        "Configuration": {
                            "ConnectionArn": CONNECTION,
                            "FullRepositoryId": "acme/app",
                            "BranchName": "main",
                        },
                        "OutputArtifacts": [{"Name": "Source"}],
                    }
                ],
            },
            {
                "Name": "Build",
                "Actions": [
                    {
                        "Name": "Build",
                        "ActionTypeId": type_id("Build", "CodeBuild"),
                        "Configuration": {"ProjectName": "build"},
                        "InputArtifacts": [{"Name": "Source"}],
                        "OutputArtifacts": [{"Name": "BuildOutput"}],
                    }
                ],
            },
            {
                "Name": "Deploy",
                "Actions": [
                    {
                        "Name": "Stack",
                        "ActionTypeId": type_id("Deploy", "CloudFormation"),
                        "Configuration": {
                            "ActionMode": "CREATE_UPDATE",
                            "StackName": "app",
                            "TemplatePath": "BuildOutput::template.yaml",
                            "RoleArn": "arn:aws:iam::111111111111:role/cfn",
                        },
                        "InputArtifacts": [{"Name": "BuildOutput"}],
                    }
                ],
            },
        ],
        "Triggers": [
            {
                "ProviderType": "CodeStarSourceConnection",
                "GitConfiguration": {
                    "SourceActionName": "Checkout",
                    "Push": [{"Branches": {"Includes": ["main"]}}],
                },
            }
        ],
    }  # fmt: skip
    for key, value in changes.items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Conditions": {"Prod": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}},
        "Resources": {
            "Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": properties}
        },
    }


def with_stage(template: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    props(template)["Stages"][index].update(changes)
    return template


def with_action(template: dict[str, Any], stage_index: int, **changes: Any) -> dict[str, Any]:
    entry = props(template)["Stages"][stage_index]["Actions"][0]
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return template


def resources(**found: dict[str, Any]) -> dict[str, Any]:
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": found}


def policy_document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def managed_policy(condition: dict[str, Any], effect: str = "Allow") -> dict[str, Any]:
    statement = {
        "Effect": effect,
        "Action": "iam:CreateRole",
        "Resource": "arn:aws:iam::111111111111:role/app-*",
        "Condition": condition,
    }
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"PolicyDocument": policy_document(statement)},
    }


def queue_policy(principal: Any, effect: str = "Allow", key: str = "Principal") -> dict[str, Any]:
    statement = {
        "Effect": effect,
        key: principal,
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:111111111111:q",
    }
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": ["https://sqs.us-east-1.amazonaws.com/111111111111/q"],
            "PolicyDocument": policy_document(statement),
        },
    }


def lambda_group(**changes: Any) -> dict[str, Any]:
    return resources(
        App={"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}},
        Group={
            "Type": "AWS::CodeDeploy::DeploymentGroup",
            "Properties": {
                "ApplicationName": {"Ref": "App"},
                "ServiceRoleArn": "arn:aws:iam::111111111111:role/codedeploy",
                "DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
                "DeploymentStyle": {
                    "DeploymentType": "BLUE_GREEN",
                    "DeploymentOption": "WITH_TRAFFIC_CONTROL",
                },
                **changes,
            },
        },
    )


def server_config(**properties: Any) -> dict[str, Any]:
    return resources(Config={"Type": "AWS::CodeDeploy::DeploymentConfig", "Properties": properties})


def sam_function(preference: Any, **properties: Any) -> dict[str, Any]:
    template = resources(
        Api={
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "app.handler",
                "CodeUri": "src/",
                "AutoPublishAlias": "live",
                "DeploymentPreference": preference,
                **properties,
            },
        },
        Errors={
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "MetricName": "Errors",
                "Namespace": "AWS/Lambda",
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
            },
        },
        Config={
            "Type": "AWS::CodeDeploy::DeploymentConfig",
            "Properties": {
                "ComputePlatform": "Lambda",
                "TrafficRoutingConfig": {
                    "Type": "TimeBasedLinear",
                    "TimeBasedLinear": {"LinearPercentage": 20, "LinearInterval": 2},
                },
            },
        },
    )
    template["Transform"] = "AWS::Serverless-2016-10-31"
    template["Parameters"] = {"AlarmName": {"Type": "String"}}
    return template


Case = tuple[str, dict[str, Any], list[tuple[str, tuple[Any, ...], str]]]

CALL = "arn:aws:iam::111111111111:role/deployer"
TABLE: list[Case] = [
    # E9601
    ("v2-with-everything", pipeline_template(), []),
    ("v1-plain", pipeline_template(PipelineType="V1", ExecutionMode=None, Triggers=None), []),
    (
        "v1-parallel",
        pipeline_template(PipelineType="V1", ExecutionMode="PARALLEL", Triggers=None),
        [("E9601", (*P, "ExecutionMode"), "ExecutionMode PARALLEL is V2-only")],
    ),
    (
        "pipeline-type-by-condition",
        pipeline_template(PipelineType={"Fn::If": ["Prod", "V2", "V1"]}, ExecutionMode=None),
        [("E9601", (*P, "Triggers"), "(PipelineType: V1)")],
    ),
    # E9602
    (
        "tag-only-push-filter",
        pipeline_template(
            Triggers=[
                {
                    "ProviderType": "CodeStarSourceConnection",
                    "GitConfiguration": {
                        "SourceActionName": "Checkout",
                        "Push": [{"Tags": {"Includes": ["v*"]}}],
                        "PullRequest": [{"Branches": {"Includes": ["main"]}, "Events": ["OPEN"]}],
                    },
                }
            ]
        ),
        [],
    ),
    (
        "empty-push-filter-and-pull-request-with-paths-only",
        pipeline_template(
            Triggers=[
                {
                    "ProviderType": "CodeStarSourceConnection",
                    "GitConfiguration": {
                        "SourceActionName": "Checkout",
                        "Push": [{}],
                        "PullRequest": [{"FilePaths": {"Includes": ["src/**"]}}],
                    },
                }
            ]
        ),
        [
            (
                "E9602",
                (*P, "Triggers", 0, "GitConfiguration", "Push", 0),
                "a Push filter without Branches",
            ),
            (
                "E9602",
                (*P, "Triggers", 0, "GitConfiguration", "PullRequest", 0),
                "a PullRequest filter with FilePaths without Branches",
            ),
        ],
    ),
    # E9603
    (
        "entry-fail-and-skip-retry-with-configuration",
        with_stage(
            pipeline_template(),
            2,
            BeforeEntry={
                "Conditions": [
                    {"Result": "FAIL", "Rules": [alarm_rule("A")]},
                    {"Result": "SKIP", "Rules": [alarm_rule("B")]},
                ]
            },
            OnFailure={"Result": "RETRY", "RetryConfiguration": {"RetryMode": "ALL_ACTIONS"}},
        ),
        [],
    ),
    (
        "on-success-skip",
        with_stage(
            pipeline_template(),
            2,
            OnSuccess={"Conditions": [{"Result": "SKIP", "Rules": [alarm_rule("A")]}]},
        ),
        [
            (
                "E9603",
                stages(2, "OnSuccess", "Conditions", 0, "Result"),
                "an OnSuccess condition takes Result ROLLBACK, not 'SKIP'",
            )
        ],
    ),
    (
        "alarm-rule-without-configuration",
        with_stage(
            pipeline_template(),
            2,
            OnSuccess={
                "Conditions": [
                    {
                        "Result": "ROLLBACK",
                        "Rules": [{"Name": "A", "RuleTypeId": type_id("Rule", "CloudWatchAlarm")}],
                    }
                ]
            },
        ),
        [
            (
                "E9603",
                stages(2, "OnSuccess", "Conditions", 0, "Rules", 0),
                "a CloudWatchAlarm rule without Configuration",
            )
        ],
    ),
    # E9604
    (
        "s3-deploy-extracted",
        with_action(
            pipeline_template(),
            2,
            ActionTypeId=type_id("Deploy", "S3"),
            Configuration={"BucketName": "site", "Extract": "true"},
        ),
        [],
    ),
    (
        "s3-deploy-not-extracted-without-object-key",
        with_action(
            pipeline_template(),
            2,
            ActionTypeId=type_id("Deploy", "S3"),
            Configuration={"BucketName": "site", "Extract": False},
        ),
        [
            (
                "E9604",
                actions(2, 0, "Configuration"),
                "has no ObjectKey, which Extract false requires",
            )
        ],
    ),
    (
        "source-code-scan-without-input",
        with_action(
            pipeline_template(),
            2,
            ActionTypeId=type_id("Invoke", "InspectorScan"),
            Configuration={"InspectorRunMode": "SourceCodeScan", "CriticalThreshold": "0"},
            InputArtifacts=None,
            OutputArtifacts=[{"Name": "Sbom"}],
        ),
        [("E9604", actions(2, 0), "has 0 input artifacts; it takes exactly 1")],
    ),
    (
        "eks-without-a-mode",
        with_action(
            pipeline_template(),
            2,
            ActionTypeId=type_id("Deploy", "EKS"),
            Configuration={"ClusterName": "c", "Namespace": "app"},
        ),
        [("E9604", actions(2, 0, "Configuration"), "chooses no mode (Helm or Kubectl)")],
    ),
    (
        "eks-helm-without-chart",
        with_action(
            pipeline_template(),
            2,
            ActionTypeId=type_id("Deploy", "EKS"),
            Configuration={"ClusterName": "c", "HelmReleaseName": "app"},
        ),
        [("E9604", actions(2, 0, "Configuration"), "uses Helm without HelmChartLocation")],
    ),
    (
        "primary-source-names-an-input",
        with_action(
            pipeline_template(),
            1,
            Configuration={"ProjectName": "build", "PrimarySource": "Source"},
        ),
        [],
    ),
    (
        "primary-source-names-no-input",
        with_action(
            pipeline_template(),
            1,
            Configuration={"ProjectName": "build", "PrimarySource": "Sources"},
        ),
        [
            (
                "E9604",
                actions(1, 0, "Configuration", "PrimarySource"),
                "names artifact 'Sources', which is not an input artifact of the action "
                "(did you mean 'Source'?)",
            )
        ],
    ),
    (
        "template-path-without-artifact",
        with_action(
            pipeline_template(),
            2,
            Configuration={
                "ActionMode": "CREATE_UPDATE",
                "StackName": "app",
                "TemplatePath": "template.yaml",
                "RoleArn": CALL,
            },
        ),
        [
            (
                "E9604",
                actions(2, 0, "Configuration", "TemplatePath"),
                "TemplatePath 'template.yaml' is not ArtifactName::path",
            )
        ],
    ),
    (
        "values-through-intrinsics-and-variables",
        with_action(
            pipeline_template(),
            2,
            Configuration={
                "ActionMode": {"Fn::If": ["Prod", "CREATE_UPDATE", "REPLACE_ON_FAILURE"]},
                "StackName": {"Ref": "AWS::StackName"},
                "TemplatePath": "#{BuildVariables.TEMPLATE}",
                "RoleArn": CALL,
            },
        ),
        [],
    ),
    (
        "custom-and-third-party-providers-are-skipped",
        with_action(
            pipeline_template(),
            1,
            ActionTypeId=type_id("Build", "Jenkins", owner="Custom"),
            Configuration={"ProjectName": "build", "Anything": "goes"},
        ),
        [],
    ),
    (
        "create-update-without-role",
        with_action(
            pipeline_template(),
            2,
            Configuration={
                "ActionMode": "CREATE_UPDATE",
                "StackName": "app",
                "TemplatePath": "BuildOutput::template.yaml",
            },
        ),
        [
            (
                "E9604",
                actions(2, 0, "Configuration"),
                "has no RoleArn, which ActionMode CREATE_UPDATE requires",
            )
        ],
    ),
    # E9605
    (
        "execute-before-its-replace",
        with_stage(
            pipeline_template(),
            2,
            Actions=[
                {
                    "Name": "Prepare",
                    "ActionTypeId": type_id("Deploy", "CloudFormation"),
                    "Configuration": {
                        "ActionMode": "CHANGE_SET_REPLACE",
                        "StackName": "app",
                        "ChangeSetName": "cs",
                        "TemplatePath": "BuildOutput::template.yaml",
                        "RoleArn": CALL,
                    },
                    "InputArtifacts": [{"Name": "BuildOutput"}],
                    "RunOrder": 2,
                },
                {
                    "Name": "Execute",
                    "ActionTypeId": type_id("Deploy", "CloudFormation"),
                    "Configuration": {
                        "ActionMode": "CHANGE_SET_EXECUTE",
                        "StackName": "app",
                        "ChangeSetName": "cs",
                    },
                },
                {
                    "Name": "OtherStack",
                    "ActionTypeId": type_id("Deploy", "CloudFormation"),
                    "Configuration": {
                        "ActionMode": "CHANGE_SET_EXECUTE",
                        "StackName": "other",
                        "ChangeSetName": "cs",
                    },
                },
            ],
        ),
        [("E9605", actions(2, 1), "at RunOrder 1, not after stage 'Deploy' action 'Prepare'")],
    ),
    # E9606
    (
        "cross-region-with-stores",
        with_action(
            pipeline_template(
                ArtifactStore=None,
                ArtifactStores=[
                    {
                        "Region": {"Ref": "AWS::Region"},
                        "ArtifactStore": props(pipeline_template())["ArtifactStore"],
                    },
                    {
                        "Region": "eu-west-1",
                        "ArtifactStore": props(pipeline_template())["ArtifactStore"],
                    },
                ],
            ),
            2,
            Region="eu-west-1",
        ),
        [],
    ),
    ("same-region-with-one-store", with_action(pipeline_template(), 2, Region="us-east-1"), []),
    (
        "third-party-action-with-region",
        with_action(
            pipeline_template(),
            1,
            ActionTypeId=type_id("Build", "Jenkins", owner="Custom"),
            Region="eu-west-1",
        ),
        [("E9606", actions(1, 0, "Region"), "is a Custom action, and only AWS actions")],
    ),
    # E9701
    ("lambda-blue-green-needs-no-load-balancer", lambda_group(), []),
    (
        "stop-on-alarm-with-disabled-alarms",
        lambda_group(
            AutoRollbackConfiguration={"Enabled": True, "Events": ["DEPLOYMENT_STOP_ON_ALARM"]},
            AlarmConfiguration={"Enabled": False, "Alarms": [{"Name": "errors"}]},
        ),
        [
            (
                "E9701",
                ("Resources", "Group", "Properties", "AutoRollbackConfiguration", "Events", 0),
                "but AlarmConfiguration is not enabled",
            )
        ],
    ),
    (
        "server-config-without-minimum-healthy-hosts",
        server_config(ComputePlatform="Server"),
        [("E9701", ("Resources", "Config", "Properties"), "without MinimumHealthyHosts")],
    ),
    (
        "traffic-routing-on-the-server-platform",
        server_config(
            MinimumHealthyHosts={"Type": "HOST_COUNT", "Value": 1},
            TrafficRoutingConfig={"Type": "AllAtOnce"},
        ),
        [
            (
                "E9701",
                ("Resources", "Config", "Properties", "TrafficRoutingConfig"),
                "applies to ECS and Lambda, not the Server platform",
            )
        ],
    ),
    (
        "on-premises-tag-filters-and-set",
        lambda_group(
            OnPremisesInstanceTagFilters=[{"Key": "a", "Value": "b", "Type": "KEY_AND_VALUE"}],
            OnPremisesTagSet={"OnPremisesTagSetList": []},
        ),
        [
            (
                "E9701",
                ("Resources", "Group", "Properties", "OnPremisesTagSet"),
                "both OnPremisesInstanceTagFilters and OnPremisesTagSet",
            )
        ],
    ),
    # E9801
    (
        "real-condition-keys",
        resources(
            Policy=managed_policy(
                {
                    "StringEquals": {
                        "aws:PrincipalOrgID": "o-a1b2c3d4e5",
                        "aws:ResourceTag/team": "ops",
                        "IAM:passedtoservice": "ecs-tasks.amazonaws.com",
                        "ec2:Anything": "x",
                        "kms:EncryptionContext:aws:logs:arn": "arn",
                    }
                }
            )
        ),
        [],
    ),
    (
        "misspelled-global-and-service-keys",
        resources(
            Policy=managed_policy(
                {"StringEquals": {"aws:SourceAcount": "111111111111", "kms:ViaServce": "s3"}},
                effect="Deny",
            )
        ),
        [
            (
                "E9801",
                (
                    "Resources",
                    "Policy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Condition",
                    "StringEquals",
                    "aws:SourceAcount",
                ),
                "did you mean 'aws:SourceAccount'?",
            ),
            (
                "E9801",
                (
                    "Resources",
                    "Policy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Condition",
                    "StringEquals",
                    "kms:ViaServce",
                ),
                "did you mean 'kms:ViaService'?",
            ),
        ],
    ),
    # E9802
    (
        "queue-policy-for-a-service",
        resources(Policy=queue_policy({"Service": "events.amazonaws.com"})),
        [],
    ),
    ("deny-everyone", resources(Policy=queue_policy("*", effect="Deny")), []),
    (
        "queue-policy-for-aws-star",
        resources(Policy=queue_policy({"AWS": ["arn:aws:iam::111111111111:root", "*"]})),
        [
            (
                "E9802",
                (
                    "Resources",
                    "Policy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Principal",
                    "AWS",
                    1,
                ),
                "Principal '*' lets every AWS principal use the queue",
            )
        ],
    ),
    (
        "queue-policy-not-principal",
        resources(Policy=queue_policy({"AWS": CALL}, key="NotPrincipal")),
        [
            (
                "E9802",
                (
                    "Resources",
                    "Policy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "NotPrincipal",
                ),
                "Allow with NotPrincipal opens the queue",
            )
        ],
    ),
    # E9803
    (
        "preference-with-a-config-resource-and-parameter-alarm",
        sam_function(
            {"Type": {"Ref": "Config"}, "Alarms": [{"Ref": "Errors"}, {"Ref": "AlarmName"}]}
        ),
        [],
    ),
    (
        "disabled-preference-needs-no-alias",
        sam_function({"Enabled": False, "Type": "Linear"}, AutoPublishAlias=None),
        [],
    ),
    (
        "preference-type-refers-to-a-function-and-alarm-to-a-config",
        sam_function({"Type": {"Ref": "Api"}, "Alarms": [{"Ref": "Config"}]}),
        [
            (
                "E9803",
                ("Resources", "Api", "Properties", "DeploymentPreference", "Type"),
                "refers to 'Api', a AWS::Serverless::Function",
            ),
            (
                "E9803",
                ("Resources", "Api", "Properties", "DeploymentPreference", "Alarms", 0),
                "refers to 'Config', a AWS::CodeDeploy::DeploymentConfig, not an alarm",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE])
def test_rule_table(
    tmp_path: Path, body: dict[str, Any], expected: list[tuple[str, tuple[Any, ...], str]]
) -> None:
    body = json.loads(json.dumps(body))
    for resource in body["Resources"].values():  # `None` removes a property in the builders
        resource["Properties"] = {
            k: v for k, v in resource.get("Properties", {}).items() if v is not None
        }
    found = lint_dict(tmp_path, body)
    assert sorted((rule, path) for rule, path, _ in found) == sorted(
        (rule, path) for rule, path, _ in expected
    ), "\n".join(map(str, found))
    for (_, _, message), (_, _, fragment) in zip(sorted(found), sorted(expected), strict=True):
        assert fragment in message, (fragment, message)


# -- the rules themselves, their data and how they are loaded ----------------------------------


def test_rules_load_from_the_guardrail_folder_like_cfn_lint_append_rules() -> None:
    from cfnlint.helpers import create_rules, import_filename
    from cfnlint.rules import Rules

    loaded = Rules.create_from_directory(GUARDRAIL_RULES)
    assert {rule for rule in loaded if is_semantics(rule)} == SEMANTICS_IDS
    for rule_id in SEMANTICS_IDS:
        rule = loaded[rule_id]
        assert rule.shortdesc and len(rule.shortdesc) <= 80, rule_id
        assert len(rule.description) > len(rule.shortdesc), rule_id
        assert rule.source_url.startswith("https://docs.aws.amazon.com/"), rule_id
        assert "pipegen" in rule.tags and "semantics" in rule.tags, rule_id
    for path in sorted(Path(GUARDRAIL_RULES).glob("[A-Za-z1-9]*.py")):
        module = import_filename(path.stem, str(path.parent))
        assert len(create_rules(module)) == 1, f"{path.name}: one rule class a file"


def test_the_gate_runs_them_and_template_metadata_cannot_silence_them(tmp_path: Path) -> None:
    template = copy.deepcopy(source(SERVERLESS_PIPELINE))
    action(template, "DeployDev", "ExecuteChangeSet")["RunOrder"] = 1
    template["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["E9605"]}}}
    template["Resources"]["Pipeline"]["Metadata"] = {
        "cfn-lint": {"config": {"ignore_checks": ["E9605"]}}
    }
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(template))
    findings = gate.lint_one(gate.LintJob(path, "pipeline.json", ("us-east-1",)))
    assert [(f.rule, f.resource) for f in findings] == [("E9605", "Pipeline")], findings


def test_odd_shapes_and_intrinsics_never_crash_a_rule(tmp_path: Path) -> None:
    """Values the rules cannot know are skipped, never a crash (cfn-lint reports a rule that
    raises as E0002)."""
    ref = {"Ref": "Value"}
    template = pipeline_template(
        Stages=[
            ref,
            {"Name": "Odd", "Actions": ref},
            {
                "Name": ref,
                "Actions": [
                    ref,
                    {"Name": "A", "ActionTypeId": ref, "Configuration": ref, "RunOrder": ref},
                    {
                        "Name": "B",
                        "ActionTypeId": type_id("Deploy", "CloudFormation"),
                        "Configuration": {"Fn::If": ["Prod", {}, ref]},
                        "InputArtifacts": ref,
                        "OutputArtifacts": [ref],
                        "Region": ref,
                    },
                    {
                        "Name": "C",
                        "ActionTypeId": type_id("Deploy", "CodeDeployToECS"),
                        "Configuration": {"ApplicationName": ref, "DeploymentGroupName": 3},
                        "InputArtifacts": [{"Name": ref}],
                    },
                ],
                "OnSuccess": {"Conditions": ref},
                "OnFailure": {"Result": ref, "Conditions": [ref, {"Rules": ref}]},
                "BeforeEntry": ref,
            },
        ],
        ArtifactStores=ref,
        ArtifactStore=None,
        Triggers=[ref, {"GitConfiguration": ref}, {"GitConfiguration": {"Push": ref}}],
        PipelineType=ref,
    )
    template["Parameters"] = {"Value": {"Type": "String"}}
    template["Resources"].update(
        Group={
            "Type": "AWS::CodeDeploy::DeploymentGroup",
            "Properties": {
                "ApplicationName": ref,
                "ServiceRoleArn": CALL,
                "DeploymentStyle": ref,
                "AutoRollbackConfiguration": {"Events": ref},
                "AlarmConfiguration": ref,
            },
        },
        StackSet={
            "Type": "AWS::CloudFormation::StackSet",
            "Properties": {
                "StackSetName": "s",
                "PermissionModel": ref,
                "OperationPreferences": ref,
                "StackInstancesGroup": ref,
            },
        },
        Policy=managed_policy(ref),
        Topic={
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {"Topics": [ref], "PolicyDocument": ref},
        },
    )
    found = lint_dict(tmp_path, template)
    assert not [f for f in found if f[0].startswith("E0")], found


def test_action_configuration_data_covers_the_providers_we_use() -> None:
    providers = {
        "CodeBuild", "CodeDeploy", "CodeDeployToECS", "ECS", "EKS", "CloudFormation",
        "CloudFormationStackSet", "CloudFormationStackInstances", "Lambda", "Manual",
        "InspectorScan", "ECRBuildAndPublish", "S3", "CodeStarSourceConnection", "CodeCommit",
        "AppConfig",
    }  # fmt: skip
    schemas = action_schemas()
    assert set(schemas) == providers
    categories = {"Source", "Build", "Test", "Deploy", "Approval", "Invoke"}
    for provider, entries in schemas.items():
        seen: set[str] = set()
        for schema in entries:
            assert schema.source.startswith(
                "https://docs.aws.amazon.com/codepipeline/latest/userguide/"
            ), provider
            assert set(schema.categories) <= categories and not seen & set(schema.categories)
            seen |= set(schema.categories)
            assert len(set(schema.keys)) == len(schema.keys), f"{provider}: a key twice"
            named = {
                *schema.values,
                *schema.list_values,
                *schema.ranges,
                *schema.artifact_keys,
                *schema.artifact_path_keys,
                *(k for group in schema.together for k in group),
                *(k for mode in schema.modes for k in (*mode.keys, *mode.requires)),
                *(k for c in schema.when for k in (c.key, *c.require)),
            }
            assert named <= set(schema.keys), f"{provider}: {named - set(schema.keys)}"
            for bounds in (schema.input_artifacts, schema.output_artifacts):
                assert bounds.maximum is None or bounds.minimum <= bounds.maximum
    v2_only = {p for p, entries in schemas.items() if any(s.v2_only for s in entries)}
    assert v2_only == {"EKS", "ECRBuildAndPublish"}


def test_the_action_data_is_part_of_the_lint_cache_key() -> None:
    from generator.lint.rules._helpers import ACTION_CONFIGURATIONS, DATA_FILES

    assert ACTION_CONFIGURATIONS in DATA_FILES


def test_plain_cfn_lint_runs_the_rules_with_append_rules(tmp_path: Path) -> None:
    template = copy.deepcopy(source(SERVERLESS_PIPELINE))
    del action(template, "DeployProd", "ComplianceCheck")["Configuration"]["FunctionName"]
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(template, indent=1))
    (tmp_path / ".cfnlintrc").write_text("ignore_checks: []\n")  # no stray repository config
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [
            str(cfn_lint),
            "--append-rules",
            str(REPO / "generator" / "lint" / "rules"),
            "--regions",
            "us-east-1",
            "--format",
            "parseable",
            "--",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stdout.splitlines() if ":E96" in line]
    assert len(lines) == 1, result.stdout
    assert ":E9604:" in lines[0]
    assert "action 'ComplianceCheck' (Lambda) has no FunctionName" in lines[0]
