"""Feature flags in AWS AppConfig, deployed by the pipeline from a file in the repository.

Per pipeline: an `AWS::AppConfig::Application`, a configuration profile whose data comes from
this pipeline (`LocationUri: codepipeline://<pipeline>`), and a deployment strategy (linear or
canary growth, deployment time and final bake time from the spec). Per environment: an AppConfig
environment that watches the environment's rollback alarms (Monitors) through a role AppConfig
assumes (cloudwatch:DescribeAlarms on exactly those alarms), and a CodePipeline `AppConfig`
Deploy action after the code deploy that ships the flag file from the source artifact.

The profile is `AWS.Freeform`, not `AWS.AppConfig.FeatureFlags`: AppConfig keeps feature-flag
profiles in its hosted store only (LocationUri `hosted`); a profile whose data CodePipeline
delivers is freeform. A JSON Schema validator keeps the file in the shape applications read from
a feature-flag profile: an object of flags, each an object with a boolean `enabled` and any
attributes, e.g. `{"new-checkout": {"enabled": true, "percent": 10}}`.

The deploy action's role starts, reads and stops deployments of this pipeline's AppConfig
resources only: their ids are known after the deploy-targets stack exists, which itself uses the
iam stack, so the role is scoped by the `pipegen:pipeline` tag those resources carry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from awacs import appconfig as ac
from awacs import cloudwatch as cw
from awacs.aws import Condition, StringEquals
from troposphere import GetAtt, Tags, appconfig

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.alarms import RollbackAlarm
from generator.components.artifact_store import ArtifactStore
from generator.components.chaos import alarm_arn_in
from generator.components.grants import artifact_read, key_decrypt
from generator.components.iam import RoleBuilder, action_role, service
from generator.components.source import SOURCE_ARTIFACT
from generator.errors import AssemblyError
from generator.naming import Names, arn
from generator.pipeline_plan import Step
from generator.spec.checks import SpecIssue
from generator.spec.model import Environment, FeatureFlags, PipelineSpec

PROFILE_TYPE = "AWS.Freeform"
PROFILE_NAME = "feature-flags"
PIPELINE_TAG = "pipegen:pipeline"
ENVIRONMENT_TAG = "pipegen:environment"
MAX_MONITORS = 5  # AppConfig: alarms per environment
ACTION_NAME = "DeployFeatureFlags"
GROWTH_TYPES = {"linear": "LINEAR", "canary": "EXPONENTIAL"}
FLAGS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "pipegen feature flags",
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["enabled"],
        "properties": {"enabled": {"type": "boolean"}},
    },
}


@dataclass(frozen=True)
class FlagResources:
    """Handles of the AppConfig ids, for the deploy actions."""

    application: Exported
    profile: Exported
    strategy: Exported
    environments: dict[str, Exported]  # filled by flag_environment


def location_uri(names: Names) -> str:
    """The AppConfig CodePipeline integration's location: the pipeline's name."""
    return f"codepipeline://{names.pipeline}"


def _tags(names: Names, environment: str | None = None) -> Tags:
    values = {PIPELINE_TAG: names.pipeline}
    if environment is not None:
        values[ENVIRONMENT_TAG] = environment
    return Tags(values)


def alarm_role(names: Names, environment: str, alarms: Sequence[RollbackAlarm]) -> RoleBuilder:
    """The role AppConfig assumes to watch the environment's alarms during a flag rollout
    (register it with `PipelineComposer.role`)."""
    if not alarms:
        raise AssemblyError(f"feature flags in {environment}: no alarms for AppConfig to watch")
    return RoleBuilder(
        logical_id=f"{environment.capitalize()}FlagAlarmRole",
        description=f"AppConfig watches the alarms of {names.pipeline} in {environment}",
        trust=service("appconfig"),
        pipeline=names.pipeline,
    ).allow("ReadRollbackAlarms", [cw.DescribeAlarms], [names.alarm_arn(a.name) for a in alarms])


def strategy_properties(settings: FeatureFlags) -> dict[str, Any]:
    rollout = settings.rollout
    return {
        "DeploymentDurationInMinutes": rollout.deployment_minutes,
        "FinalBakeTimeInMinutes": rollout.bake_minutes,
        "GrowthFactor": rollout.growth_factor,
        "GrowthType": GROWTH_TYPES[rollout.type],
        "ReplicateTo": "NONE",
    }


def feature_flag_resources(
    stack: ChildStack,
    names: Names,
    settings: FeatureFlags,
    environments: Sequence[tuple[str, Sequence[RollbackAlarm], StackValue | None]],
) -> FlagResources:
    """The application, profile, strategy and one environment per (name, alarms, alarm role
    ARN) in the deploy-targets stack. An environment without alarms has no monitors (and needs
    no role)."""
    resources = flag_application(stack, names, settings)
    for name, alarms, role_arn in environments:
        flag_environment(stack, names, resources, name, alarms, role_arn)
    return resources


def flag_application(stack: ChildStack, names: Names, settings: FeatureFlags) -> FlagResources:
    """The application, its feature-flag profile and the deployment strategy; environments are
    added one by one (`flag_environment`)."""
    application = stack.add(
        appconfig.Application(
            "FlagsApplication",
            Name=names.pipeline,
            Description=f"Feature flags of {names.pipeline} (pipegen)",
            Tags=_tags(names),
        )
    )
    app_id = GetAtt(application, "ApplicationId")
    profile = stack.add(
        appconfig.ConfigurationProfile(
            "FlagsProfile",
            ApplicationId=app_id,
            Name=PROFILE_NAME,
            Description=f"Feature flags, deployed by the pipeline {names.pipeline}",
            LocationUri=location_uri(names),
            Type=PROFILE_TYPE,
            Validators=[
                appconfig.Validators(
                    Type="JSON_SCHEMA", Content=json.dumps(FLAGS_SCHEMA, separators=(",", ":"))
                )
            ],
            Tags=_tags(names),
        )
    )
    strategy_props = strategy_properties(settings)
    growth_type = strategy_props.pop("GrowthType")
    strategy = stack.add(
        appconfig.DeploymentStrategy(
            "FlagsDeploymentStrategy",
            Name=f"{names.pipeline}-flags",
            Description=f"Rollout of {names.pipeline}'s feature flags",
            Tags=_tags(names),
            **strategy_props,
        )
    )
    # troposphere 4.11's GrowthType validator knows LINEAR only; the resource schema (which
    # cfn-lint checks) takes LINEAR and EXPONENTIAL.
    strategy.properties["GrowthType"] = growth_type
    return FlagResources(
        application=stack.export("FlagsApplicationId", app_id, "AppConfig application"),
        profile=stack.export(
            "FlagsProfileId",
            GetAtt(profile, "ConfigurationProfileId"),
            "AppConfig feature-flag configuration profile",
        ),
        strategy=stack.export(
            "FlagsDeploymentStrategyId", GetAtt(strategy, "Id"), "AppConfig deployment strategy"
        ),
        environments={},
    )


def flag_environment(
    stack: ChildStack,
    names: Names,
    resources: FlagResources,
    name: str,
    alarms: Sequence[RollbackAlarm],
    role_arn: StackValue | None,
) -> Exported:
    """One AppConfig environment of `resources`' application, rolled back by `alarms`."""
    if len(alarms) > MAX_MONITORS:
        raise AssemblyError(
            f"feature flags in {name}: {len(alarms)} alarms, but an AppConfig environment "
            f"watches at most {MAX_MONITORS}"
        )
    if alarms and role_arn is None:
        raise AssemblyError(f"feature flags in {name}: alarms need the alarm role's ARN")
    props: dict[str, Any] = {}
    if alarms and role_arn is not None:
        props["Monitors"] = [
            appconfig.Monitor(AlarmArn=alarm_arn_in(stack, alarm), AlarmRoleArn=stack.use(role_arn))
            for alarm in alarms
        ]
    environment = stack.add(
        appconfig.Environment(
            f"{name.capitalize()}FlagsEnvironment",
            ApplicationId=stack.use(resources.application),
            Name=name,
            Description=f"{names.pipeline} {name}",
            Tags=_tags(names, name),
            **props,
        )
    )
    handle = stack.export(
        f"{name.capitalize()}FlagsEnvironmentId",
        GetAtt(environment, "EnvironmentId"),
        f"AppConfig environment {name}",
    )
    resources.environments[name] = handle
    return handle


