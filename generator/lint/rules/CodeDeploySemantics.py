"""E9701: CodeDeploy deployment groups and configs use combinations CodeDeploy accepts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    MISSING,
    UNKNOWN,
    PathT,
    is_false,
    is_intrinsic,
    items,
    lookup,
    resources_of,
)
from generator.lint.rules._pipeline import literal, where

GROUP = "AWS::CodeDeploy::DeploymentGroup"
CONFIG = "AWS::CodeDeploy::DeploymentConfig"
APPLICATION = "AWS::CodeDeploy::Application"
EXCLUSIVE = (("Ec2TagFilters", "Ec2TagSet"), ("OnPremisesInstanceTagFilters", "OnPremisesTagSet"))
ROUTING_BLOCKS = {"TimeBasedCanary": "TimeBasedCanary", "TimeBasedLinear": "TimeBasedLinear"}


def _first(node: Any, path: PathT, *keys: str) -> tuple[Any, PathT]:
    """The value at `keys` when it is the same literal in every alternative."""
    found = [(literal(v), at) for v, at in lookup(node, path, *keys)]
    values = {repr(v) for v, _ in found}
    if len(values) != 1:
        return UNKNOWN, path
    return found[0]


def _predefined_platform(name: Any) -> str | None:
    if not isinstance(name, str) or not name.startswith("CodeDeployDefault."):
        return None
    rest = name.split(".", 1)[1]
    if rest.startswith("ECS"):
        return "ECS"
    if rest.startswith("Lambda"):
        return "Lambda"
    return "Server"


class CodeDeploySemantics(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9701"
    shortdesc = "CodeDeploy groups and configs use valid combinations"
    description = (
        "AWS::CodeDeploy::DeploymentGroup: BLUE_GREEN takes WITH_TRAFFIC_CONTROL and, on EC2 "
        "or ECS, LoadBalancerInfo and BlueGreenDeploymentConfiguration; an ECS group is "
        "BLUE_GREEN and uses an ECS deployment configuration; DEPLOYMENT_STOP_ON_ALARM needs "
        "enabled alarms; Ec2TagFilters and Ec2TagSet (and the on-premises pair) exclude each "
        "other; Deployment excludes AutoRollbackConfiguration. AWS::CodeDeploy::DeploymentConfig: "
        "MinimumHealthyHosts is for the Server platform only and required there, "
        "TrafficRoutingConfig is for ECS and Lambda only, and its Type matches its block."
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
        "aws-resource-codedeploy-deploymentgroup.html"
    )
    tags = ["pipegen", "semantics", "codedeploy"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        platforms = {
            name: _first(properties, base, "ComputePlatform")[0]
            for name, _, properties, base in resources_of(cfn, APPLICATION)
        }
        for _, _, properties, base in resources_of(cfn, GROUP):
            self._group(properties, base, platforms, matches)
        for _, _, properties, base in resources_of(cfn, CONFIG):
            self._config(properties, base, matches)
        return matches

    def _report(self, matches: list[RuleMatch], at: PathT, problem: str, fix: str) -> None:
        matches.append(RuleMatch(at, f"{where(at)}: {problem}; {fix}"))

    def _platform(self, properties: Mapping[str, Any], platforms: dict[str, Any]) -> Any:
        if "ECSServices" in properties:
            return "ECS"
        application = properties.get("ApplicationName")
        if isinstance(application, Mapping) and set(application) == {"Ref"}:
            platform = platforms.get(str(application["Ref"]), UNKNOWN)
            return "Server" if platform is MISSING else platform
        if any(k in properties for k in ("Ec2TagFilters", "Ec2TagSet", "AutoScalingGroups")):
            return "Server"
        return UNKNOWN

    def _group(
        self,
        properties: Mapping[str, Any],
        base: PathT,
        platforms: dict[str, Any],
        matches: list[RuleMatch],
    ) -> None:
        platform = self._platform(properties, platforms)
        kind, kind_at = _first(properties, base, "DeploymentStyle", "DeploymentType")
        option, option_at = _first(properties, base, "DeploymentStyle", "DeploymentOption")
        kind = "IN_PLACE" if kind is MISSING else kind
        option = "WITHOUT_TRAFFIC_CONTROL" if option is MISSING else option
        if kind == "BLUE_GREEN":
            if option == "WITHOUT_TRAFFIC_CONTROL":
                at = option_at if "DeploymentStyle" in properties else base
                self._report(
                    matches,
                    at,
                    "a BLUE_GREEN deployment WITHOUT_TRAFFIC_CONTROL has no way to move "
                    "traffic to the green fleet",
                    "set DeploymentStyle.DeploymentOption: WITH_TRAFFIC_CONTROL",
                )
            if platform in ("Server", "ECS"):
                for key in ("LoadBalancerInfo", "BlueGreenDeploymentConfiguration"):
                    if key not in properties:
                        self._report(
                            matches,
                            base,
                            f"a BLUE_GREEN deployment group ({platform}) without {key}",
                            f"set {key} (blue/green needs the load balancer to shift traffic "
                            "and the settings for the green fleet)",
                        )
        if platform == "ECS":
            if kind == "IN_PLACE":
                explicit = "DeploymentType" in (properties.get("DeploymentStyle") or {})
                at = kind_at if explicit else base
                how = "" if explicit else " (the default when DeploymentType is not set)"
                self._report(
                    matches,
                    at,
                    f"an ECS deployment group is IN_PLACE{how}, but ECS deployments are "
                    "blue/green only",
                    "set DeploymentStyle: {DeploymentType: BLUE_GREEN, DeploymentOption: "
                    "WITH_TRAFFIC_CONTROL}",
                )
            config, config_at = _first(properties, base, "DeploymentConfigName")
            predefined = _predefined_platform(config)
            if predefined and predefined != "ECS":
                self._report(
                    matches,
                    config_at,
                    f"an ECS deployment group uses {config!r}, a {predefined} configuration",
                    "use a CodeDeployDefault.ECS* configuration or an ECS DeploymentConfig",
                )
        self._alarms(properties, base, matches)
        for first, second in EXCLUSIVE:
            if first in properties and second in properties:
                self._report(
                    matches,
                    [*base, second],
                    f"both {first} and {second} are set, and CodeDeploy takes only one",
                    f"keep {second} (tag groups) or {first}, not both",
                )
        if "Deployment" in properties and "AutoRollbackConfiguration" in properties:
            self._report(
                matches,
                [*base, "Deployment"],
                "Deployment is set together with AutoRollbackConfiguration, which CloudFormation "
                "does not support",
                "remove Deployment and let the pipeline start deployments",
            )

    def _alarms(self, properties: Mapping[str, Any], base: PathT, matches: list[RuleMatch]) -> None:
        stops = False
        stop_at = base
        for events, at in lookup(properties, base, "AutoRollbackConfiguration", "Events"):
            for event, spot in items(events, at) if events is not MISSING else ():
                if event == "DEPLOYMENT_STOP_ON_ALARM":
                    stops, stop_at = True, spot
        if not stops:
            return
        alarms = properties.get("AlarmConfiguration", MISSING)
        if isinstance(alarms, Mapping) and is_intrinsic(alarms):
            return
        problem = None
        if not isinstance(alarms, Mapping):
            problem = "there is no AlarmConfiguration"
        elif is_false(alarms.get("Enabled", False)):
            problem = "AlarmConfiguration is not enabled"
        else:
            entries = alarms.get("Alarms", [])
            if isinstance(entries, list) and not entries:
                problem = "AlarmConfiguration names no alarms"
        if problem:
            self._report(
                matches,
                stop_at,
                f"AutoRollbackConfiguration rolls back on DEPLOYMENT_STOP_ON_ALARM, but {problem}",
                "set AlarmConfiguration: {Enabled: true, Alarms: [{Name: <alarm>}]}",
            )

    def _config(self, properties: Mapping[str, Any], base: PathT, matches: list[RuleMatch]) -> None:
        platform, _ = _first(properties, base, "ComputePlatform")
        platform = "Server" if platform is MISSING else platform
        if not isinstance(platform, str):
            return
        if platform in ("ECS", "Lambda") and "MinimumHealthyHosts" in properties:
            self._report(
                matches,
                [*base, "MinimumHealthyHosts"],
                f"MinimumHealthyHosts applies to the Server platform, not {platform}",
                "remove it and shift traffic with TrafficRoutingConfig",
            )
        if platform == "Server":
            if "TrafficRoutingConfig" in properties:
                self._report(
                    matches,
                    [*base, "TrafficRoutingConfig"],
                    "TrafficRoutingConfig applies to ECS and Lambda, not the Server platform",
                    "remove it, or set ComputePlatform: ECS or Lambda",
                )
            if "MinimumHealthyHosts" not in properties:
                self._report(
                    matches,
                    base,
                    "a Server deployment configuration without MinimumHealthyHosts",
                    "set MinimumHealthyHosts: {Type: HOST_COUNT or FLEET_PERCENT, Value: <n>}",
                )
        routing = properties.get("TrafficRoutingConfig")
        if not isinstance(routing, Mapping) or is_intrinsic(routing):
            return
        at = [*base, "TrafficRoutingConfig"]
        kind = literal(routing.get("Type", MISSING))
        if not isinstance(kind, str):
            return
        wanted = ROUTING_BLOCKS.get(kind)
        for block in ROUTING_BLOCKS.values():
            if block in routing and block != wanted:
                self._report(
                    matches,
                    [*at, block],
                    f"TrafficRoutingConfig Type is {kind}, but it carries a {block} block",
                    f"set Type: {block}, or remove the {block} block",
                )
        if wanted and wanted not in routing:
            self._report(
                matches,
                at,
                f"TrafficRoutingConfig Type is {kind} without a {wanted} block",
                f"add {wanted} with its percentage and interval",
            )
