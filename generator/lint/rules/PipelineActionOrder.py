"""E9605: actions run after what they depend on (change sets, artifacts)."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._pipeline import Action, Pipeline, pipelines, where


def _change_set(action: Action) -> tuple[str, str, str] | None:
    """(ActionMode, StackName, ChangeSetName) of a CloudFormation change-set action."""
    if action.owner != "AWS" or action.provider != "CloudFormation":
        return None
    mode = action.setting_text("ActionMode")
    stack = action.setting_text("StackName")
    change_set = action.setting_text("ChangeSetName")
    if mode not in ("CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE") or not stack or not change_set:
        return None
    return mode, stack, change_set


class PipelineActionOrder(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9605"
    shortdesc = "Pipeline actions run after the actions they depend on"
    description = (
        "In an AWS::CodePipeline::Pipeline, a CloudFormation CHANGE_SET_EXECUTE action runs "
        "in a later RunOrder than the CHANGE_SET_REPLACE action of the same stack and change "
        "set in its stage (actions with the same RunOrder run in parallel, so the change set "
        "would not exist yet), and an action never reads an input artifact that an action of "
        "its own stage writes in the same or a later RunOrder."
    )
    source_url = (
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/"
        "reference-pipeline-structure.html#action-requirements"
    )
    tags = ["pipegen", "semantics", "codepipeline", "run-order"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for pipeline in pipelines(cfn):
            self._change_sets(pipeline, matches)
            self._artifacts(pipeline, matches)
        return matches

    def _change_sets(self, pipeline: Pipeline, matches: list[RuleMatch]) -> None:
        for stage in pipeline.stages:
            replaces: dict[tuple[str, str], list[Action]] = {}
            for action in stage.actions:
                found = _change_set(action)
                if found and found[0] == "CHANGE_SET_REPLACE":
                    replaces.setdefault(found[1:], []).append(action)
            for action in stage.actions:
                found = _change_set(action)
                if not found or found[0] != "CHANGE_SET_EXECUTE" or action.run_order is None:
                    continue
                for replace in replaces.get(found[1:], []):
                    if replace.run_order is None or action.run_order > replace.run_order:
                        continue
                    at = [*action.path, "RunOrder"] if "RunOrder" in action.body else action.path
                    matches.append(
                        RuleMatch(
                            at,
                            f"{where(at)}: {action.label} executes change set {found[2]!r} of "
                            f"stack {found[1]!r} at RunOrder {action.run_order}, not after "
                            f"{replace.label} creates it (RunOrder {replace.run_order}); set "
                            f"RunOrder to at least {replace.run_order + 1}",
                        )
                    )

    def _artifacts(self, pipeline: Pipeline, matches: list[RuleMatch]) -> None:
        for stage in pipeline.stages:
            written: dict[str, list[Action]] = {}
            for action in stage.actions:
                for artifact in action.artifacts("OutputArtifacts") or []:
                    if isinstance(artifact.name, str):
                        written.setdefault(artifact.name, []).append(action)
            for action in stage.actions:
                if action.run_order is None:
                    continue
                for artifact in action.artifacts("InputArtifacts") or []:
                    if not isinstance(artifact.name, str):
                        continue
                    for writer in written.get(artifact.name, []):
                        if writer is action or writer.run_order is None:
                            continue
                        if writer.run_order < action.run_order:
                            continue
                        matches.append(
                            RuleMatch(
                                artifact.path,
                                f"{where(artifact.path)}: {action.label} (RunOrder "
                                f"{action.run_order}) reads artifact {artifact.name!r}, which "
                                f"{writer.label} writes at RunOrder {writer.run_order}; give "
                                f"the reader a RunOrder above {writer.run_order}",
                            )
                        )
