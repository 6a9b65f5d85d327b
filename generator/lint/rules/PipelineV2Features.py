"""E9601: a V1 pipeline uses no V2-only feature."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, alternatives
from generator.lint.rules._pipeline import pipelines, v2_only_providers, where

V2_MODES = ("QUEUED", "PARALLEL")
STAGE_CONDITIONS = ("BeforeEntry", "OnSuccess", "OnFailure")


class PipelineV2Features(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9601"
    shortdesc = "V1 pipelines use no V2-only features"
    description = (
        "An AWS::CodePipeline::Pipeline whose PipelineType is V1 (or not set: CloudFormation "
        "creates V1 then) cannot use what only V2 pipelines have: Triggers, pipeline-level "
        "Variables, ExecutionMode QUEUED or PARALLEL, stage conditions (BeforeEntry, OnSuccess, "
        "OnFailure) and the V2-only actions of generator/data/action_configurations.yaml "
        "(EKS, ECRBuildAndPublish). CodePipeline rejects such a pipeline when the stack is "
        "deployed."
    )
    source_url = "https://docs.aws.amazon.com/codepipeline/latest/userguide/pipeline-types.html"
    tags = ["pipegen", "semantics", "codepipeline", "pipeline-type"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        v2_only = v2_only_providers()
        for pipeline in pipelines(cfn):
            v1, _, how = pipeline.is_v1()
            if not v1:
                continue
            fix = "set PipelineType: V2"

            def report(path: list[Any], problem: str, fix: str = fix, how: str = how) -> None:
                matches.append(
                    RuleMatch(path, f"{where(path)}: {problem}, but the pipeline {how}; {fix}")
                )

            for key, feature in (
                ("Triggers", "Git triggers are V2-only"),
                ("Variables", "pipeline-level variables are V2-only"),
            ):
                for value, at in pipeline.value(key):
                    if value is not MISSING and value != []:
                        report(at, feature, f"{fix} or remove {key}")
            for value, at in pipeline.value("ExecutionMode"):
                if value in V2_MODES:
                    report(at, f"ExecutionMode {value} is V2-only", f"{fix} or use SUPERSEDED")
            for stage in pipeline.stages:
                for key in STAGE_CONDITIONS:
                    if key not in stage.body:
                        continue
                    for value, at in alternatives(stage.body[key], [*stage.path, key]):
                        if value is not MISSING:
                            report(
                                at,
                                f"{stage.label} has {key}; stage conditions are V2-only",
                                f"{fix} or remove {key}",
                            )
                for action in stage.actions:
                    provider = action.provider
                    if action.owner == "AWS" and provider in v2_only:
                        report(
                            [*action.path, "ActionTypeId", "Provider"],
                            f"{action.label} uses the {provider} action, which is V2-only "
                            f"({v2_only[provider]})",
                        )
        return matches
