"""Chaos experiments (generator/components/chaos.py): the FIS allow-list, the spec checks (first
of all: production never runs chaos), the experiment template and its stop conditions, the
experiment role and the runner role, the runner's shell run against a fake `aws` on PATH, and a
cfn-lint run with the guardrail rules."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from awacs.aws import Action

from generator.assembly.stack import ChildStack, Exported
from generator.components import chaos, codebuild
from generator.components.alarms import RollbackAlarm
from generator.components.iam import action_name, wildcard_only_actions
from generator.errors import AssemblyError
from generator.naming import Names
from generator.pipeline_plan import Stage
from generator.spec.loader import format_loc
from generator.spec.model import Chaos, Environment, PipelineSpec
from tests.component_lint import (
    ARTIFACT_STORE,
    built_role,
    lint_stacks,
    pipeline_stack,
    resolved,
    spec_data,
)

NAMES = Names("shop")
BASE = spec_data("shop", "dev", "staging", "prod")
ROLE = Exported("iam", "StagingChaosExperimentRoleArn", "r", "FIS role")
ACTION_ROLE = Exported("iam", "BuildActionRoleArn", "r", "CodeBuild action role")
WEB = {"resource_type": "aws:ec2:instance", "tag_key": "chaos", "tag_value": "yes"}
TASKS = {
    "resource_type": "aws:ecs:task",
    "tag_key": "app",
    "tag_value": "shop",
    "selection_mode": "PERCENT(25)",
}
FULL: dict[str, Any] = {
    "targets": {"web": WEB, "tasks": TASKS},
    "actions": [
        {
            "action": "aws:ec2:stop-instances",
            "target": "web",
            "parameters": {"startInstancesAfterDuration": "PT2M"},
        },
        {
            "action": "aws:ecs:task-cpu-stress",
            "target": "tasks",
            "parameters": {"duration": "PT3M"},
        },
        {"action": "aws:ecs:stop-task", "target": "tasks", "start_after": ["ecs-task-cpu-stress"]},
        {"action": "aws:fis:wait", "parameters": {"duration": "PT1M"}},
    ],
}
ALARMS = [
    RollbackAlarm("shop-staging-target-5xx"),
    RollbackAlarm(
        "shop-staging-target-latency-p95",
        Exported("deploy-targets", "StagingLatencyAlarmName", "n", "alarm"),
    ),
]


def settings_of(**fields: Any) -> Chaos:
    return Chaos.model_validate({**FULL, **fields})


def spec_of(chaos_block: dict[str, Any] | None = None, **fields: Any) -> PipelineSpec[Environment]:
    data = {**BASE, **fields}
    if chaos_block is not None:
        data["chaos"] = chaos_block
    return PipelineSpec[Environment].model_validate(data)


def issues(spec: PipelineSpec[Environment]) -> list[tuple[str, str]]:
    return [(format_loc(i.loc), i.message) for i in chaos.check_chaos(spec)]


# -- the allow-list -------------------------------------------------------------------------


class TestCatalog:
    def test_every_entry_is_complete(self) -> None:
        catalog = chaos.fis_catalog()
        assert "aws:ec2:stop-instances" in catalog.actions
        assert "aws:ecs:task-cpu-stress" in catalog.actions
        for action in catalog.actions.values():
            assert action.source.startswith(
                "https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html#"
            ), action.id
            if action.resource_type is not None:
                assert action.resource_type in catalog.resource_types, action.id
                assert action.target_key, action.id
            for permission in action.permissions:
                assert permission.scope in (
                    "targets",
                    "any",
                    "ssm-command",
                    "ecs-container-instances",
                )
                for name in permission.actions:
                    assert "*" not in name and ":" in name
                if permission.scope == "any":
                    assert set(permission.actions) <= set(wildcard_only_actions()), action.id
            if any(p.scope == "ssm-command" for p in action.permissions):
                assert action.ssm_documents, action.id

    def test_parameters_state_whether_they_are_required(self) -> None:
        stress = chaos.fis_catalog().actions["aws:ecs:task-cpu-stress"]
        assert stress.parameters["duration"]["required"] is True
        assert stress.parameters["percent"]["required"] is False


# -- spec checks ----------------------------------------------------------------------------


class TestChecks:
    def test_a_valid_experiment_has_no_issues(self) -> None:
        assert issues(spec_of(FULL)) == []
        assert issues(spec_of()) == []

    def test_production_never_runs_chaos(self) -> None:
        assert issues(spec_of({**FULL, "environment": "prod"})) == [
            (
                "chaos.environment",
                "prod is the production environment, and production never runs chaos "
                "experiments; run them in an environment before it (such as staging)",
            )
        ]

    def test_production_is_the_marked_environment_when_one_is(self) -> None:
        envs = [{"name": "dev"}, {"name": "live", "production": True}, {"name": "sandbox"}]
        assert issues(spec_of({**FULL, "environment": "live"}, environments=envs))[0][0] == (
            "chaos.environment"
        )
        assert issues(spec_of({**FULL, "environment": "sandbox"}, environments=envs)) == []

    def test_a_single_environment_is_production(self) -> None:
        spec = spec_of({**FULL, "environment": "dev"}, environments=[{"name": "dev"}])
        assert "production never runs chaos" in issues(spec)[0][1]

    def test_the_environment_must_exist(self) -> None:
        spec = spec_of(FULL, environments=[{"name": "dev"}, {"name": "prod"}])
        assert issues(spec) == [
            (
                "chaos.environment",
                "there is no environment 'staging' (the default); name one of dev, prod other "
                "than production",
            )
        ]

    def test_unknown_actions_and_target_types(self) -> None:
        block = {
            "targets": {"db": {**WEB, "resource_type": "aws:rds:db"}},
            "actions": [{"action": "aws:ec2:stop-instance"}],
        }
        found = issues(spec_of(block))
        assert found[0] == (
            "chaos.targets.db.resource_type",
            "'aws:rds:db' is not a target type pipegen supports; use one of aws:ec2:instance, "
            "aws:ecs:task",
        )
        assert found[1][0] == "chaos.actions[0].action"
        assert found[1][1].startswith(
            "'aws:ec2:stop-instance' is not an FIS action pipegen supports: did you mean "
            "'aws:ec2:stop-instances'? use one of "
        )

    def test_targets_must_exist_and_match_the_action(self) -> None:
        block = {
            "targets": {"web": WEB, "tasks": TASKS},
            "actions": [
                {"action": "aws:ecs:stop-task", "target": "web"},
                {"action": "aws:ecs:stop-task", "name": "two", "target": "nope"},
                {"action": "aws:ec2:reboot-instances"},
                {"action": "aws:fis:wait", "target": "web", "parameters": {"duration": "PT1M"}},
            ],
        }
        assert issues(spec_of(block)) == [
            (
                "chaos.actions[0].target",
                "aws:ecs:stop-task acts on aws:ecs:task, but target 'web' is aws:ec2:instance",
            ),
            ("chaos.actions[1].target", "there is no target 'nope'; name one of web, tasks"),
            (
                "chaos.actions[2].target",
                "aws:ec2:reboot-instances needs a target: name one of web, tasks",
            ),
            ("chaos.actions[3].target", "aws:fis:wait takes no target; remove target"),
        ]

    def test_parameters(self) -> None:
        block = {
            "targets": {"tasks": TASKS},
            "actions": [
                {"action": "aws:ecs:task-cpu-stress", "parameters": {"percent": "150"}},
                {
                    "action": "aws:ecs:task-kill-process",
                    "parameters": {"processName": "java", "signal": "SIGHUP", "colour": "red"},
                },
                {"action": "aws:ecs:task-io-stress", "parameters": {"duration": "5 minutes"}},
            ],
        }
        assert issues(spec_of(block)) == [
            ("chaos.actions[0].parameters.percent", "'150' is not valid: use a whole number "
             "from 0 to 100"),
            ("chaos.actions[0].parameters", "aws:ecs:task-cpu-stress needs the parameter "
             "duration; add it under parameters"),
            ("chaos.actions[1].parameters.signal", "'SIGHUP' is not valid: use one of SIGTERM, "
             "SIGKILL"),
            ("chaos.actions[1].parameters.colour", "aws:ecs:task-kill-process has no parameter "
             "'colour' (its parameters: processName, signal, installDependencies)"),
            ("chaos.actions[2].parameters.duration", "'5 minutes' is not valid: use an ISO 8601 "
             "duration such as PT5M"),
        ]  # fmt: skip

    def test_names_and_start_after(self) -> None:
        block = {
            "targets": {"web": WEB},
            "actions": [
                {"action": "aws:ec2:reboot-instances", "name": "first", "start_after": ["first"]},
                {"action": "aws:ec2:reboot-instances", "name": "first"},
                {"action": "aws:ec2:stop-instances", "start_after": ["later"]},
            ],
        }
        assert issues(spec_of(block)) == [
            (
                "chaos.actions[1].name",
                "action name 'first' is already used by actions[0]; give each action its own name",
            ),
            ("chaos.actions[0].start_after[0]", "an action cannot start after itself"),
            ("chaos.actions[2].start_after[0]", "there is no action 'later'; name one of first"),
        ]

    def test_default_names_number_repeated_actions(self) -> None:
        settings = Chaos.model_validate(
            {
                "targets": {"web": WEB},
                "actions": [
                    {"action": "aws:ec2:reboot-instances"},
                    {"action": "aws:ec2:stop-instances"},
                    {"action": "aws:ec2:reboot-instances"},
                ],
            }
        )
        assert chaos.action_names(settings) == [
            "ec2-reboot-instances-1",
            "ec2-stop-instances",
            "ec2-reboot-instances-2",
        ]

    def test_selection_mode_is_checked_by_the_model(self) -> None:
        with pytest.raises(ValueError, match="selection_mode"):
            Chaos.model_validate(
                {**FULL, "targets": {"web": {**WEB, "selection_mode": "PERCENT(0)"}}}
            )


# -- the experiment template ------------------------------------------------------------------


def template(settings: Chaos | None = None, alarms: list[RollbackAlarm] = ALARMS) -> ChildStack:
    stack = ChildStack("deploy-targets", "shop: deploy targets")
    chaos.experiment_template(
        stack,
        NAMES,
        settings or settings_of(),
        role_arn=ROLE,
        alarms=alarms,
        key_arn=ARTIFACT_STORE.key_arn,
        log_retention_days=365,
    )
    return stack


class TestTemplate:
    def test_stop_conditions_are_the_environments_alarms(self) -> None:
        props = resolved(template().template.resources["StagingChaosExperiment"])["Properties"]
        assert props["StopConditions"] == [
            {
                "Source": "aws:cloudwatch:alarm",
                "Value": {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                    "${AWS::AccountId}:alarm:shop-staging-target-5xx"
                },
            },
            {
                "Source": "aws:cloudwatch:alarm",
                "Value": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:"
                        "alarm:${Name}",
                        {"Name": "n"},  # the alarm's own stack: the alarm itself
                    ]
                },
            },
        ]

    def test_alarms_of_another_stack_become_parameters(self) -> None:
        alarm = RollbackAlarm("x", Exported("monitoring", "XAlarmName", "n", "alarm"))
        stack = template(alarms=[alarm])
        props = resolved(stack.template.resources["StagingChaosExperiment"])["Properties"]
        assert props["StopConditions"][0]["Value"]["Fn::Sub"][1] == {"Name": {"Ref": "XAlarmName"}}

    def test_targets_actions_logging_and_tags(self) -> None:
        stack = template()
        props = resolved(stack.template.resources["StagingChaosExperiment"])["Properties"]
        assert props["RoleArn"] == {"Ref": "StagingChaosExperimentRoleArn"}
        assert props["Targets"] == {
            "web": {
                "ResourceType": "aws:ec2:instance",
                "ResourceTags": {"chaos": "yes"},
                "SelectionMode": "COUNT(1)",
            },
            "tasks": {
                "ResourceType": "aws:ecs:task",
                "ResourceTags": {"app": "shop"},
                "SelectionMode": "PERCENT(25)",
            },
        }
        assert props["Actions"]["ec2-stop-instances"] == {
            "ActionId": "aws:ec2:stop-instances",
            "Description": "aws:ec2:stop-instances",
            "Parameters": {"startInstancesAfterDuration": "PT2M"},
            "Targets": {"Instances": "web"},
        }
        assert props["Actions"]["ecs-stop-task"]["StartAfter"] == ["ecs-task-cpu-stress"]
        assert "Targets" not in props["Actions"]["fis-wait"]
        assert props["LogConfiguration"] == {
            "CloudWatchLogsConfiguration": {
                "LogGroupArn": {"Fn::GetAtt": ["StagingChaosLogGroup", "Arn"]}
            },
            "LogSchemaVersion": 2,
        }
        assert props["Tags"]["pipegen:experiment"] == "shop-staging"
        assert props["ExperimentOptions"]["EmptyTargetResolutionMode"] == "fail"
        group = resolved(stack.template.resources["StagingChaosLogGroup"])["Properties"]
        assert group == {
            "LogGroupName": "/pipegen/shop/fis-staging",
            "KmsKeyId": {"Ref": "ArtifactKeyArn"},
            "RetentionInDays": 365,
        }
        assert stack.template.outputs["StagingChaosExperimentTemplateId"].Value.data == {
            "Ref": "StagingChaosExperiment"
        }

    def test_no_experiment_without_stop_conditions(self) -> None:
        with pytest.raises(AssemblyError, match="needs the environment's alarms as stop"):
            template(alarms=[])
        with pytest.raises(AssemblyError, match="takes at most 5 stop conditions"):
            template(alarms=[RollbackAlarm(f"a{i}") for i in range(6)])


# -- roles ------------------------------------------------------------------------------------


def policies(stack: ChildStack, role: str) -> dict[str, Any]:
    found = {}
    for suffix in ("Policy", "WildcardOnlyPolicy"):
        resource = stack.template.resources.get(f"{role}{suffix}")
        if resource is not None:
            for statement in resolved(resource)["Properties"]["PolicyDocument"]["Statement"]:
                found[statement["Sid"]] = statement
    return found


def all_actions(found: dict[str, Any]) -> set[str]:
    return {a for s in found.values() for a in s["Action"]}


class TestExperimentRole:
    def stack(self, settings: Chaos | None = None) -> ChildStack:
        stack = ChildStack("iam", "shop: roles")
        chaos.experiment_role(NAMES, settings or settings_of()).build(stack)
        return stack

    def test_only_fis_from_this_accounts_experiments_assumes_it(self) -> None:
        role = resolved(self.stack().template.resources["StagingChaosExperimentRole"])
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": ["fis.amazonaws.com"]}
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:fis:${AWS::Region}:${AWS::AccountId}:"
                    "experiment/*"
                }
            },
        }

    def test_target_actions_are_scoped_by_the_targets_tag(self) -> None:
        found = policies(self.stack(), "StagingChaosExperimentRole")
        assert found["ActOnTargetWeb"] == {
            "Sid": "ActOnTargetWeb",
            "Effect": "Allow",
            "Action": ["ec2:StopInstances", "ec2:StartInstances"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}
            ],
            "Condition": {"StringEquals": {"aws:ResourceTag/chaos": "yes"}},
        }
        assert found["ActOnTargetTasks"]["Action"] == ["ecs:DescribeTasks", "ecs:StopTask"]
        assert found["ActOnTargetTasks"]["Condition"] == {
            "StringEquals": {"aws:ResourceTag/app": "shop"}
        }

    def test_ssm_documents_and_wildcard_only_calls(self) -> None:
        found = policies(self.stack(), "StagingChaosExperimentRole")
        assert found["RunFaultDocuments"]["Resource"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                "managed-instance/*"
            },
            {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWSFIS-Run-CPU-Stress"},
        ]
        assert found["DescribeTargets"]["Resource"] == ["*"]
        assert found["DeliverExperimentLogs"]["Resource"] == ["*"]
        stars = [a for s in found.values() if s["Resource"] == ["*"] for a in s["Action"]]
        assert set(stars) <= set(wildcard_only_actions())

    def test_only_what_the_chosen_actions_need(self) -> None:
        settings = Chaos.model_validate(
            {"targets": {"web": WEB}, "actions": [{"action": "aws:ec2:reboot-instances"}]}
        )
        found = policies(self.stack(settings), "StagingChaosExperimentRole")
        assert all_actions(found) == {
            "ec2:RebootInstances",
            "ec2:DescribeInstances",
            "logs:CreateLogDelivery",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        }


class TestRunner:
    def project(self) -> codebuild.ProjectSpec:
        return chaos.runner_project(NAMES, settings_of(), ALARMS, image="aws/codebuild/x:5.0")

    def role(self) -> dict[str, Any]:
        stack = ChildStack("iam", "shop: roles")
        codebuild.project_role(NAMES, self.project(), ARTIFACT_STORE, stack).build(stack)
        return policies(stack, "ChaosStagingProjectRole")

    def test_starts_only_the_tagged_template(self) -> None:
        found = self.role()
        assert found["StartThisExperimentTemplate"] == {
            "Sid": "StartThisExperimentTemplate",
            "Effect": "Allow",
            "Action": ["fis:StartExperiment"],
            "Resource": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:fis:${AWS::Region}:${AWS::AccountId}:"
                    "experiment-template/*"
                }
            ],
            "Condition": {"StringEquals": {"aws:ResourceTag/pipegen:experiment": "shop-staging"}},
        }
        experiments = {
            "Fn::Sub": "arn:${AWS::Partition}:fis:${AWS::Region}:${AWS::AccountId}:experiment/*"
        }
        assert found["StartAndTagExperiments"]["Resource"] == [experiments]
        assert found["FollowExperiments"]["Action"] == ["fis:GetExperiment", "fis:StopExperiment"]

    def test_no_pass_role_and_exact_alarms(self) -> None:
        found = self.role()
        actions = all_actions(found)
        assert "iam:PassRole" not in actions  # StartExperiment passes no role
        assert found["CreateFisServiceLinkedRole"]["Resource"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
                "fis.amazonaws.com/AWSServiceRoleForFIS"
            }
        ]
        assert found["ReadStopConditionAlarms"] == {
            "Sid": "ReadStopConditionAlarms",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms"],
            "Resource": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:"
                    f"${{AWS::AccountId}}:alarm:{name}"
                }
                for name in ("shop-staging-target-5xx", "shop-staging-target-latency-p95")
            ],
        }
        assert not any(s["Resource"] == ["*"] for s in found.values())

    def test_project_variables_and_step(self) -> None:
        project = self.project()
        assert project.purpose == "chaos-staging"
        assert project.timeout_minutes == 70
        assert project.variables == {
            "EXPERIMENT_TAG": "pipegen:experiment",
            "EXPERIMENT": "shop-staging",
            "ALARM_NAMES": "shop-staging-target-5xx\nshop-staging-target-latency-p95",
            "MAX_WAIT_MINUTES": "60",
        }
        assert rendered_runner_command() == f"(\n{chaos.runner_script()})"
        template_id = Exported("deploy-targets", "StagingChaosExperimentTemplateId", "t", "t")
        handle = Exported("build-projects", "ChaosStagingProjectName", "p", "p")
        step = chaos.chaos_step(settings_of(), handle, template_id, role=ACTION_ROLE, run_order=4)
        assert (step.name, step.category, step.run_order) == ("ChaosExperimentStaging", "Test", 4)
        assert step.configuration["EnvironmentVariables"].variables == (
            ("TEMPLATE_ID", template_id),
        )

    def test_the_conditional_grant_reaches_the_role_builder(self) -> None:
        grants = chaos.runner_grants(NAMES, settings_of(), ALARMS)
        sid, actions, _, condition = grants[0]  # type: ignore[misc]
        assert sid == "StartThisExperimentTemplate"
        assert [action_name(a) for a in actions] == ["fis:StartExperiment"]
        assert isinstance(actions[0], Action)
        assert condition is not None


# -- the runner's shell, against a fake aws ---------------------------------------------------

FAKE_AWS = r"""#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["fis", "start-experiment"]:
    print("EXP123")
