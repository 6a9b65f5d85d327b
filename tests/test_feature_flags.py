"""Feature flags (generator/components/feature_flags.py): the AppConfig application, profile,
deployment strategy and environments with their alarm monitors, the CodePipeline AppConfig
deploy action and its role, the spec checks, and a cfn-lint run with the guardrail rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from troposphere import GetAtt

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components import feature_flags as ff
from generator.components.alarms import RollbackAlarm
from generator.components.iam import action_role
from generator.errors import AssemblyError
from generator.naming import Names
from generator.pipeline_plan import Stage
from generator.spec.loader import format_loc
from generator.spec.model import Environment, FeatureFlags, PipelineSpec
from tests.component_lint import (
    ARTIFACT_STORE,
    built_role,
    lint_stacks,
    pipeline_stack,
    resolved,
    spec_data,
)

NAMES = Names("shop")
BASE = spec_data("shop", "staging", "prod")
STAGING_ALARMS = [
    RollbackAlarm("shop-staging-target-5xx", Exported("deploy-targets", "S5xx", "a", "alarm")),
    RollbackAlarm("shop-staging-target-latency-p95"),
]
PROD_ALARMS = [RollbackAlarm("shop-prod-target-5xx")]


def settings_of(**fields: Any) -> FeatureFlags:
    return FeatureFlags.model_validate(fields)


def built(
    settings: FeatureFlags | None = None,
) -> tuple[ChildStack, ChildStack, ff.FlagResources]:
    iam = ChildStack("iam", "shop: roles")
    deploy = ChildStack("deploy-targets", "shop: deploy targets")
    environments: list[tuple[str, list[RollbackAlarm], StackValue | None]] = []
    for name, alarms in (("staging", STAGING_ALARMS), ("prod", PROD_ALARMS), ("sandbox", [])):
        role: StackValue | None = None
        if alarms:
            role = built_role(iam, ff.alarm_role(NAMES, name, alarms))
        environments.append((name, alarms, role))
    flags = ff.feature_flag_resources(deploy, NAMES, settings or settings_of(), environments)
    return iam, deploy, flags


def props(stack: ChildStack, logical_id: str) -> dict[str, Any]:
    return dict(resolved(stack.template.resources[logical_id])["Properties"])


def statements(stack: ChildStack, policy: str) -> dict[str, Any]:
    body = props(stack, policy)["PolicyDocument"]["Statement"]
    return {s["Sid"]: s for s in body}


# -- AppConfig resources ----------------------------------------------------------------------


class TestResources:
    def test_profile_is_delivered_by_this_pipeline_and_validated(self) -> None:
        _, deploy, _ = built()
        profile = props(deploy, "FlagsProfile")
        assert profile["LocationUri"] == "codepipeline://shop"
        # Feature-flag profiles are hosted-only; CodePipeline delivers freeform data.
        assert profile["Type"] == "AWS.Freeform"
        assert profile["ApplicationId"] == {"Fn::GetAtt": ["FlagsApplication", "ApplicationId"]}
        (validator,) = profile["Validators"]
        assert validator["Type"] == "JSON_SCHEMA"
        assert json.loads(validator["Content"]) == ff.FLAGS_SCHEMA

    @pytest.mark.parametrize(
        ("rollout", "expected"),
        [
            (
                {},
                {
                    "DeploymentDurationInMinutes": 10,
                    "FinalBakeTimeInMinutes": 10,
                    "GrowthFactor": 20,
                    "GrowthType": "LINEAR",
                    "ReplicateTo": "NONE",
                },
            ),
            (
                {"type": "canary", "growth_factor": 10, "deployment_minutes": 20,
                 "bake_minutes": 30},
                {
                    "DeploymentDurationInMinutes": 20,
                    "FinalBakeTimeInMinutes": 30,
                    "GrowthFactor": 10,
                    "GrowthType": "EXPONENTIAL",
                    "ReplicateTo": "NONE",
                },
            ),
        ],
    )  # fmt: skip
    def test_deployment_strategy(self, rollout: dict[str, Any], expected: dict[str, Any]) -> None:
        _, deploy, _ = built(settings_of(rollout=rollout))
        strategy = props(deploy, "FlagsDeploymentStrategy")
        assert {k: strategy[k] for k in expected} == expected
        assert strategy["Name"] == "shop-flags"

    def test_environment_monitors_watch_the_environments_alarms(self) -> None:
        _, deploy, _ = built()
        staging = props(deploy, "StagingFlagsEnvironment")
        assert staging["Name"] == "staging"
        assert staging["Monitors"] == [
            {
                "AlarmArn": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:"
                        "alarm:${Name}",
                        {"Name": "a"},  # created in this stack: the alarm itself
                    ]
                },
                "AlarmRoleArn": {"Ref": "StagingFlagAlarmRoleArn"},
            },
            {
                "AlarmArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                    "${AWS::AccountId}:alarm:shop-staging-target-latency-p95"
                },
                "AlarmRoleArn": {"Ref": "StagingFlagAlarmRoleArn"},
            },
        ]
        assert props(deploy, "ProdFlagsEnvironment")["Monitors"][0]["AlarmRoleArn"] == {
            "Ref": "ProdFlagAlarmRoleArn"
        }
        assert "Monitors" not in props(deploy, "SandboxFlagsEnvironment")

    def test_resources_carry_the_pipeline_tag_the_action_role_relies_on(self) -> None:
        _, deploy, _ = built()
        for logical_id in ("FlagsApplication", "FlagsProfile", "FlagsDeploymentStrategy"):
            assert {"Key": "pipegen:pipeline", "Value": "shop"} in props(deploy, logical_id)["Tags"]
        assert {"Key": "pipegen:environment", "Value": "staging"} in props(
            deploy, "StagingFlagsEnvironment"
        )["Tags"]

    def test_alarm_role_reads_exactly_the_alarms(self) -> None:
        iam, _, _ = built()
        role = props(iam, "StagingFlagAlarmRole")
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": ["appconfig.amazonaws.com"]}
        assert statements(iam, "StagingFlagAlarmRolePolicy") == {
            "ReadRollbackAlarms": {
                "Sid": "ReadRollbackAlarms",
                "Effect": "Allow",
                "Action": ["cloudwatch:DescribeAlarms"],
                "Resource": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                        f"${{AWS::AccountId}}:alarm:{a.name}"
                    }
                    for a in STAGING_ALARMS
                ],
            }
        }

    def test_limits(self) -> None:
        deploy = ChildStack("deploy-targets", "shop")
        role = Exported("iam", "R", "r", "r")
        many = [RollbackAlarm(f"a{i}") for i in range(6)]
        with pytest.raises(AssemblyError, match="watches at most 5"):
            ff.feature_flag_resources(deploy, NAMES, settings_of(), [("staging", many, role)])
        with pytest.raises(AssemblyError, match="need the alarm role"):
            ff.feature_flag_resources(
                ChildStack("d", "d"), NAMES, settings_of(), [("staging", PROD_ALARMS, None)]
            )
        with pytest.raises(AssemblyError, match="no alarms for AppConfig to watch"):
            ff.alarm_role(NAMES, "staging", [])


# -- the deploy action ------------------------------------------------------------------------


class TestDeployAction:
    def test_action_configuration(self) -> None:
        _, _, flags = built()
        role = Exported("iam", "FlagsDeployActionRoleArn", "r", "role")
        step = ff.flags_step(
            flags, "staging", settings_of(file="config/flags.json"), role=role, run_order=2
        )
        assert (step.name, step.category, step.provider, step.owner, step.version) == (
            "DeployFeatureFlags",
            "Deploy",
            "AppConfig",
            "AWS",
            "1",
        )
        assert step.configuration == {
            "Application": flags.application,
            "Environment": flags.environments["staging"],
            "ConfigurationProfile": flags.profile,
            "DeploymentStrategy": flags.strategy,
            "InputArtifactConfigurationPath": "config/flags.json",
        }
        assert (step.inputs, step.outputs, step.run_order, step.role) == (
            ("Source",),
            (),
            2,
            role,
        )
        assert flags.environments["staging"].name == "StagingFlagsEnvironmentId"
        assert flags.application.name == "FlagsApplicationId"

    def test_action_role_deploys_only_this_pipelines_flags(self) -> None:
        iam = ChildStack("iam", "shop: roles")
        ff.deploy_action_role(NAMES, ARTIFACT_STORE, iam, GetAtt("PipelineRole", "Arn")).build(iam)
        role = props(iam, "FlagsDeployActionRole")
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": [{"Fn::GetAtt": ["PipelineRole", "Arn"]}]}
        found = statements(iam, "FlagsDeployActionRolePolicy")
        app = "arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:"
        assert found["DeployFlagsOfThisPipeline"] == {
            "Sid": "DeployFlagsOfThisPipeline",
            "Effect": "Allow",
            "Action": [
                "appconfig:StartDeployment",
                "appconfig:GetDeployment",
                "appconfig:StopDeployment",
            ],
            "Resource": [
                {"Fn::Sub": f"{app}application/*"},
                {"Fn::Sub": f"{app}deploymentstrategy/*"},
            ],
            "Condition": {"StringEquals": {"aws:ResourceTag/pipegen:pipeline": "shop"}},
        }
        assert found["FollowFlagDeployments"]["Action"] == [
            "appconfig:GetDeployment",
            "appconfig:StopDeployment",
        ]
        assert found["FollowFlagDeployments"]["Resource"] == [
            {"Fn::Sub": f"{app}application/*/environment/*/deployment/*"}
        ]
        assert set(found) == {
            "DeployFlagsOfThisPipeline",
            "FollowFlagDeployments",
            "ReadArtifacts",
            "DecryptArtifacts",
        }


# -- spec checks ------------------------------------------------------------------------------


def issues(**block: Any) -> list[tuple[str, str]]:
    spec = PipelineSpec[Environment].model_validate({**BASE, "feature_flags": block})
    return [(format_loc(i.loc), i.message) for i in ff.check_feature_flags(spec)]


class TestChecks:
    def test_defaults_are_fine(self) -> None:
        assert issues() == []
        settings = settings_of()
        assert (settings.file, settings.rollout.type) == ("flags/flags.json", "linear")

    def test_the_file_is_json(self) -> None:
        assert issues(file="flags/flags.yaml") == [
            (
                "feature_flags.file",
                "'flags/flags.yaml': the flag file is JSON (AppConfig validates it with a JSON "
                "Schema); name a .json file",
            )
        ]

    def test_a_linear_rollout_needs_time_or_everything_at_once(self) -> None:
        assert issues(rollout={"deployment_minutes": 0})[0][0] == (
            "feature_flags.rollout.deployment_minutes"
        )
        assert issues(rollout={"deployment_minutes": 0, "growth_factor": 100}) == []


# -- cfn-lint -----------------------------------------------------------------------------------


def test_templates_pass_cfn_lint_and_the_guardrails(tmp_path: Path) -> None:
    iam, deploy, flags = built(settings_of(rollout={"type": "canary", "growth_factor": 10}))
    # The action role trusts the pipeline role; give the iam stack one, as the composer does.
    pipeline_role = action_role(
        "PipelineRole", "pipeline", "shop", "arn:aws:iam::123456789012:role/x"
    )
    pipeline_role.build(iam)
    role = built_role(
        iam, ff.deploy_action_role(NAMES, ARTIFACT_STORE, iam, GetAtt("PipelineRole", "Arn"))
    )
    deploys = [
        Stage(
            f"Deploy{env.capitalize()}",
            (ff.flags_step(flags, env, settings_of(), role=role, run_order=2),),
        )
        for env in ("staging", "prod")
    ]
    the_pipeline = pipeline_stack("shop", *deploys)
    assert lint_stacks(tmp_path, iam, deploy, the_pipeline) == []