def deploy_action_role(
    names: Names, store: ArtifactStore, iam_stack: ChildStack, pipeline_role: Any
) -> RoleBuilder:
    """The role of every flag deploy action (register it with `PipelineComposer.action_role`).
    The CodePipeline action reference lists StartDeployment, StopDeployment and GetDeployment."""
    role = action_role(
        "FlagsDeployActionRole",
        f"AppConfig deploy actions of {names.pipeline}",
        names.pipeline,
        pipeline_role,
    )
    role.allow(
        "DeployFlagsOfThisPipeline",
        [ac.StartDeployment, ac.GetDeployment, ac.StopDeployment],
        [arn("appconfig", "application/*"), arn("appconfig", "deploymentstrategy/*")],
        Condition(StringEquals({f"aws:ResourceTag/{PIPELINE_TAG}": names.pipeline})),
    )
    # Deployments carry no tags; their application and environment (required resources of
    # both calls) are checked against the statement above.
    role.allow(
        "FollowFlagDeployments",
        [ac.GetDeployment, ac.StopDeployment],
        [arn("appconfig", "application/*/environment/*/deployment/*")],
    )
    role.allow(*artifact_read(iam_stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(iam_stack.use(store.key_arn)))
    return role


def flags_step(
    resources: FlagResources,
    environment: str,
    settings: FeatureFlags,
    *,
    role: StackValue,
    run_order: int,
    artifact: str = SOURCE_ARTIFACT,
) -> Step:
    """The AppConfig Deploy action of one environment, at `run_order` (after the code deploy)."""
    return Step(
        name=ACTION_NAME,
        category="Deploy",
        provider="AppConfig",
        configuration={
            "Application": resources.application,
            "Environment": resources.environments[environment],
            "ConfigurationProfile": resources.profile,
            "DeploymentStrategy": resources.strategy,
            "InputArtifactConfigurationPath": settings.file,
        },
        role=role,
        inputs=(artifact,),
        run_order=run_order,
    )


def check_feature_flags(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Cross-field rules of the feature_flags block."""
    settings = spec.feature_flags
    if settings is None:
        return
    if not settings.file.endswith(".json"):
        yield SpecIssue(
            ("feature_flags", "file"),
            f"{settings.file!r}: the flag file is JSON (AppConfig validates it with a JSON "
            "Schema); name a .json file",
        )
    rollout = settings.rollout
    if rollout.type == "linear" and rollout.deployment_minutes == 0 and rollout.growth_factor < 100:
        yield SpecIssue(
            ("feature_flags", "rollout", "deployment_minutes"),
            "a linear rollout in 0 minutes has no steps to grow by; set deployment_minutes, or "
            "growth_factor: 100 for all at once",
        )