elif args[:2] == ["fis", "get-experiment"]:
    path = os.environ["FAKE_STATES"]
    with open(path) as f:
        states = f.read().splitlines()
    print(states[0].replace("|", "\t"))
    if len(states) > 1:
        with open(path, "w") as f:
            f.write("\n".join(states[1:]))
elif args[:2] == ["fis", "stop-experiment"]:
    print("{{}}")
elif args[:2] == ["cloudwatch", "describe-alarms"]:
    print(os.environ.get("FAKE_FIRING", ""))
else:
    sys.exit("unexpected call: " + " ".join(args))
"""


def rendered_runner_command() -> str:
    """The command as the built CodeBuild project carries it."""
    stack = ChildStack("build-projects", "shop: projects")
    project = chaos.runner_project(NAMES, settings_of(), ALARMS, image="aws/codebuild/x:5.0")
    role = Exported("iam", "ChaosStagingProjectRoleArn", "r", "role")
    codebuild.build_project(
        stack, NAMES, project, role_arn=role, store=ARTIFACT_STORE, log_retention_days=365
    )
    props = resolved(stack.template.resources["ChaosStagingProject"])["Properties"]
    (command,) = yaml.safe_load(props["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    return str(command)


def run_runner(
    tmp_path: Path, states: list[str], *, firing: str = "", wait_minutes: str = "60"
) -> tuple[int, str, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "states").write_text("\n".join(states))
    log = tmp_path / "calls.jsonl"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_STATES": str(tmp_path / "states"),
        "FAKE_FIRING": firing,
        "TEMPLATE_ID": "EXT1a2b3c",
        "EXPERIMENT_TAG": "pipegen:experiment",
        "EXPERIMENT": "shop-staging",
        "ALARM_NAMES": "shop-staging-target-5xx\nshop staging latency",
        "MAX_WAIT_MINUTES": wait_minutes,
        "POLL_SECONDS": "0",
        "CODEBUILD_BUILD_ID": "shop-chaos-staging:42",
    }
    command = rendered_runner_command()
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done.returncode, done.stdout + done.stderr, calls


class TestRunnerScript:
    def test_completed_and_quiet_alarms_pass(self, tmp_path: Path) -> None:
        code, out, calls = run_runner(
            tmp_path, ["pending|None", "running|None", "completed|Experiment completed."]
        )
        assert code == 0, out
        assert "Experiment EXP123 completed; no stop-condition alarm fired." in out
        assert calls[0] == [
            "fis", "start-experiment", "--experiment-template-id", "EXT1a2b3c", "--tags",
            "pipegen:experiment=shop-staging,pipegen:build=shop-chaos-staging:42",
            "--query", "experiment.id", "--output", "text",
        ]  # fmt: skip
        assert [c[:2] for c in calls].count(["fis", "get-experiment"]) == 3
        assert calls[-1][:6] == [
            "cloudwatch",
            "describe-alarms",
            "--alarm-names",
            "shop-staging-target-5xx",
            "shop staging latency",
            "--state-value",
        ]
        assert ["fis", "stop-experiment", "--id", "EXP123"] not in calls

    def test_stopped_by_a_stop_condition_fails(self, tmp_path: Path) -> None:
        code, out, calls = run_runner(
            tmp_path, ["running|None", "stopped|Experiment stopped by a stop condition."]
        )
        assert code == 1
        assert (
            "FAILED: experiment EXP123 ended stopped: Experiment stopped by a stop condition."
            in out
        )
        assert not any(c[0] == "cloudwatch" for c in calls)

    @pytest.mark.parametrize("state", ["failed|Target resolution failed.", "cancelled|None"])
    def test_failed_or_cancelled_fails(self, tmp_path: Path, state: str) -> None:
        code, out, _ = run_runner(tmp_path, [state])
        assert code == 1
        assert f"ended {state.split('|')[0]}" in out

    def test_completed_with_an_alarm_in_alarm_fails(self, tmp_path: Path) -> None:
        code, out, _ = run_runner(
            tmp_path, ["completed|Experiment completed."], firing="shop-staging-target-5xx"
        )
        assert code == 1
        assert "FAILED: stop-condition alarms in ALARM after the experiment: " in out

    def test_an_overdue_experiment_is_stopped_and_fails(self, tmp_path: Path) -> None:
        code, out, calls = run_runner(tmp_path, ["running|None"], wait_minutes="0")
        assert code == 1
        assert "did not end within 0 minutes" in out
        assert calls[-1][:4] == ["fis", "stop-experiment", "--id", "EXP123"]


# -- cfn-lint -----------------------------------------------------------------------------------


def test_templates_pass_cfn_lint_and_the_guardrails(tmp_path: Path) -> None:
    settings = settings_of()
    iam = ChildStack("iam", "shop: roles")
    build = ChildStack("build-projects", "shop: projects")
    deploy = ChildStack("deploy-targets", "shop: deploy targets")
    template_id = chaos.experiment_template(
        deploy,
        NAMES,
        settings,
        role_arn=built_role(iam, chaos.experiment_role(NAMES, settings)),
        alarms=[RollbackAlarm("shop-staging-target-5xx")],
        key_arn=ARTIFACT_STORE.key_arn,
        log_retention_days=365,
    )
    project = chaos.runner_project(
        NAMES, settings, [RollbackAlarm("shop-staging-target-5xx")], image="aws/codebuild/x:5.0"
    )
    runner_role = built_role(iam, codebuild.project_role(NAMES, project, ARTIFACT_STORE, iam))
    handle = codebuild.build_project(
        build, NAMES, project, role_arn=runner_role, store=ARTIFACT_STORE, log_retention_days=365
    )
    # Every pipeline's build-projects stack holds the build project, whose report group uses
    # the artifact bucket; without one the runner alone leaves that parameter unused (W2001).
    build_project = codebuild.ProjectSpec(
        purpose="build",
        description="build",
        image="aws/codebuild/x:5.0",
        compute_type="BUILD_GENERAL1_SMALL",
        timeout_minutes=30,
        buildspec="buildspec.yml",
        inline=False,
        reports=True,
        writes_artifacts=True,
    )
    codebuild.build_project(
        build,
        NAMES,
        build_project,
        role_arn=runner_role,
        store=ARTIFACT_STORE,
        log_retention_days=365,
    )
    step = chaos.chaos_step(settings, handle, template_id, role=ACTION_ROLE, run_order=1)
    the_pipeline = pipeline_stack("shop", Stage("DeployStaging", (step,)))
    assert lint_stacks(tmp_path, iam, build, deploy, the_pipeline) == []
