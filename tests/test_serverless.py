"""The serverless blueprint: the reference spec (and variants) built in-process, with partial
assertions on the templates. The committed output/ is the snapshot; these tests pin the
contracts: change-set pairs per environment, the approval and the compliance gate between
them, the scoped execution roles and their permissions boundaries, and the SAM build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from awacs import aws as awacs_aws

from blueprints.serverless.blueprint import BLUEPRINT, service_catalogue
from generator.components.iam import wildcard_only_actions
from generator.spec.loader import load_spec
from tests.template_reading import (
    Templates,
    action_variables,
    actions,
    build_set,
    commands,
    props,
    rendered,
    role_policies,
    stages,
    sub_text,
    variant,
)

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "pipelines" / "serverless.yaml"
SPEC: dict[str, Any] = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
PIPELINE = SPEC["name"]
STACKS = {"dev": "serverless-dev", "staging": "serverless-staging", "prod": "payments-api-prod"}


@pytest.fixture(scope="module")
def reference() -> Templates:
    return rendered(build_set(REFERENCE))


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return build_set(REFERENCE).files


def statements_of(templates: Templates, role: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for policy in role_policies(templates, role).values() for s in policy}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- stages ----------------------------------------------------------------------------------


class TestChangeSetStages:
    def test_every_environment_creates_then_executes_its_change_set(self, reference: Templates):
        assert [s for s in stages(reference) if s.startswith("Deploy")] == [
            "DeployDev",
            "DeployStaging",
            "DeployProd",
        ]
        for env, stack in STACKS.items():
            steps = actions(reference, f"Deploy{env.capitalize()}")
            create, execute = steps["CreateChangeSet"], steps["ExecuteChangeSet"]
            assert create["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
            assert execute["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
            for step in (create, execute):
                assert step["Configuration"]["StackName"] == stack
                assert step["Configuration"]["ChangeSetName"] == f"pipegen-{env}"
                assert step["RoleArn"] == {"Ref": "ChangeSetActionRoleArn"}
            assert create["RunOrder"] < execute["RunOrder"]
            assert create["Configuration"]["TemplatePath"] == "BuildOutput::packaged.yaml"
            assert create["Configuration"]["TemplateConfiguration"] == f"BuildOutput::{env}.json"
            assert create["Configuration"]["Capabilities"] == (
                "CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND"
            )
            assert create["Configuration"]["RoleArn"] == {
                "Ref": f"{env.capitalize()}ExecutionRoleArn"
            }

    def test_overrides_hand_the_stack_its_boundary_and_traffic_role(self, reference: Templates):
        create = actions(reference, "DeployStaging")["CreateChangeSet"]
        overrides = create["Configuration"]["ParameterOverrides"]["Fn::Sub"]
        assert json.loads(overrides[0]) == {
            "PermissionsBoundaryArn": "${Value0}",
            "CodeDeployRoleArn": "${Value1}",
        }
        assert overrides[1] == {
            "Value0": {"Ref": "StagingPermissionsBoundaryArn"},
            "Value1": {"Ref": "StagingTrafficShiftingRoleArn"},
        }

    def test_prod_runs_compliance_then_approval_between_create_and_execute(
        self, reference: Templates
    ):
        steps = actions(reference, "DeployProd")
        order = [name for name, _ in sorted(steps.items(), key=lambda kv: kv[1]["RunOrder"])]
        assert order == [
            "CreateChangeSet",
            "ComplianceCheck",
            "Approve",
            "ExecuteChangeSet",
            "SmokeTest",
        ]
        approve = steps["Approve"]["Configuration"]
        assert approve["CustomData"].startswith(
            "Review change set pipegen-prod of stack payments-api-prod (Change sets tab)"
        )
        assert "payments-api-prod" in sub_text(approve["ExternalEntityLink"])
        assert "ApproveProd" not in stages(reference), "the gate sits inside the deploy stage"

    def test_ungated_environments_have_no_approval_or_compliance(self, reference: Templates):
        for env in ("Dev", "Staging"):
            assert set(actions(reference, f"Deploy{env}")) == {
                "CreateChangeSet",
                "ExecuteChangeSet",
                "SmokeTest",
            }

    def test_approver_policy_approves_the_action_inside_the_deploy_stage(
        self, reference: Templates
    ):
        policy = props(reference, "iam", "ProdApproverPolicy")["PolicyDocument"]
        approve = {s["Sid"]: s for s in policy["Statement"]}["ApproveThisGateOnly"]
        assert sub_text(approve["Resource"][0]).endswith(f":{PIPELINE}/DeployProd/Approve")

    def test_smoke_test_calls_the_url_the_stack_outputs(self, reference: Templates):
        execute = actions(reference, "DeployProd")["ExecuteChangeSet"]
        assert execute["Namespace"] == "ProdStack"
        smoke = actions(reference, "DeployProd")["SmokeTest"]
        assert action_variables(smoke)["TARGET_URL"] == "#{ProdStack.ApiUrl}"

    def test_stage_watches_the_starter_alarms_of_its_stack(self, reference: Templates):
        rules = stages(reference)["DeployProd"]["OnSuccess"]["Conditions"][0]["Rules"]
        assert [r["Configuration"]["AlarmName"] for r in rules] == [
            "payments-api-prod-errors",
            "payments-api-prod-throttles",
        ]
        assert {r["Configuration"]["WaitTime"] for r in rules} == {"15"}

    def test_compliance_can_guard_another_environment_or_be_off(self, tmp_path: Path):
        def staging(data: dict[str, Any]) -> None:
            data["name"] = "gate-staging"
            data["compliance"]["before"] = "staging"

        templates = variant(SPEC, tmp_path, staging)
        assert "ComplianceCheck" in actions(templates, "DeployStaging")
        assert "ComplianceCheck" not in actions(templates, "DeployProd")

        def off(data: dict[str, Any]) -> None:
            data["name"] = "gate-off"
            data["compliance"] = {"enabled": False}

        templates = variant(SPEC, tmp_path, off)
        assert "deploy-targets" not in templates, "nothing else lives there"
        assert "ComplianceCheck" not in actions(templates, "DeployProd")


# -- roles -----------------------------------------------------------------------------------


class TestExecutionRole:
    def test_trusts_cloudformation_in_this_account_only(self, reference: Templates):
        trust = props(reference, "iam", "ProdExecutionRole")["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }

    def test_is_not_admin_and_every_grant_is_scoped_to_the_stack(self, reference: Templates):
        for sid, statement in statements_of(reference, "ProdExecutionRole").items():
            for action in as_list(statement["Action"]):
                assert "*" not in action, (sid, action)
            for resource in as_list(statement["Resource"]):
                if sid == "UseArtifactKey" or sid == "DecryptArtifacts":
                    continue
                if "Fn::Sub" not in resource:
                    continue  # a handle: the traffic role
                text = sub_text(resource)
                assert (
                    "payments-api-prod" in text
                    or "deploymentconfig:*" in text
                    or "event-source-mapping:*" in text
                    or text.startswith("${Bucket}")
                    or ":apigateway:" in text
                ), (sid, text)

    def test_creates_roles_only_with_its_boundary(self, reference: Templates):
        statement = statements_of(reference, "ProdExecutionRole")["CreateRolesOnlyWithTheBoundary"]
        assert "iam:CreateRole" in statement["Action"]
        assert "iam:PutRolePolicy" in statement["Action"]
        assert [sub_text(r) for r in statement["Resource"]] == [
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/payments-api-prod-*"
        ]
        boundary = statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
        assert sub_text(boundary) == (
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/pipegen/serverless/"
            "serverless-prod-app-boundary"
        )
        unbounded = statements_of(reference, "ProdExecutionRole")["ManageTheStacksRoles"]
        assert not {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} & set(
            unbounded["Action"]
        )

    def test_boundary_policy_has_the_name_the_condition_expects(self, reference: Templates):
        boundary = props(reference, "iam", "ProdAppBoundary")
        assert boundary["ManagedPolicyName"] == "serverless-prod-app-boundary"
        assert boundary["Path"] == "/pipegen/serverless/"
        actions_allowed = {
            a for s in boundary["PolicyDocument"]["Statement"] for a in as_list(s["Action"])
        }
        assert not any(a.startswith("iam:") for a in actions_allowed)
        assert "dynamodb:GetItem" in actions_allowed
        assert "codedeploy:PutLifecycleEventHookExecutionStatus" in actions_allowed

    def test_app_services_decide_what_the_stack_may_create(self, tmp_path: Path):
        def lambda_only(data: dict[str, Any]) -> None:
            data["name"] = "lambda-only"
            data["application"]["app_services"] = ["lambda", "logs"]

        templates = variant(SPEC, tmp_path, lambda_only)
        granted = {
            a
            for s in statements_of(templates, "ProdExecutionRole").values()
            for a in as_list(s["Action"])
        }
        assert "lambda:CreateFunction" in granted
        assert "dynamodb:CreateTable" not in granted
        assert "sqs:CreateQueue" not in granted
        assert "codedeploy:CreateDeploymentGroup" in granted, "traffic shifting is always on"

    def test_passes_the_traffic_role_to_codedeploy_only(self, reference: Templates):
        statement = statements_of(reference, "ProdExecutionRole")["PassTheTrafficShiftingRole"]
        assert statement["Resource"] == [{"Fn::GetAtt": ["ProdTrafficShiftingRole", "Arn"]}]
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "codedeploy.amazonaws.com"}
        }

    def test_change_set_role_may_pass_only_the_execution_roles(self, reference: Templates):
        grants = statements_of(reference, "ChangeSetActionRole")
        assert grants["PassExecutionRoles"]["Resource"] == [
            {"Fn::GetAtt": [f"{env.capitalize()}ExecutionRole", "Arn"]} for env in STACKS
        ]
        assert grants["PassExecutionRoles"]["Condition"] == {
            "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
        }
        assert [sub_text(r) for r in grants["ManageChangeSets"]["Resource"]] == [
            f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:"
            f"stack/{stack}/*"
            for stack in STACKS.values()
        ]
        assert sub_text(grants["ExpandTheSamTransform"]["Resource"][0]).endswith(
            ":aws:transform/Serverless-2016-10-31"
        )


# -- compliance gate -------------------------------------------------------------------------


class TestComplianceGate:
    def test_function_is_hardened(self, reference: Templates):
        function = props(reference, "deploy-targets", "ComplianceGate")
        assert function["FunctionName"] == f"{PIPELINE}-compliance-gate"
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["ReservedConcurrentExecutions"] >= 1
        assert "DeadLetterConfig" in function
        assert "put_job_failure_result" in function["Code"]["ZipFile"]
        assert function["Environment"]["Variables"] == {
            "FORBID_WILDCARD_ACTIONS": "true",
            "STATEFUL_TYPES": "AWS::DynamoDB::Table,AWS::S3::Bucket,AWS::Logs::LogGroup,"
            "AWS::RDS::DBCluster,AWS::RDS::DBInstance,AWS::EFS::FileSystem",
            "TICKET_PATTERN": "(PAY|OPS)-[0-9]+",
        }
        log_group = props(reference, "deploy-targets", "ComplianceGateLogGroup")
        assert log_group["RetentionInDays"] == 365
        assert "KmsKeyId" in log_group

    def test_reads_only_the_guarded_stack_and_this_pipeline(self, reference: Templates):
        grants = statements_of(reference, "ComplianceGateRole")
        assert set(grants["ReadTheChangeSet"]["Action"]) == {
            "cloudformation:DescribeChangeSet",
            "cloudformation:GetTemplate",
        }
        assert [sub_text(r) for r in grants["ReadTheChangeSet"]["Resource"]] == [
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:"
            "stack/payments-api-prod/*"
        ]
        assert grants["ReportTheVerdict"]["Resource"] == ["*"]
        invoker = statements_of(reference, "ComplianceActionRole")["InvokeTheGate"]
        assert [sub_text(r) for r in invoker["Resource"]] == [
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:"
            f"function:{PIPELINE}-compliance-gate"
        ]

    def test_action_tells_the_function_which_change_set(self, reference: Templates):
        step = actions(reference, "DeployProd")["ComplianceCheck"]
        assert step["ActionTypeId"]["Category"] == "Invoke"
        assert json.loads(step["Configuration"]["UserParameters"]) == {
            "stackName": "payments-api-prod",
            "changeSetName": "pipegen-prod",
        }


# -- build and starter -------------------------------------------------------------------------


class TestBuildAndStarter:
    def test_build_packages_with_the_artifact_key_and_writes_each_configuration(
        self, reference: Templates
    ):
        project = props(reference, "build-projects", "BuildProject")
        text = project["Source"]["BuildSpec"]
        buildspec = yaml.safe_load(text)
        run = " ".join(commands(buildspec))
        assert "sam build" in run
        assert '--kms-key-id "$ARTIFACT_KEY_ARN"' in run
        assert buildspec["artifacts"]["files"] == [
            "packaged.yaml",
            "dev.json",
            "staging.json",
            "prod.json",
        ]
        variables = {v["Name"]: v for v in project["Environment"]["EnvironmentVariables"]}
        assert variables["ARTIFACT_KEY_ARN"]["Value"] == {"Ref": "ArtifactKeyArn"}

    def test_configuration_files_carry_parameters_and_tags(self, files: dict[str, str]):
        environments = BLUEPRINT.starter_environments(load_spec(REFERENCE).spec)
        prod = json.loads(next(e for e in environments if e.name == "prod").configuration_json)
        assert prod["Parameters"] == {
            "Environment": "prod",
            "DeploymentPreferenceType": "Linear10PercentEvery2Minutes",
        }
        assert prod["Tags"]["Team"] == "payments"
        assert prod["Tags"]["pipegen:environment"] == "prod"
        assert "Linear10PercentEvery2Minutes" in files["buildspec.yml"]

    def test_starter_template_shifts_traffic_and_bounds_its_roles(self, files: dict[str, str]):
        from tests.cfn_yaml import CfnLoader

        template = yaml.load(files["template.yaml"], Loader=CfnLoader)
        assert template["Globals"]["Function"]["PermissionsBoundary"] == {
            "Ref": "PermissionsBoundaryArn"
        }
        function = template["Resources"]["ApiFunction"]["Properties"]
        preference = function["DeploymentPreference"]
        assert function["AutoPublishAlias"] == "live"
        assert preference["Type"] == {"Ref": "DeploymentPreferenceType"}
        assert preference["Role"] == {"Ref": "CodeDeployRoleArn"}
        assert set(preference["Hooks"]) == {"PreTraffic", "PostTraffic"}


# -- the service catalogue -----------------------------------------------------------------------


def test_catalogue_actions_exist_and_stay_out_of_wildcards() -> None:
    """Every action in app_services.yaml is a real IAM action (awacs knows it); none is a
    wildcard, and every pattern is scoped to the stack or listed as unscopable."""
    import importlib

    allowed = {a.lower() for a in wildcard_only_actions()}
    for service, grants in service_catalogue().items():
        for grant in (*grants.deploy, *grants.runtime):
            for action in grant.actions:
                prefix, name = action.split(":")
                module = importlib.import_module(
                    "awacs." + {"lambda": "awslambda"}.get(prefix, prefix)
                )
                assert isinstance(getattr(module, name, None), awacs_aws.Action), action
                assert "*" not in action
            for pattern in grant.resources:
                assert pattern != "*" or all(a.lower() in allowed for a in grant.actions)
                assert "{stack" in pattern or service in (
                    "apigateway",
                    "codedeploy",
                    "events",
                    "lambda",
                ), (service, pattern)
