"""E9702: StackSets (the resource and the pipeline actions) use permission-model options that
go together."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, PathT, is_false, items, lookup, resources_of
from generator.lint.rules._pipeline import Action, literal, pipelines, where

STACK_SET = "AWS::CloudFormation::StackSet"
SELF = "SELF_MANAGED"
SERVICE = "SERVICE_MANAGED"
PAIRS = (
    ("FailureToleranceCount", "FailureTolerancePercentage"),
    ("MaxConcurrentCount", "MaxConcurrentPercentage"),
)
OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")


def _one(node: Any, path: PathT, *keys: str) -> tuple[Any, PathT]:
    found = [(literal(v), at) for v, at in lookup(node, path, *keys)]
    if len({repr(v) for v, _ in found}) != 1:
        return None, path
    return found[0]


class StackSetSemantics(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9702"
    shortdesc = "StackSets use options that fit their permission model"
    description = (
        "AWS::CloudFormation::StackSet: SELF_MANAGED takes no organizational units, no "
        "AutoDeployment and no CallAs DELEGATED_ADMIN; SERVICE_MANAGED takes no "
        "AdministrationRoleARN or ExecutionRoleName; OperationPreferences sets a count or a "
        "percentage, not both, for failure tolerance and for concurrency. The pipeline's "
        "CloudFormationStackSet and CloudFormationStackInstances actions follow the same "
        "model: SELF_MANAGED (the default) deploys to account ids without "
        "OrganizationsAutoDeployment, SERVICE_MANAGED to organizational units without "
        "AdministrationRoleArn or ExecutionRoleName."
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
        "stacksets-concepts.html#stacksets-concepts-stackset-permission-models"
    )
    tags = ["pipegen", "semantics", "cloudformation", "stacksets"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for _, _, properties, base in resources_of(cfn, STACK_SET):
            self._resource(properties, base, matches)
        for pipeline in pipelines(cfn):
            models: dict[str, str] = {}
            actions = [a for a in pipeline.actions if a.owner == "AWS"]
            for action in actions:
                if action.provider == "CloudFormationStackSet":
                    model = action.setting_text("PermissionModel") or (
                        SELF if action.setting("PermissionModel")[0][0] is MISSING else ""
                    )
                    name = action.setting_text("StackSetName")
                    if name and model:
                        models[name] = model
                    if model:
                        self._action(action, model, matches)
            for action in actions:
                if action.provider == "CloudFormationStackInstances":
                    name = action.setting_text("StackSetName")
                    if name in models:
                        self._targets(action, models[name], matches)
        return matches

    def _report(self, matches: list[RuleMatch], at: PathT, problem: str, fix: str) -> None:
        matches.append(RuleMatch(at, f"{where(at)}: {problem}; {fix}"))

    def _resource(
        self, properties: Mapping[str, Any], base: PathT, matches: list[RuleMatch]
    ) -> None:
        model, _ = _one(properties, base, "PermissionModel")
        if model == SELF:
            for group, at in items(
                properties.get("StackInstancesGroup", MISSING), [*base, "StackInstancesGroup"]
            ):
                for units, spot in lookup(group, at, "DeploymentTargets", "OrganizationalUnitIds"):
                    if units is not MISSING:
                        self._report(
                            matches,
                            spot,
                            "a SELF_MANAGED StackSet deploys to accounts, not organizational units",
                            "list DeploymentTargets.Accounts, or use PermissionModel: "
                            "SERVICE_MANAGED",
                        )
            auto = properties.get("AutoDeployment", MISSING)
            if auto is not MISSING:
                enabled = auto.get("Enabled") if isinstance(auto, Mapping) else None
                if not is_false(enabled):
                    self._report(
                        matches,
                        [*base, "AutoDeployment"],
                        "AutoDeployment works for SERVICE_MANAGED StackSets only",
                        "remove AutoDeployment, or use PermissionModel: SERVICE_MANAGED",
                    )
            call_as, at = _one(properties, base, "CallAs")
            if call_as == "DELEGATED_ADMIN":
                self._report(
                    matches,
                    at,
                    "CallAs DELEGATED_ADMIN applies to SERVICE_MANAGED StackSets only",
                    "remove CallAs (SELF is the default), or use PermissionModel: SERVICE_MANAGED",
                )
        elif model == SERVICE:
            for key in ("AdministrationRoleARN", "ExecutionRoleName"):
                if key in properties:
                    self._report(
                        matches,
                        [*base, key],
                        f"a SERVICE_MANAGED StackSet takes no {key} (StackSets creates the "
                        "roles it needs through Organizations)",
                        f"remove {key}, or use PermissionModel: SELF_MANAGED",
                    )
        for first, second in PAIRS:
            preferences = properties.get("OperationPreferences")
            if isinstance(preferences, Mapping) and first in preferences and second in preferences:
                at = [*base, "OperationPreferences", second]
                self._report(
                    matches,
                    at,
                    f"OperationPreferences sets both {first} and {second}",
                    f"keep one of {first} and {second}",
                )

    def _action(self, action: Action, model: str, matches: list[RuleMatch]) -> None:
        configuration = action.configuration or {}
        label = f"{action.label} (CloudFormationStackSet, {model})"
        path = action.configuration_path
        if model == SELF and "OrganizationsAutoDeployment" in configuration:
            self._report(
                matches,
                [*path, "OrganizationsAutoDeployment"],
                f"{label}: OrganizationsAutoDeployment works for SERVICE_MANAGED only",
                "remove it, or set PermissionModel: SERVICE_MANAGED",
            )
        if model == SERVICE:
            for key in ("AdministrationRoleArn", "ExecutionRoleName"):
                if key in configuration:
                    self._report(
                        matches,
                        [*path, key],
                        f"{label}: a SERVICE_MANAGED StackSet takes no {key}",
                        f"remove {key}, or set PermissionModel: SELF_MANAGED",
                    )
        self._targets(action, model, matches)

    def _targets(self, action: Action, model: str, matches: list[RuleMatch]) -> None:
        for value, at in action.setting("DeploymentTargets"):
            if not isinstance(value, str) or "::" in value or "#{" in value:
                continue  # a file in an artifact, or a variable
            targets = [t.strip() for t in value.split(",") if t.strip()]
            if model == SELF:
                wrong = [t for t in targets if OU_ID.match(t) or ROOT_ID.match(t)]
                if wrong:
                    self._report(
                        matches,
                        at,
                        f"{action.label}: a SELF_MANAGED StackSet deploys to account ids, but "
                        f"DeploymentTargets lists organizational units {wrong}",
                        "list account ids, or set PermissionModel: SERVICE_MANAGED",
                    )
            elif model == SERVICE:
                wrong = [t for t in targets if ACCOUNT_ID.match(t)]
                if wrong:
                    self._report(
                        matches,
                        at,
                        f"{action.label}: a SERVICE_MANAGED StackSet deploys to organizational "
                        f"units, but DeploymentTargets lists account ids {wrong}",
                        "list OU ids (ou-...), or set PermissionModel: SELF_MANAGED",
                    )
