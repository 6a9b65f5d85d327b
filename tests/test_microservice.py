"""The microservice blueprint: the reference spec (and small variants of it) built in-process,
with partial assertions on the rendered templates. Each test says why a property matters: the
committed output/ is the snapshot, these tests pin the contracts of the image pipeline, the
scan gate, contract tests, ECS rolling and CodeDeploy blue/green deploys, and the EKS target."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import build as pipegen_build
from generator.spec.model import Environment
from tests.template_reading import (
    Templates,
    action_variables,
    actions,
    as_list,
    build_set,
    buildspec,
    buildspec_of_sub,
    by_sid,
    commands,
    deploy_stages,
    every_resource,
    project_variables,
    props,
    rendered,
    resources,
    role_policies,
    stages,
    sub_text,
    variant,
    write_variant,
)

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "pipelines" / "microservice.yaml"
SPEC: dict[str, Any] = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
PIPELINE = SPEC["name"]
BLUE_GREEN = ["staging", "prod"]
PULL_ACTIONS = {
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
}
PUSH_ONLY_ACTIONS = {
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
}
BLUE_GREEN_CONFIGURATION = {
    "ApplicationName",
    "DeploymentGroupName",
    "TaskDefinitionTemplateArtifact",
    "TaskDefinitionTemplatePath",
    "AppSpecTemplateArtifact",
    "AppSpecTemplatePath",
    "Image1ArtifactName",
    "Image1ContainerName",
}
DEFAULT_BAKE_MINUTES = Environment.model_fields["bake_minutes"].default


# -- building ------------------------------------------------------------------------------


def environment(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(env for env in data["environments"] if env["name"] == name)


def to_eks(data: dict[str, Any]) -> None:
    data["name"] = "orders-eks"
    data["target"] = "eks"
    for env in data["environments"]:
        env["deploy"] = {"cluster": f"apps-{env['name']}", "namespace": "orders"}


@pytest.fixture(scope="module")
def reference() -> Templates:
    return rendered(build_set(REFERENCE))


@pytest.fixture(scope="module")
def eks(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return variant(SPEC, tmp_path_factory.mktemp("eks"), to_eks)


# -- reading templates -----------------------------------------------------------------------


# -- ECR repository ---------------------------------------------------------------------------


class TestImageRepository:
    def test_scans_on_push_and_tags_are_immutable(self, reference: Templates):
        repository = props(reference, "artifact-store", "ImageRepository")
        assert repository["RepositoryName"] == PIPELINE
        assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert repository["ImageTagMutability"] == "IMMUTABLE"
        assert "ImageTagMutabilityExclusionFilters" not in repository

    def test_registry_layer_cache_exempts_only_the_buildcache_tag(self, tmp_path: Path):
        def registry_cache(data: dict[str, Any]) -> None:
            data["name"] = "orders-registry-cache"
            data["image"]["layer_cache"] = "registry"

        templates = variant(SPEC, tmp_path, registry_cache)
        repository = props(templates, "artifact-store", "ImageRepository")
        assert repository["ImageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert repository["ImageTagMutabilityExclusionFilters"] == [
            {
                "ImageTagMutabilityExclusionFilterType": "WILDCARD",
                "ImageTagMutabilityExclusionFilterValue": "buildcache*",
            }
        ]
        project = props(templates, "build-projects", "BuildProject")
        text, _ = buildspec(project)
        assert "type=registry,ref=$REPOSITORY_URI:buildcache" in text
        assert project["Cache"] == {"Type": "NO_CACHE"}

    def test_encrypted_with_the_pipeline_key(self, reference: Templates):
        repository = props(reference, "artifact-store", "ImageRepository")
        assert repository["EncryptionConfiguration"] == {
            "EncryptionType": "KMS",
            "KmsKey": {"Fn::GetAtt": ["ArtifactKey", "Arn"]},
        }
        assert resources(reference, "artifact-store")["ArtifactKey"]["Type"] == "AWS::KMS::Key"

    def test_is_retained(self, reference: Templates):
        repository = resources(reference, "artifact-store")["ImageRepository"]
        assert repository["DeletionPolicy"] == "Retain"
        assert repository["UpdateReplacePolicy"] == "Retain"

    def test_lifecycle_keeps_the_specs_images_and_expires_untagged_ones(self, reference: Templates):
        repository = props(reference, "artifact-store", "ImageRepository")
        rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert all(rule["action"] == {"type": "expire"} for rule in rules)
        untagged = [r for r in rules if r["selection"]["tagStatus"] == "untagged"]
        assert len(untagged) == 1
        assert untagged[0]["selection"]["countType"] == "sinceImagePushed"
        kept = [r for r in rules if r["selection"]["countType"] == "imageCountMoreThan"]
        assert len(kept) == 1
        assert kept[0]["selection"]["countNumber"] == SPEC["image"]["keep_images"] == 50
        # ECR requires a tagStatus "any" rule to have the lowest priority (highest number).
        priorities = {r["selection"]["tagStatus"]: r["rulePriority"] for r in rules}
        assert priorities["any"] == max(priorities.values())
        assert len({r["rulePriority"] for r in rules}) == len(rules)

    def test_policy_lets_only_the_task_execution_roles_pull(self, reference: Templates):
        policy = props(reference, "artifact-store", "ImageRepository")["RepositoryPolicyText"]
        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Allow"
        assert set(as_list(statement["Action"])) == PULL_ACTIONS
        assert not PUSH_ONLY_ACTIONS & set(as_list(statement["Action"]))
        assert "Condition" not in statement
        assert statement["Principal"] == {
            "AWS": [
                {"Ref": f"{env['name'].capitalize()}TaskExecutionRoleArn"}
                for env in SPEC["environments"]
            ]
        }

    def test_the_repository_uri_is_an_output(self, reference: Templates):
        outputs = reference["artifact-store"]["Outputs"]
        assert outputs["ImageRepositoryUri"]["Value"] == {
            "Fn::GetAtt": ["ImageRepository", "RepositoryUri"]
        }


# -- docker build ----------------------------------------------------------------------------


class TestDockerBuild:
    def test_is_privileged_with_a_justification(self, reference: Templates):
        project = resources(reference, "build-projects")["BuildProject"]
        assert project["Properties"]["Environment"]["PrivilegedMode"] is True
        reason = project["Metadata"]["pipegen"]["exempt"]["privileged"]
        assert "Docker daemon" in reason

    def test_is_the_only_privileged_project(self, reference: Templates):
        projects = every_resource(reference, "AWS::CodeBuild::Project")
        assert len(projects) > 1
        privileged = [
            name for name, p in projects.items() if p["Properties"]["Environment"]["PrivilegedMode"]
        ]
        assert privileged == ["build-projects/BuildProject"]
        justified = [name for name, p in projects.items() if "pipegen" in p.get("Metadata", {})]
        assert justified == privileged

    def test_tags_the_image_with_the_commit_never_latest(self, reference: Templates):
        text, spec = buildspec(props(reference, "build-projects", "BuildProject"))
        tag = next(c for c in commands(spec) if c.startswith("IMAGE_TAG="))
        assert "CODEBUILD_RESOLVED_SOURCE_VERSION" in tag
        assert 'IMAGE_URI="$REPOSITORY_URI:$IMAGE_TAG"' in commands(spec)
        assert "latest" not in text.lower()
        assert "IMAGE_TAG" in spec["env"]["exported-variables"]
        assert "IMAGE_URI" in spec["env"]["exported-variables"]
        pushes = [c for c in commands(spec) if "docker push" in c or "--push" in c]
        assert pushes and all('"$IMAGE_URI"' in c or "--push" in c for c in pushes)

    def test_writes_the_files_the_deploy_actions_read(self, reference: Templates):
        _, spec = buildspec(props(reference, "build-projects", "BuildProject"))
        post_build = spec["phases"]["post_build"]["commands"]
        assert any(c.endswith("> imageDetail.json") for c in post_build)
        definitions = next(c for c in post_build if c.endswith("> imagedefinitions.json"))
        assert f'"{SPEC["image"]["container_name"]}"' in definitions
        assert spec["artifacts"]["files"] == [
            "imageDetail.json",
            "imagedefinitions.json",
            "taskdef-staging.json",
            "taskdef-prod.json",
            "appspec.yaml",
        ]

    def test_local_layer_cache(self, reference: Templates):
        cache = props(reference, "build-projects", "BuildProject")["Cache"]
        assert cache["Type"] == "LOCAL"
        assert "LOCAL_DOCKER_LAYER_CACHE" in cache["Modes"]

    def test_gets_the_repository_uri(self, reference: Templates):
        project = props(reference, "build-projects", "BuildProject")
        uri = project_variables(project)["REPOSITORY_URI"]
        assert uri == {
            "Name": "REPOSITORY_URI",
            "Type": "PLAINTEXT",
            "Value": {"Ref": "ImageRepositoryUri"},
        }

    def test_role_pushes_only_to_this_repository(self, reference: Templates):
        policies = role_policies(reference, "BuildProjectRole")
        scoped = {s["Sid"]: s for s in policies["BuildProjectRolePolicy"]}
        push = scoped["PushImages"]
        assert set(push["Action"]) >= PUSH_ONLY_ACTIONS
        (repository,) = push["Resource"]
        assert sub_text(repository).endswith(f":repository/{PIPELINE}")
        ecr_statements = [
            s
            for statements_ in policies.values()
            for s in statements_
            if any(a.startswith("ecr:") for a in s["Action"])
        ]
        assert {s["Sid"] for s in ecr_statements} == {"PushImages", "LogInToRegistry"}

    def test_registry_login_is_only_in_the_wildcard_only_policy(self, reference: Templates):
        policies = role_policies(reference, "BuildProjectRole")
        (login,) = policies["BuildProjectRoleWildcardOnlyPolicy"]
        assert login["Action"] == ["ecr:GetAuthorizationToken"]
        assert login["Resource"] == ["*"]
        scoped_actions = {a for s in policies["BuildProjectRolePolicy"] for a in s["Action"]}
        assert "ecr:GetAuthorizationToken" not in scoped_actions
        for statement in policies["BuildProjectRolePolicy"]:
            assert "*" not in statement["Resource"], statement["Sid"]


# -- image scan gate -----------------------------------------------------------------------


def inspector_variant(fail_on: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["name"] = f"orders-inspector-{fail_on.lower()}"
        data["image"]["scan"] = {"using": "inspector", "fail_on": fail_on}

    return mutate


class TestImageScan:
    def test_ecr_findings_gate_is_a_codebuild_test_action(self, reference: Templates):
        scan = actions(reference, "Test")["ImageScan"]
        assert scan["ActionTypeId"]["Category"] == "Test"
        assert scan["ActionTypeId"]["Provider"] == "CodeBuild"
        assert scan["Configuration"]["ProjectName"] == {"Ref": "ImageScanProjectName"}
        assert action_variables(scan) == {"IMAGE_TAG": "#{BuildVariables.IMAGE_TAG}"}

    def test_build_exports_the_variables_the_scan_reads(self, reference: Templates):
        build = actions(reference, "Build")["Build"]
        assert build["Namespace"] == "BuildVariables"

    def test_findings_gate_fails_on_the_specs_severity(self, reference: Templates):
        project = props(reference, "build-projects", "ImageScanProject")
        variables = project_variables(project)
        assert variables["FAIL_ON"]["Value"] == SPEC["image"]["scan"]["fail_on"] == "HIGH"
        assert variables["REPOSITORY"]["Value"] == PIPELINE
        assert project["Environment"]["PrivilegedMode"] is False

    def test_findings_gate_role_reads_findings_of_this_repository_only(self, reference: Templates):
        findings = by_sid(reference, "ImageScanProjectRolePolicy")["ReadScanFindings"]
        assert "ecr:DescribeImageScanFindings" in findings["Action"]
        (repository,) = findings["Resource"]
        assert sub_text(repository).endswith(f":repository/{PIPELINE}")

    def test_inspector_is_an_invoke_action_on_the_pushed_image(self, tmp_path: Path):
        templates = variant(SPEC, tmp_path, inspector_variant("HIGH"))
        scan = actions(templates, "Test")["ImageScan"]
        assert scan["ActionTypeId"]["Category"] == "Invoke"
        assert scan["ActionTypeId"]["Provider"] == "InspectorScan"
        configuration = scan["Configuration"]
        assert configuration["InspectorRunMode"] == "ECRImageScan"
        assert configuration["ECRRepositoryName"] == "orders-inspector-high"
        assert configuration["ImageTag"] == "#{BuildVariables.IMAGE_TAG}"
        assert configuration["CriticalThreshold"] == "0"
        assert configuration["HighThreshold"] == "0"
        assert "MediumThreshold" not in configuration
        assert "LowThreshold" not in configuration
        assert "ImageScanProject" not in resources(templates, "build-projects")

    @pytest.mark.parametrize(
        ("fail_on", "thresholds"),
        [
            ("CRITICAL", {"CriticalThreshold"}),
            ("MEDIUM", {"CriticalThreshold", "HighThreshold", "MediumThreshold"}),
            ("LOW", {"CriticalThreshold", "HighThreshold", "MediumThreshold", "LowThreshold"}),
        ],
    )
    def test_inspector_blocks_the_chosen_severity_and_worse(
        self, tmp_path: Path, fail_on: str, thresholds: set[str]
    ):
        templates = variant(SPEC, tmp_path, inspector_variant(fail_on))
        configuration = actions(templates, "Test")["ImageScan"]["Configuration"]
        given = {key: value for key, value in configuration.items() if key.endswith("Threshold")}
        assert given == dict.fromkeys(thresholds, "0")


# -- contract tests ------------------------------------------------------------------------


class TestContractTests:
    def test_run_beside_unit_tests_before_integration_tests(self, reference: Templates):
        test = actions(reference, "Test")
        assert test["ContractTests"]["RunOrder"] == 1
        assert test["UnitTests"]["RunOrder"] == 1
        assert test["IntegrationTests"]["RunOrder"] > test["ContractTests"]["RunOrder"]

    def test_project_gets_the_broker_url_and_token(self, reference: Templates):
        variables = project_variables(props(reference, "build-projects", "ContractTestsProject"))
        contract = SPEC["contract_tests"]
        assert variables["PACT_BROKER_BASE_URL"] == {
            "Name": "PACT_BROKER_BASE_URL",
            "Type": "PLAINTEXT",
            "Value": contract["broker_url"],
        }
        assert variables["PACT_BROKER_TOKEN"] == {
            "Name": "PACT_BROKER_TOKEN",
            "Type": "SECRETS_MANAGER",
            "Value": contract["token"],
        }

    def test_verifies_the_provider_against_the_broker(self, reference: Templates):
        _, spec = buildspec_of_sub(props(reference, "build-projects", "ContractTestsProject"))
        verify = next(c for c in commands(spec) if c.startswith("pact-provider-verifier"))
        assert f"--provider {SPEC['contract_tests']['provider']}" in verify
        assert '"$PACT_BROKER_TOKEN"' in verify
        assert SPEC["contract_tests"]["token"] not in verify

    def test_role_reads_only_the_broker_secret(self, reference: Templates):
        secret_statements = [
            (policy, s)
            for policy, statements_ in role_policies(reference, "ContractTestsProjectRole").items()
            for s in statements_
            if any(a.startswith("secretsmanager:") for a in s["Action"])
        ]
        assert len(secret_statements) == 1
        _, statement = secret_statements[0]
        assert statement["Action"] == ["secretsmanager:GetSecretValue"]
        (secret,) = statement["Resource"]
        assert sub_text(secret).endswith(f":secret:{SPEC['contract_tests']['token']}-??????")

    def test_no_other_role_reads_the_secret(self, reference: Templates):
        readers = {
            name
            for name, res in resources(reference, "iam").items()
            if res["Type"] == "AWS::IAM::Policy"
            and "secretsmanager:" in json.dumps(res["Properties"]["PolicyDocument"])
        }
        assert readers == {"ContractTestsProjectRolePolicy"}


# -- deploy actions ------------------------------------------------------------------------


class TestDeployActions:
    def test_dev_rolls_out_with_the_ecs_action(self, reference: Templates):
        deploy = actions(reference, "DeployDev")["Deploy"]
        assert deploy["ActionTypeId"] == {
            "Category": "Deploy",
            "Owner": "AWS",
            "Provider": "ECS",
            "Version": "1",
        }
        configuration = deploy["Configuration"]
        assert configuration["ClusterName"] == {"Ref": "DevClusterName"}
        assert configuration["ServiceName"] == {"Ref": "DevServiceName"}
        assert configuration["FileName"] == "imagedefinitions.json"
        assert deploy["InputArtifacts"] == [{"Name": "BuildOutput"}]
        assert deploy["RoleArn"] == {"Ref": "DevDeployActionRoleArn"}

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_blue_green_environments_use_codedeploy_to_ecs(self, reference: Templates, env: str):
        title = env.capitalize()
        deploy = actions(reference, f"Deploy{title}")["Deploy"]
        assert deploy["ActionTypeId"]["Category"] == "Deploy"
        assert deploy["ActionTypeId"]["Provider"] == "CodeDeployToECS"
        configuration = deploy["Configuration"]
        assert set(configuration) == BLUE_GREEN_CONFIGURATION
        assert configuration["ApplicationName"] == {"Ref": "EcsApplicationName"}
        assert configuration["DeploymentGroupName"] == {"Ref": f"{title}DeploymentGroupName"}
        # each environment registers its own task definition (its own roles)
        assert configuration["TaskDefinitionTemplatePath"] == f"taskdef-{env}.json"
        assert configuration["AppSpecTemplatePath"] == "appspec.yaml"
        artifacts = {
            configuration[key]
            for key in (
                "TaskDefinitionTemplateArtifact",
                "AppSpecTemplateArtifact",
                "Image1ArtifactName",
            )
        }
        assert artifacts == {"BuildOutput"}
        assert deploy["InputArtifacts"] == [{"Name": "BuildOutput"}]

    def test_the_image_placeholder_matches_the_task_definition(self, reference: Templates):
        build = build_set(REFERENCE)
        placeholder = actions(reference, "DeployStaging")["Deploy"]["Configuration"][
            "Image1ContainerName"
        ]
        taskdef = json.loads(build.files["taskdef-staging.json"])
        assert taskdef["family"] == f"{SPEC['name']}-staging"
        assert taskdef["executionRoleArn"] == "<STAGING_TASK_EXECUTION_ROLE_ARN>"
        (container,) = taskdef["containerDefinitions"]
        assert container["image"] == f"<{placeholder}>"
        assert container["name"] == SPEC["image"]["container_name"]
        appspec = yaml.safe_load(build.files["appspec.yaml"])
        info = appspec["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]
        assert info == {
            "ContainerName": SPEC["image"]["container_name"],
            "ContainerPort": SPEC["image"]["container_port"],
        }


# -- CodeDeploy blue/green -------------------------------------------------------------------


class TestCodeDeploy:
    def test_application_is_for_ecs(self, reference: Templates):
        application = props(reference, "deploy-targets", "EcsApplication")
        assert application["ComputePlatform"] == "ECS"

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_deployment_group_shifts_traffic_between_two_target_groups(
        self, reference: Templates, env: str
    ):
        title = env.capitalize()
        group = props(reference, "deploy-targets", f"{title}DeploymentGroup")
        assert group["ApplicationName"] == {"Ref": "EcsApplication"}
        assert group["DeploymentStyle"] == {
            "DeploymentType": "BLUE_GREEN",
            "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        }
        assert group["ECSServices"] == [
            {
                "ClusterName": {"Ref": f"{title}ClusterName"},
                "ServiceName": {"Ref": f"{title}ServiceName"},
            }
        ]
        (pair,) = group["LoadBalancerInfo"]["TargetGroupPairInfoList"]
        names = [json.dumps(tg["Name"]) for tg in pair["TargetGroups"]]
        assert len(names) == 2
        assert f"{title}BlueTargetGroupArn" in names[0]
        assert f"{title}GreenTargetGroupArn" in names[1]
        assert pair["ProdTrafficRoute"] == {
            "ListenerArns": [{"Ref": f"{title}ProductionListenerArn"}]
        }
        assert pair["TestTrafficRoute"] == {"ListenerArns": [{"Ref": f"{title}TestListenerArn"}]}

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_old_tasks_wait_as_long_as_the_spec_says(self, reference: Templates, env: str):
        group = props(reference, "deploy-targets", f"{env.capitalize()}DeploymentGroup")
        termination = group["BlueGreenDeploymentConfiguration"][
            "TerminateBlueInstancesOnDeploymentSuccess"
        ]
        wait = environment(SPEC, env)["deploy"]["termination_wait_minutes"]
        assert termination == {"Action": "TERMINATE", "TerminationWaitTimeInMinutes": wait}

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_rolls_back_on_failure_and_on_alarm(self, reference: Templates, env: str):
        title = env.capitalize()
        group = props(reference, "deploy-targets", f"{title}DeploymentGroup")
        assert group["AutoRollbackConfiguration"] == {
            "Enabled": True,
            "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        }
        alarms = group["AlarmConfiguration"]
        assert alarms["Enabled"] is True
        assert alarms["Alarms"] == [
            {"Name": {"Ref": f"{title}{color}{kind}Alarm"}}
            for color in ("Blue", "Green")
            for kind in ("5xx", "Latency")
        ]

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_alarms_watch_both_target_groups_at_p99_by_default(
        self, reference: Templates, env: str
    ):
        title = env.capitalize()
        for color in ("Blue", "Green"):
            for kind in ("5xx", "Latency"):
                alarm = props(reference, "deploy-targets", f"{title}{color}{kind}Alarm")
                assert alarm["Namespace"] == "AWS/ApplicationELB"
                dimensions = {d["Name"]: json.dumps(d["Value"]) for d in alarm["Dimensions"]}
                assert f"{title}{color}TargetGroupArn" in dimensions["TargetGroup"]
                assert f"{title}LoadBalancerArn" in dimensions["LoadBalancer"]
            latency = props(reference, "deploy-targets", f"{title}{color}LatencyAlarm")
            assert latency["MetricName"] == "TargetResponseTime"
            assert latency["ExtendedStatistic"] == "p99"
            assert "Statistic" not in latency

    @pytest.mark.parametrize(
        ("traffic", "percentage", "interval", "predefined"),
        [
            ("canary", 10, 5, "CodeDeployDefault.ECSCanary10Percent5Minutes"),
            ("linear", 10, 3, "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"),
            ("all-at-once", 10, 5, "CodeDeployDefault.ECSAllAtOnce"),
        ],
    )
    def test_predefined_configs_are_used_when_they_match(
        self, tmp_path: Path, traffic: str, percentage: int, interval: int, predefined: str
    ):
        def shift(data: dict[str, Any]) -> None:
            data["name"] = f"orders-{traffic}"
            environment(data, "prod")["deploy"].update(
                strategy=traffic, percentage=percentage, interval_minutes=interval
            )

        templates = variant(SPEC, tmp_path, shift)
        group = props(templates, "deploy-targets", "ProdDeploymentGroup")
        assert group["DeploymentConfigName"] == predefined
        assert every_resource(templates, "AWS::CodeDeploy::DeploymentConfig") == {}
        read = by_sid(templates, "ProdDeployActionRolePolicy")["ReadDeploymentConfig"]
        assert sub_text(read["Resource"][0]).endswith(f":deploymentconfig:{predefined}")

    @pytest.mark.parametrize(
        ("traffic", "routing"),
        [
            ("linear", {"TimeBasedLinear": {"LinearPercentage": 20, "LinearInterval": 2}}),
            ("canary", {"TimeBasedCanary": {"CanaryPercentage": 20, "CanaryInterval": 2}}),
        ],
    )
    def test_other_shifts_get_a_deployment_config_of_their_own(
        self, tmp_path: Path, traffic: str, routing: dict[str, Any]
    ):
        def shift(data: dict[str, Any]) -> None:
            data["name"] = f"orders-{traffic}"
            environment(data, "staging")["deploy"].update(
                strategy=traffic, percentage=20, interval_minutes=2
            )

        templates = variant(SPEC, tmp_path, shift)
        config = resources(templates, "deploy-targets")["StagingTrafficConfig"]
        assert config["Type"] == "AWS::CodeDeploy::DeploymentConfig"
        assert config["Properties"]["ComputePlatform"] == "ECS"
        (kind,) = routing
        assert config["Properties"]["TrafficRoutingConfig"] == {"Type": kind, **routing}
        group = props(templates, "deploy-targets", "StagingDeploymentGroup")
        assert group["DeploymentConfigName"] == {"Ref": "StagingTrafficConfig"}
        name = config["Properties"]["DeploymentConfigName"]
        read = by_sid(templates, "StagingDeployActionRolePolicy")["ReadDeploymentConfig"]
        assert sub_text(read["Resource"][0]).endswith(f":deploymentconfig:{name}")

    def test_reference_prod_is_linear_20_percent_every_2_minutes(self, reference: Templates):
        config = props(reference, "deploy-targets", "ProdTrafficConfig")
        assert config["TrafficRoutingConfig"] == {
            "Type": "TimeBasedLinear",
            "TimeBasedLinear": {"LinearPercentage": 20, "LinearInterval": 2},
        }
        staging = props(reference, "deploy-targets", "StagingDeploymentGroup")
        assert staging["DeploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
        assert "StagingTrafficConfig" not in resources(reference, "deploy-targets")


# -- after the deploy ----------------------------------------------------------------------


class TestAfterDeploy:
    def test_every_environment_has_a_deploy_stage(self, reference: Templates):
        assert deploy_stages(reference) == [
            f"Deploy{env['name'].capitalize()}" for env in SPEC["environments"]
        ]

    @pytest.mark.parametrize("stage", ["DeployDev", "DeployStaging", "DeployProd"])
    def test_smoke_test_runs_after_the_deploy(self, reference: Templates, stage: str):
        stage_actions = actions(reference, stage)
        assert stage_actions["SmokeTest"]["RunOrder"] > stage_actions["Deploy"]["RunOrder"]
        assert stage_actions["SmokeTest"]["ActionTypeId"]["Provider"] == "CodeBuild"

    @pytest.mark.parametrize("stage", ["DeployDev", "DeployStaging", "DeployProd"])
    def test_a_failed_deploy_stage_rolls_back(self, reference: Templates, stage: str):
        assert stages(reference)[stage]["OnFailure"] == {"Result": "ROLLBACK"}

    @pytest.mark.parametrize("env", BLUE_GREEN)
    def test_blue_green_stages_watch_their_alarms_for_the_bake_time(
        self, reference: Templates, env: str
    ):
        title = env.capitalize()
        (condition,) = stages(reference)[f"Deploy{title}"]["OnSuccess"]["Conditions"]
        assert condition["Result"] == "ROLLBACK"
        bake = environment(SPEC, env).get("bake_minutes", DEFAULT_BAKE_MINUTES)
        rules = condition["Rules"]
        assert len(rules) == 4
        for rule in rules:
            assert rule["RuleTypeId"]["Category"] == "Rule"
            assert rule["RuleTypeId"]["Provider"] == "CloudWatchAlarm"
            assert rule["Configuration"]["WaitTime"] == str(bake)
        watched = [rule["Configuration"]["AlarmName"] for rule in rules]
        assert watched == [
            {"Ref": f"{title}{color}{kind}AlarmName"}
            for color in ("Blue", "Green")
            for kind in ("5xx", "Latency")
        ]

    def test_bake_times_differ_as_the_spec_says(self, reference: Templates):
        waits = {
            stage: {
                rule["Configuration"]["WaitTime"]
                for rule in stages(reference)[stage]["OnSuccess"]["Conditions"][0]["Rules"]
            }
            for stage in ("DeployStaging", "DeployProd")
        }
        assert waits == {"DeployStaging": {str(DEFAULT_BAKE_MINUTES)}, "DeployProd": {"20"}}


# -- EKS target ------------------------------------------------------------------------------


class TestEks:
    def test_deploys_with_the_eks_action(self, eks: Templates):
        for stage in deploy_stages(eks):
            env = stage.removeprefix("Deploy").lower()
            deploy = actions(eks, stage)["Deploy"]
            assert deploy["ActionTypeId"]["Category"] == "Deploy"
            assert deploy["ActionTypeId"]["Provider"] == "EKS"
            assert deploy["Configuration"] == {
                "ClusterName": f"apps-{env}",
                "Namespace": "orders",
                "ManifestFiles": "k8s/deployment.yaml",
            }
            assert deploy["EnvironmentVariables"] == [
                {"Name": "IMAGE_URI", "Value": "#{BuildVariables.IMAGE_URI}", "Type": "PLAINTEXT"}
            ]
            assert deploy["InputArtifacts"] == [{"Name": "Source"}]

    def test_access_entry_is_scoped_to_the_namespace(self, eks: Templates):
        entries = every_resource(eks, "AWS::EKS::AccessEntry")
        assert len(entries) == len(SPEC["environments"])
        for env in SPEC["environments"]:
            title = env["name"].capitalize()
            entry = props(eks, "deploy-targets", f"{title}ClusterAccess")
            assert entry["ClusterName"] == f"apps-{env['name']}"
            assert entry["PrincipalArn"] == {"Ref": f"{title}DeployActionRoleArn"}
            (policy,) = entry["AccessPolicies"]
            assert sub_text(policy["PolicyArn"]).endswith(
                "cluster-access-policy/AmazonEKSEditPolicy"
            )
            assert policy["AccessScope"] == {"Type": "namespace", "Namespaces": ["orders"]}

    def test_has_no_codedeploy_or_ecs_pieces(self, eks: Templates):
        assert every_resource(eks, "AWS::CodeDeploy::Application") == {}
        assert every_resource(eks, "AWS::CodeDeploy::DeploymentGroup") == {}
        _, spec = buildspec(props(eks, "build-projects", "BuildProject"))
        assert not any(f.startswith("taskdef") for f in spec["artifacts"]["files"])
        assert "appspec.yaml" not in spec["artifacts"]["files"]

    def test_the_node_roles_pull_the_image(self, eks: Templates):
        policy = props(eks, "artifact-store", "ImageRepository")["RepositoryPolicyText"]
        (statement,) = policy["Statement"]
        assert set(as_list(statement["Action"])) == PULL_ACTIONS
        assert statement["Principal"] == {
            "AWS": [
                {"Ref": f"{env['name'].capitalize()}NodeRoleArn"} for env in SPEC["environments"]
            ]
        }

    def test_builds_and_passes_the_lint_gate(self, tmp_path: Path):
        spec_path = write_variant(SPEC, tmp_path, to_eks)
        result = pipegen_build.build([spec_path], tmp_path / "out")
        assert result.pipelines == ["orders-eks"]
        assert (tmp_path / "out" / "orders-eks" / "root.yaml").is_file()
        assert (tmp_path / "out" / "orders-eks" / "app" / "k8s" / "deployment.yaml").is_file()


class TestTaskDefinitionsAndLogs:
    """Each blue/green environment's task definition gets its own roles, region and log group."""

    def test_build_fills_each_task_definition_placeholder(self, reference: Templates):
        project = props(reference, "build-projects", "BuildProject")
        text, _ = buildspec(project)
        for env in ("staging", "prod"):
            prefix = env.upper()
            assert (
                f'-e "s|<{prefix}_TASK_EXECUTION_ROLE_ARN>|${prefix}_TASK_EXECUTION_ROLE_ARN|g"'
                in text
            )
            assert f'"taskdef-{env}.json"' in text
            variables = {
                v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]
            }
            assert variables[f"{prefix}_TASK_EXECUTION_ROLE_ARN"] == {
                "Ref": f"{env.capitalize()}TaskExecutionRoleArn"
            }
            assert variables[f"{prefix}_TASK_ROLE_ARN"] == {"Ref": f"{env.capitalize()}TaskRoleArn"}
        assert "<REGION>|$AWS_REGION" in text

    def test_every_placeholder_in_the_starter_is_filled(self):
        build = build_set(REFERENCE)
        text, _ = buildspec(props(rendered(build), "build-projects", "BuildProject"))
        for name, content in build.files.items():
            if not name.startswith("taskdef-"):
                continue
            placeholders = set(re.findall(r"<([A-Z0-9_]+)>", content)) - {"IMAGE1_NAME"}
            assert placeholders, name
            for placeholder in placeholders:
                assert f"s|<{placeholder}>|" in text, f"{name}: <{placeholder}> is never filled"

    def test_container_log_groups_exist_encrypted(self, reference: Templates):
        build = build_set(REFERENCE)
        for env in ("staging", "prod"):
            group = props(reference, "deploy-targets", f"{env.capitalize()}ContainerLogGroup")
            assert group["LogGroupName"] == f"/ecs/{SPEC['name']}-{env}"
            assert "KmsKeyId" in group
            taskdef = json.loads(build.files[f"taskdef-{env}.json"])
            (container,) = taskdef["containerDefinitions"]
            assert (
                container["logConfiguration"]["options"]["awslogs-group"] == group["LogGroupName"]
            )
