"""E9803: SAM DeploymentPreference names a real traffic-shifting type, an alias and real
alarms and hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    MISSING,
    PathT,
    alternatives,
    is_false,
    is_intrinsic,
    resources_of,
)
from generator.lint.rules._pipeline import did_you_mean, where

FUNCTION = "AWS::Serverless::Function"
ALARM = "AWS::CloudWatch::Alarm"
DEPLOYMENT_CONFIG = "AWS::CodeDeploy::DeploymentConfig"
FUNCTIONS = (FUNCTION, "AWS::Lambda::Function")
# The predefined types SAM turns into CodeDeployDefault.Lambda<Type>.
TYPES = (
    "Canary10Percent30Minutes",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Linear10PercentEvery10Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "AllAtOnce",
)


class SamDeploymentPreference(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9803"
    shortdesc = "SAM DeploymentPreference uses a real type, an alias, and existing alarms"
    description = (
        "An enabled DeploymentPreference of an AWS::Serverless::Function: its Type (a free "
        "string to SAM and to cfn-lint) is one of SAM's predefined types, a parameter whose "
        "Default and AllowedValues are, or a Ref to an AWS::CodeDeploy::DeploymentConfig; the "
        "function sets AutoPublishAlias (traffic shifting moves an alias between versions); "
        "every Ref in Alarms names an AWS::CloudWatch::Alarm or a parameter, and every Ref in "
        "Hooks a function of the template."
    )
    source_url = (
        "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/"
        "sam-property-function-deploymentpreference.html"
    )
    tags = ["pipegen", "semantics", "sam", "codedeploy"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        template = cfn.template if isinstance(cfn.template, Mapping) else {}
        resources = template.get("Resources") or {}
        parameters = template.get("Parameters") or {}
        for _, _, properties, base in resources_of(cfn, FUNCTION):
            if "DeploymentPreference" not in properties:
                continue
            for preference, at in alternatives(
                properties["DeploymentPreference"], [*base, "DeploymentPreference"]
            ):
                if not isinstance(preference, Mapping) or is_intrinsic(preference):
                    continue
                if is_false(preference.get("Enabled", True)):
                    continue
                self._preference(properties, base, preference, at, resources, parameters, matches)
        return matches

    def _report(self, matches: list[RuleMatch], at: PathT, problem: str, fix: str) -> None:
        matches.append(RuleMatch(at, f"{where(at)}: {problem}; {fix}"))

    def _preference(
        self,
        properties: Mapping[str, Any],
        base: PathT,
        preference: Mapping[str, Any],
        at: PathT,
        resources: Mapping[str, Any],
        parameters: Mapping[str, Any],
        matches: list[RuleMatch],
    ) -> None:
        if "AutoPublishAlias" not in properties:
            self._report(
                matches,
                at,
                "a DeploymentPreference without AutoPublishAlias on the function (CodeDeploy "
                "shifts traffic between versions behind an alias)",
                "set AutoPublishAlias: live on the function",
            )
        if "Type" in preference:
            for kind, spot in alternatives(preference["Type"], [*at, "Type"]):
                self._type(kind, spot, resources, parameters, matches)
        for alarm, spot in _entries(preference.get("Alarms", MISSING), [*at, "Alarms"]):
            self._alarm(alarm, spot, resources, parameters, matches)
        hooks = preference.get("Hooks")
        if isinstance(hooks, Mapping) and not is_intrinsic(hooks):
            for hook, value in hooks.items():
                target = _ref_target(value)
                if target is None:
                    continue
                if target in resources or target in parameters:
                    if target in resources and _type_of(resources, target) not in FUNCTIONS:
                        self._report(
                            matches,
                            [*at, "Hooks", hook],
                            f"hook {hook} refers to {target!r}, a "
                            f"{_type_of(resources, target)}, not a function",
                            "Ref the CodeDeployHook_ function that runs the check",
                        )
                    continue
                self._report(
                    matches,
                    [*at, "Hooks", hook],
                    f"hook {hook} refers to {target!r}, which is not a resource of the template"
                    f"{did_you_mean(target, sorted(resources))}",
                    "Ref the hook function's logical id",
                )

    def _type(
        self,
        kind: Any,
        at: PathT,
        resources: Mapping[str, Any],
        parameters: Mapping[str, Any],
        matches: list[RuleMatch],
    ) -> None:
        if isinstance(kind, str):
            if kind not in TYPES:
                self._report(
                    matches,
                    at,
                    f"DeploymentPreference Type {kind!r} is not a SAM deployment type"
                    f"{did_you_mean(kind, TYPES)}",
                    f"use one of {', '.join(TYPES)}, or Ref an {DEPLOYMENT_CONFIG}",
                )
            return
        target = _ref_target(kind)
        if target is None:
            return
        if target in resources:
            if _type_of(resources, target) != DEPLOYMENT_CONFIG:
                self._report(
                    matches,
                    at,
                    f"DeploymentPreference Type refers to {target!r}, a "
                    f"{_type_of(resources, target)}",
                    f"Ref an {DEPLOYMENT_CONFIG} or use a predefined type",
                )
            return
        parameter = parameters.get(target)
        if not isinstance(parameter, Mapping):
            self._report(
                matches,
                at,
                f"DeploymentPreference Type refers to {target!r}, which is neither a parameter "
                "nor a resource of the template",
                "Ref a parameter or use a predefined type",
            )
            return
        place = ["Parameters", target]
        values: list[tuple[list[Any], Any]] = []
        if isinstance(parameter.get("Default"), str):
            values.append((["Default"], parameter["Default"]))
        allowed = parameter.get("AllowedValues")
        for index, value in enumerate(allowed if isinstance(allowed, list) else []):
            if isinstance(value, str):
                values.append((["AllowedValues", index], value))
        for key, value in values:
            if value not in TYPES:
                self._report(
                    matches,
                    [*place, *key],
                    f"parameter {target} (the DeploymentPreference Type of a function) allows "
                    f"{value!r}, which is not a SAM deployment type{did_you_mean(value, TYPES)}",
                    f"use one of {', '.join(TYPES)}",
                )

    def _alarm(
        self,
        entry: Any,
        spot: PathT,
        resources: Mapping[str, Any],
        parameters: Mapping[str, Any],
        matches: list[RuleMatch],
    ) -> None:
        target = _ref_target(entry)
        if target is None or target in parameters:
            return
        if target not in resources:
            known = sorted(n for n in resources if _type_of(resources, n) == ALARM)
            self._report(
                matches,
                spot,
                f"Alarms refers to {target!r}, which is not a resource of the template"
                f"{did_you_mean(target, known)}",
                f"Ref one of the template's alarms {known}",
            )
        elif _type_of(resources, target) != ALARM:
            self._report(
                matches,
                spot,
                f"Alarms refers to {target!r}, a {_type_of(resources, target)}, not an alarm",
                f"Ref an {ALARM}",
            )


def _ref_target(value: Any) -> str | None:
    if isinstance(value, Mapping) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return str(value["Ref"])
    return None


def _type_of(resources: Mapping[str, Any], name: str) -> Any:
    resource = resources.get(name)
    return resource.get("Type") if isinstance(resource, Mapping) else None


def _entries(value: Any, path: PathT) -> list[tuple[Any, PathT]]:
    """The entries of a list in every Fn::If alternative, intrinsic functions as they are."""
    found: list[tuple[Any, PathT]] = []
    for listed, at in alternatives(value, path):
        if not isinstance(listed, list):
            continue
        for index, item in enumerate(listed):
            found.extend(
                (entry, spot)
                for entry, spot in alternatives(item, [*at, index])
                if entry is not MISSING
            )
    return found
