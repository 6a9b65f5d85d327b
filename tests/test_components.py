"""Component unit tests: call each component on a fresh ChildStack and check the properties that
matter in `stack.template.to_dict()`. Assertions are partial on purpose (no snapshots): the
committed output/ is the snapshot, these tests say why each property is what it is."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from awacs import iam as iam_actions
from awacs import s3 as s3_actions
from awacs import sts
from awacs.aws import Action, Condition, StringEquals
from troposphere import GetAtt

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components import alarms, approval, codebuild, codedeploy, notifications
from generator.components.artifact_store import ArtifactStore, artifact_store
from generator.components.iam import RoleBuilder, service, wildcard_only_actions
from generator.components.pipeline import pipeline
from generator.errors import AssemblyError
from generator.naming import Names
from generator.pipeline_plan import (
    ActionEnvironment,
    AlarmWatch,
    GitTrigger,
    OnFailure,
    PipelinePlan,
    Stage,
    Step,
)
from generator.spec.model import Approval, SecretReference

PIPELINE = "demo"
NAMES = Names(PIPELINE)
TAKEN_FROM_TEMPLATE = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select"}


# -- helpers -------------------------------------------------------------------------------


def rendered(stack: ChildStack) -> dict[str, Any]:
    return stack.template.to_dict()


def resource(stack: ChildStack, logical_id: str) -> dict[str, Any]:
    return rendered(stack)["Resources"][logical_id]


def props(stack: ChildStack, logical_id: str) -> dict[str, Any]:
    return resource(stack, logical_id)["Properties"]


def of_type(stack: ChildStack, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in rendered(stack)["Resources"].items()
        if res["Type"] == resource_type
    }


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(document) if "Sid" in s}


def policy_statements(stack: ChildStack, logical_id: str) -> dict[str, dict[str, Any]]:
    return by_sid(props(stack, logical_id)["PolicyDocument"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The template string of an Fn::Sub, short or long form."""
    sub = value["Fn::Sub"]
    return sub[0] if isinstance(sub, list) else sub


def sub_variables(value: Any) -> dict[str, Any]:
    sub = value["Fn::Sub"]
    return sub[1] if isinstance(sub, list) else {}


def sub_references(text: str) -> list[str]:
    """The `${...}` references Fn::Sub would resolve (escaped `${!...}` excluded)."""
    return re.findall(r"\$\{(?!!)[^}]*\}", text)


def principals(statement: dict[str, Any]) -> list[Any]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [p for values in principal.values() for p in as_list(values)]
    return []


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def store_stack() -> ChildStack:
    return ChildStack("artifact-store", "demo: artifact store")


@pytest.fixture
def store(store_stack: ChildStack) -> ArtifactStore:
    return artifact_store(store_stack, NAMES, retention_days=14, log_retention_days=90)


# -- artifact store ------------------------------------------------------------------------


class TestArtifactStore:
    def test_key_rotates_and_is_retained(self, store_stack: ChildStack, store: ArtifactStore):
        key = resource(store_stack, "ArtifactKey")
        assert key["Type"] == "AWS::KMS::Key"
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"
        assert key["UpdateReplacePolicy"] == "Retain"

    def test_key_policy_never_allows_everyone(self, store_stack: ChildStack, store: ArtifactStore):
        policy = props(store_stack, "ArtifactKey")["KeyPolicy"]
        allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
        assert allows
        for statement in allows:
            assert statement.get("Principal") != "*", statement["Sid"]
            assert "*" not in principals(statement), statement["Sid"]

    def test_key_policy_admits_pipeline_roles_by_path(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        use = by_sid(props(store_stack, "ArtifactKey")["KeyPolicy"])["PipelineRolesUseKey"]
        pattern = use["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert sub_text(pattern).endswith(f":role/pipegen/{PIPELINE}/*")

    def test_alias_names_the_pipeline(self, store_stack: ChildStack, store: ArtifactStore):
        alias = props(store_stack, "ArtifactKeyAlias")
        assert alias["AliasName"] == f"alias/pipegen/{PIPELINE}/artifacts"
        assert alias["TargetKeyId"] == {"Ref": "ArtifactKey"}

    @pytest.mark.parametrize("bucket", ["ArtifactBucket", "AccessLogBucket"])
    def test_buckets_are_hardened_and_retained(
        self, store_stack: ChildStack, store: ArtifactStore, bucket: str
    ):
        res = resource(store_stack, bucket)
        p = res["Properties"]
        assert res["DeletionPolicy"] == "Retain"
        assert res["UpdateReplacePolicy"] == "Retain"
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert p["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert "AccessControl" not in p

    def test_artifact_bucket_encrypts_with_the_key(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        (rule,) = props(store_stack, "ArtifactBucket")["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["ArtifactKey", "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True

    def test_log_bucket_uses_sse_s3_with_recorded_exemption(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        res = resource(store_stack, "AccessLogBucket")
        (rule,) = res["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        assert "KMSMasterKeyID" not in rule["ServerSideEncryptionByDefault"]
        exempt = res["Metadata"]["pipegen"]["exempt"]
        assert "SSE-S3" in exempt["sse-kms"]
        assert exempt["access-logging"]
        assert "LoggingConfiguration" not in res["Properties"]

    @pytest.mark.parametrize(("bucket", "days"), [("ArtifactBucket", 14), ("AccessLogBucket", 90)])
    def test_lifecycle_expires_after_the_retention_given(
        self, store_stack: ChildStack, store: ArtifactStore, bucket: str, days: int
    ):
        (rule,) = props(store_stack, bucket)["LifecycleConfiguration"]["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == days
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}

    def test_artifact_bucket_logs_to_the_log_bucket(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        logging = props(store_stack, "ArtifactBucket")["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
        assert logging["LogFilePrefix"] == "artifact-bucket/"

    @pytest.mark.parametrize(
        ("policy", "bucket"),
        [("ArtifactBucketPolicy", "ArtifactBucket"), ("AccessLogBucketPolicy", "AccessLogBucket")],
    )
    def test_bucket_policies_deny_plain_http(
        self, store_stack: ChildStack, store: ArtifactStore, policy: str, bucket: str
    ):
        p = props(store_stack, policy)
        assert p["Bucket"] == {"Ref": bucket}
        deny = by_sid(p["PolicyDocument"])["DenyInsecureTransport"]
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == "*"
        assert deny["Action"] == ["s3:*"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
        assert deny["Resource"] == [
            {"Fn::GetAtt": [bucket, "Arn"]},
            {"Fn::Sub": f"${{{bucket}.Arn}}/*"},
        ]

    def test_log_delivery_is_limited_to_the_artifact_bucket(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        delivery = policy_statements(store_stack, "AccessLogBucketPolicy")[
            "S3ServerAccessLogDelivery"
        ]
        assert delivery["Principal"] == {"Service": ["logging.s3.amazonaws.com"]}
        assert delivery["Action"] == ["s3:PutObject"]
        assert delivery["Resource"] == [{"Fn::Sub": "${AccessLogBucket.Arn}/artifact-bucket/*"}]
        assert delivery["Condition"]["ArnLike"] == {
            "aws:SourceArn": {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}
        }
        assert delivery["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }

    def test_handles_are_outputs_of_the_store_stack(
        self, store_stack: ChildStack, store: ArtifactStore
    ):
        outputs = rendered(store_stack)["Outputs"]
        for handle in (store.key_arn, store.bucket_name, store.bucket_arn, store.log_bucket_name):
            assert handle.stack == "artifact-store"
            assert handle.name in outputs
        assert outputs["ArtifactKeyArn"]["Value"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}


# -- IAM role builder ----------------------------------------------------------------------


def builder(logical_id: str = "DemoRole") -> RoleBuilder:
    return RoleBuilder(
        logical_id=logical_id,
        description="demo role",
        trust=service("codebuild"),
        pipeline=PIPELINE,
    )


BUCKET_ARN = "arn:aws:s3:::demo-bucket"


class TestRoleBuilder:
    def test_rejects_a_wildcard_action(self):
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Everything", [Action("s3", "*")], [BUCKET_ARN])
        assert str(caught.value) == "DemoRole.Everything: wildcard action s3:*"

    def test_rejects_a_partial_wildcard_action(self):
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Gets", [Action("s3", "Get*")], [BUCKET_ARN])
        assert str(caught.value) == "DemoRole.Gets: wildcard action s3:Get*"

    def test_rejects_star_resource_for_a_scopable_action(self):
        assert "s3:GetObject" not in wildcard_only_actions()
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Read", [s3_actions.GetObject], ["*"])
        assert str(caught.value) == (
            "DemoRole.Read: Resource '*' for s3:GetObject, which accept narrower resources; "
            "scope them to ARNs"
        )

    def test_names_only_the_scopable_actions_in_a_mixed_grant(self):
        with pytest.raises(AssemblyError) as caught:
            builder().allow(
                "Mixed", [Action("sts", "GetCallerIdentity"), s3_actions.GetObject], ["*"]
            )
        assert "Resource '*' for s3:GetObject, which" in str(caught.value)
        assert "sts:GetCallerIdentity" not in str(caught.value)

    def test_rejects_star_mixed_with_arns(self):
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Read", [s3_actions.GetObject], [BUCKET_ARN, "*"])
        assert str(caught.value) == "DemoRole.Read: mixes '*' with ARNs"

    def test_rejects_an_empty_grant(self):
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Nothing", [], [BUCKET_ARN])
        assert str(caught.value) == "DemoRole.Nothing: a grant needs actions and resources"

    def test_wildcard_only_action_goes_to_its_own_policy(self):
        assert "sts:GetCallerIdentity" in wildcard_only_actions()
        stack = ChildStack("iam", "demo")
        role = builder()
        role.allow("Whoami", [sts.GetCallerIdentity], ["*"])
        role.allow("Read", [s3_actions.GetObject], [f"{BUCKET_ARN}/*"])
        arn = role.build(stack)
        assert arn.to_dict() == {"Fn::GetAtt": ["DemoRole", "Arn"]}

        wildcard = props(stack, "DemoRoleWildcardOnlyPolicy")
        assert wildcard["PolicyName"] == "DemoRoleWildcardOnlyPolicy"
        assert wildcard["Roles"] == [{"Ref": "DemoRole"}]
        (whoami,) = statements(wildcard["PolicyDocument"])
        assert whoami["Sid"] == "Whoami"
        assert whoami["Action"] == ["sts:GetCallerIdentity"]
        assert whoami["Resource"] == ["*"]

        (read,) = statements(props(stack, "DemoRolePolicy")["PolicyDocument"])
        assert read["Sid"] == "Read"
        assert read["Resource"] == [f"{BUCKET_ARN}/*"]

    def test_no_wildcard_policy_without_star_grants(self):
        stack = ChildStack("iam", "demo")
        builder().allow("Read", [s3_actions.GetObject], [f"{BUCKET_ARN}/*"]).build(stack)
        assert "DemoRoleWildcardOnlyPolicy" not in rendered(stack)["Resources"]

    def test_pass_role_needs_passed_to_service(self):
        role_arn = "arn:aws:iam::123456789012:role/app"
        with pytest.raises(AssemblyError) as caught:
            builder().allow("Pass", [iam_actions.PassRole], [role_arn])
        assert str(caught.value) == (
            "DemoRole.Pass: iam:PassRole needs an iam:PassedToService condition"
        )
        with pytest.raises(AssemblyError):
            builder().allow(
                "Pass",
                [iam_actions.PassRole],
                [role_arn],
                Condition(StringEquals({"aws:RequestedRegion": "us-east-1"})),
            )
        ok = builder().allow(
            "Pass",
            [iam_actions.PassRole],
            [role_arn],
            Condition(StringEquals({"iam:PassedToService": "ec2.amazonaws.com"})),
        )
        assert [g.sid for g in ok.grants] == ["Pass"]

    def test_pass_role_check_ignores_case(self):
        with pytest.raises(AssemblyError):
            builder().allow("Pass", [Action("iam", "passrole")], ["arn:aws:iam::1:role/app"])

    def test_role_path_trust_and_session(self):
        stack = ChildStack("iam", "demo")
        builder().allow("Read", [s3_actions.GetObject], [f"{BUCKET_ARN}/*"]).build(stack)
        role = props(stack, "DemoRole")
        assert role["Path"] == f"/pipegen/{PIPELINE}/"
        assert role["MaxSessionDuration"] == 3600
        (trust,) = statements(role["AssumeRolePolicyDocument"])
        assert trust["Principal"] == {"Service": ["codebuild.amazonaws.com"]}
        assert trust["Action"] == ["sts:AssumeRole"]

    def test_trust_condition_is_rendered(self):
        stack = ChildStack("iam", "demo")
        role = RoleBuilder(
            logical_id="PipelineRole",
            description="demo",
            trust=service("codepipeline"),
            pipeline=PIPELINE,
            trust_condition=Condition(StringEquals({"aws:SourceAccount": "123456789012"})),
        )
        role.allow("Read", [s3_actions.GetObject], [f"{BUCKET_ARN}/*"]).build(stack)
        (trust,) = statements(props(stack, "PipelineRole")["AssumeRolePolicyDocument"])
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_wildcard_only_list_holds_no_wildcards_and_has_reasons():
    listed = wildcard_only_actions()
    assert listed
    for action, reason in listed.items():
        assert "*" not in action and ":" in action, action
        assert reason.strip(), action


# -- CodeBuild -----------------------------------------------------------------------------

SECRETS = (
    SecretReference(name="NPM_TOKEN", source="secrets-manager", ref="team/npm-token:token"),
    SecretReference(
        name="DB_PASSWORD",
        source="secrets-manager",
        ref="arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::",
    ),
    SecretReference(name="SENTRY_DSN", source="parameter-store", ref="/team/sentry-dsn"),
)


def project_spec(**overrides: Any) -> codebuild.ProjectSpec:
    values: dict[str, Any] = {
        "purpose": "unit-tests",
        "description": "unit tests of demo",
        "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "compute_type": "BUILD_GENERAL1_SMALL",
        "timeout_minutes": 20,
        "buildspec": codebuild.pipeline_step_buildspec(["npm test"], reports="reports/junit/*.xml"),
        "inline": True,
        "reports": True,
        "writes_artifacts": False,
        "cache": "none",
        "variables": {"NODE_ENV": "test"},
        "secrets": SECRETS,
    }
    values.update(overrides)
    return codebuild.ProjectSpec(**values)


class Built:
    """A project and its role, each in its own stack as the composer arranges them."""

    def __init__(self, store: ArtifactStore, spec: codebuild.ProjectSpec) -> None:
        self.iam = ChildStack("iam", "demo: roles")
        self.build = ChildStack("build-projects", "demo: projects")
        self.role = codebuild.project_role(NAMES, spec, store, self.iam)
        self.role.build(self.iam)
        role_arn = self.iam.export(
            f"{self.role.logical_id}Arn", GetAtt(self.role.logical_id, "Arn"), "role"
        )
        self.handle = codebuild.build_project(
            self.build, NAMES, spec, role_arn=role_arn, store=store, log_retention_days=30
        )

    def role_statements(self) -> dict[str, dict[str, Any]]:
        return policy_statements(self.iam, f"{self.role.logical_id}Policy")


class TestCodeBuild:
    def test_project_is_encrypted_logged_and_unprivileged(self, store: ArtifactStore):
        built = Built(store, project_spec())
        p = props(built.build, "UnitTestsProject")
        assert p["Name"] == "demo-unit-tests"
        assert p["EncryptionKey"] == {"Ref": "ArtifactKeyArn"}
        assert p["ServiceRole"] == {"Ref": "UnitTestsProjectRoleArn"}
        assert p["LogsConfig"]["CloudWatchLogs"] == {
            "Status": "ENABLED",
            "GroupName": "/aws/codebuild/demo-unit-tests",
        }
        assert p["LogsConfig"]["S3Logs"] == {"Status": "DISABLED"}
        assert p["Environment"]["PrivilegedMode"] is False
        assert p["Environment"]["ImagePullCredentialsType"] == "CODEBUILD"
        assert p["Source"]["Type"] == "CODEPIPELINE"
        assert p["Artifacts"] == {"Type": "CODEPIPELINE"}

    def test_log_group_is_encrypted_with_retention(self, store: ArtifactStore):
        built = Built(store, project_spec())
        group = resource(built.build, "UnitTestsLogGroup")
        assert group["Properties"]["LogGroupName"] == "/aws/codebuild/demo-unit-tests"
        assert group["Properties"]["KmsKeyId"] == {"Ref": "ArtifactKeyArn"}
        assert group["Properties"]["RetentionInDays"] == 30
        assert group["DeletionPolicy"] == "Retain"

    def test_key_and_bucket_become_parameters_from_the_store(self, store: ArtifactStore):
        built = Built(store, project_spec())
        assert built.build.inputs["ArtifactKeyArn"] == store.key_arn
        assert built.build.inputs["ArtifactBucketName"] == store.bucket_name
        assert built.handle.stack == "build-projects"
        assert built.handle.name == "UnitTestsProjectName"

    def test_secret_variables_are_typed_by_source(self, store: ArtifactStore):
        built = Built(store, project_spec())
        variables = {
            v["Name"]: v
            for v in props(built.build, "UnitTestsProject")["Environment"]["EnvironmentVariables"]
        }
        assert variables["NODE_ENV"] == {"Name": "NODE_ENV", "Type": "PLAINTEXT", "Value": "test"}
        assert variables["NPM_TOKEN"]["Type"] == "SECRETS_MANAGER"
        assert variables["NPM_TOKEN"]["Value"] == "team/npm-token:token"
        assert variables["DB_PASSWORD"]["Type"] == "SECRETS_MANAGER"
        assert variables["SENTRY_DSN"]["Type"] == "PARAMETER_STORE"
        assert variables["SENTRY_DSN"]["Value"] == "/team/sentry-dsn"

    def test_role_reads_only_the_referenced_secrets(self, store: ArtifactStore):
        built = Built(store, project_spec())
        grants = built.role_statements()
        secrets = grants["ReadBuildSecrets"]
        assert secrets["Action"] == ["secretsmanager:GetSecretValue"]
        assert secrets["Resource"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                "${AWS::AccountId}:secret:team/npm-token-??????"
            },
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
        ]
        parameters = grants["ReadBuildParameters"]
        assert sorted(parameters["Action"]) == ["ssm:GetParameter", "ssm:GetParameters"]
        assert parameters["Resource"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                "parameter/team/sentry-dsn"
            }
        ]
        secret_actions = [
            (sid, a)
            for sid, s in grants.items()
            for a in s["Action"]
            if a.startswith(("secretsmanager:", "ssm:"))
        ]
        assert {sid for sid, _ in secret_actions} == {"ReadBuildSecrets", "ReadBuildParameters"}

    def test_no_secret_grants_without_secrets(self, store: ArtifactStore):
        built = Built(store, project_spec(secrets=()))
        grants = built.role_statements()
        assert "ReadBuildSecrets" not in grants
        assert "ReadBuildParameters" not in grants

    def test_role_writes_only_its_own_logs(self, store: ArtifactStore):
        built = Built(store, project_spec())
        logs = built.role_statements()["WriteOwnLogs"]
        assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        texts = [sub_text(r) for r in logs["Resource"]]
        assert texts == [
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
            "log-group:/aws/codebuild/demo-unit-tests",
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
            "log-group:/aws/codebuild/demo-unit-tests:log-stream:*",
        ]

    def test_report_grants_are_on_the_projects_report_group(self, store: ArtifactStore):
        built = Built(store, project_spec())
        reports = built.role_statements()["PublishTestReports"]
        assert "codebuild:BatchPutTestCases" in reports["Action"]
        assert "codebuild:CreateReport" in reports["Action"]
        assert reports["Resource"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:"
                "report-group/demo-unit-tests-junit"
            }
        ]
        group = props(built.build, "UnitTestsReportGroup")
        assert group["Name"] == "demo-unit-tests-junit"
        assert group["ExportConfig"]["S3Destination"]["EncryptionKey"] == {"Ref": "ArtifactKeyArn"}
        assert group["ExportConfig"]["S3Destination"]["EncryptionDisabled"] is False

    def test_no_report_grant_without_reports(self, store: ArtifactStore):
        spec = project_spec(
            purpose="smoke-test",
            buildspec=codebuild.pipeline_step_buildspec(["curl -f $URL"]),
            reports=False,
            secrets=(),
        )
        built = Built(store, spec)
        assert "PublishTestReports" not in built.role_statements()
        assert not of_type(built.build, "AWS::CodeBuild::ReportGroup")

    def test_role_key_and_artifact_grants_use_stack_parameters(self, store: ArtifactStore):
        built = Built(store, project_spec())
        grants = built.role_statements()
        assert grants["UseArtifactKey"]["Resource"] == [{"Ref": "ArtifactKeyArn"}]
        assert built.iam.inputs["ArtifactBucketArn"] == store.bucket_arn
        assert {"Ref": "ArtifactBucketArn"} in grants["ReadArtifacts"]["Resource"]

    def test_inline_buildspec_with_reports_is_wrapped_in_sub(self, store: ArtifactStore):
        built = Built(store, project_spec())
        buildspec = props(built.build, "UnitTestsProject")["Source"]["BuildSpec"]
        assert sub_variables(buildspec) == {
            "ReportGroupArn": {"Fn::GetAtt": ["UnitTestsReportGroup", "Arn"]}
        }
        assert "${ReportGroupArn}:" in sub_text(buildspec)

    def test_inline_buildspec_without_reports_is_unescaped_plain_text(self, store: ArtifactStore):
        spec = project_spec(
            purpose="smoke-test",
            buildspec=codebuild.pipeline_step_buildspec(['curl -f "${TARGET_URL}/health"']),
            reports=False,
        )
        built = Built(store, spec)
        buildspec = props(built.build, "SmokeTestProject")["Source"]["BuildSpec"]
        assert isinstance(buildspec, str)
        assert "${TARGET_URL}/health" in buildspec
        assert "${!" not in buildspec

    def test_arm_images_get_arm_containers(self, store: ArtifactStore):
        spec = project_spec(image="aws/codebuild/amazonlinux-aarch64-standard:3.0")
        built = Built(store, spec)
        assert props(built.build, "UnitTestsProject")["Environment"]["Type"] == "ARM_CONTAINER"


class TestPipelineStepBuildspec:
    def test_escapes_sub_syntax_in_commands(self):
        text = codebuild.pipeline_step_buildspec(
            ['echo "${HOME}"', "npm test"],
            install=["export P=${PATH}"],
            reports="reports/junit/*.xml",
            cache_paths=["${HOME}/.npm/**/*"],
        )
        assert "${!HOME}" in text
        assert "${!PATH}" in text
        # The only unescaped Sub variable left is the report group.
        assert sub_references(text) == ["${ReportGroupArn}"]

    def test_renders_valid_yaml(self):
        text = codebuild.pipeline_step_buildspec(
            ['echo "a: b" # not a comment', "npm test -- --grep 'x'"],
            install=["n 20"],
            reports="reports/junit/*.xml",
            cache_paths=["/root/.npm/**/*"],
        )
        spec = yaml.safe_load(text.replace("${ReportGroupArn}", "arn:aws:demo"))
        assert spec["version"] == 0.2
        assert spec["phases"]["install"]["commands"] == ["n 20"]
        assert spec["phases"]["pre_build"]["commands"] == ["mkdir -p reports"]
        assert spec["phases"]["build"]["commands"] == [
            'echo "a: b" # not a comment',
            "npm test -- --grep 'x'",
        ]
        assert spec["reports"]["arn:aws:demo"] == {
            "files": ["reports/junit/*.xml"],
            "file-format": "JUNITXML",
        }
        assert spec["cache"]["paths"] == ["/root/.npm/**/*"]

    def test_without_reports_or_install(self):
        spec = yaml.safe_load(codebuild.pipeline_step_buildspec(["make smoke"]))
        assert "reports" not in spec
        assert "install" not in spec["phases"]
        assert "cache" not in spec
        assert spec["phases"]["build"]["commands"] == ["make smoke"]

    def test_escaped_text_round_trips_through_sub(self):
        text = codebuild.pipeline_step_buildspec(['echo "${HOME}"'], reports="out/*.xml")
        # What CloudFormation's Fn::Sub does: fill the variable, then drop the escapes.
        filled = text.replace("${ReportGroupArn}", "arn:aws:demo").replace("${!", "${")
        spec = yaml.safe_load(filled)
        assert spec["phases"]["build"]["commands"] == ['echo "${HOME}"']
        assert spec["phases"]["pre_build"]["commands"] == ["mkdir -p out"]

    def test_report_directory_is_escaped_too(self):
        text = codebuild.pipeline_step_buildspec(
            ["make test"], reports="${CODEBUILD_SRC_DIR}/junit/*.xml"
        )
        assert sub_references(text) == ["${ReportGroupArn}"]

    @pytest.mark.parametrize("folder", ["test output #1", "unit: fast"])
    def test_report_directory_stays_one_yaml_string(self, folder: str):
        text = codebuild.pipeline_step_buildspec(["make test"], reports=f"{folder}/*.xml")
        spec = yaml.safe_load(text.replace("${ReportGroupArn}", "arn:aws:demo"))
        (command,) = spec["phases"]["pre_build"]["commands"]
        assert isinstance(command, str)
        assert folder in command


# -- pipeline rendering --------------------------------------------------------------------

PIPELINE_ROLE = Exported("iam", "PipelineRoleArn", GetAtt("PipelineRole", "Arn"), "role")
BUILD_ROLE = Exported("iam", "BuildActionRoleArn", GetAtt("BuildActionRole", "Arn"), "role")
PROJECT = Exported("build-projects", "BuildProjectName", GetAtt("BuildProject", "Arn"), "project")
ALARM = Exported("deploy-targets", "DevAlarmName", GetAtt("DevAlarm", "Arn"), "alarm")
URL = RootParameter("DevUrl", "Base URL of dev", "dev URL", "Environment: dev")


def plan(
    *,
    on_failure: OnFailure | None = None,
    watch: AlarmWatch | None = None,
    execution_mode: str = "QUEUED",
    trigger: GitTrigger | None = None,
) -> PipelinePlan:
    source = Step(
        name="Checkout",
        category="Source",
        provider="CodeStarSourceConnection",
        configuration={"FullRepositoryId": "acme/demo", "BranchName": "main"},
        outputs=("Source",),
        namespace="SourceVariables",
    )
    build = Step(
        name="Build",
        category="Build",
        provider="CodeBuild",
        configuration={
            "ProjectName": PROJECT,
            "EnvironmentVariables": ActionEnvironment((("TARGET_URL", URL), ("ENV", "dev"))),
        },
        role=BUILD_ROLE,
        inputs=("Source",),
        outputs=("BuildOutput",),
    )
    return PipelinePlan(
        name=PIPELINE,
        execution_mode=execution_mode,
        stages=(
            Stage("Source", (source,)),
            Stage("Build", (build,), on_failure=on_failure, watch=watch),
        ),
        role=PIPELINE_ROLE,
        trigger=trigger,
    )


def render(p: PipelinePlan, store: ArtifactStore) -> tuple[ChildStack, dict[str, Any]]:
    stack = ChildStack("pipeline", "demo: pipeline")
    pipeline(stack, p, store)
    return stack, props(stack, "Pipeline")


def stage(rendered_pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in rendered_pipeline["Stages"] if s["Name"] == name]
    return found


class TestPipeline:
    def test_v2_with_execution_mode_and_encrypted_store(self, store: ArtifactStore):
        _, p = render(plan(execution_mode="SUPERSEDED"), store)
        assert p["Name"] == PIPELINE
        assert p["PipelineType"] == "V2"
        assert p["ExecutionMode"] == "SUPERSEDED"
        assert p["RoleArn"] == {"Ref": "PipelineRoleArn"}
        assert p["ArtifactStore"] == {
            "Type": "S3",
            "Location": {"Ref": "ArtifactBucketName"},
            "EncryptionKey": {"Id": {"Ref": "ArtifactKeyArn"}, "Type": "KMS"},
        }

    def test_on_failure_rolls_back_by_default(self, store: ArtifactStore):
        _, p = render(plan(on_failure=OnFailure()), store)
        assert stage(p, "Build")["OnFailure"] == {"Result": "ROLLBACK"}
        assert "OnFailure" not in stage(p, "Source")

    @pytest.mark.parametrize(
        ("retry_mode", "expected"),
        [("failed-actions", "FAILED_ACTIONS"), ("all-actions", "ALL_ACTIONS")],
    )
    def test_on_failure_retries_when_asked(
        self, store: ArtifactStore, retry_mode: Any, expected: str
    ):
        _, p = render(plan(on_failure=OnFailure(mode="retry", retry_mode=retry_mode)), store)
        assert stage(p, "Build")["OnFailure"] == {
            "Result": "RETRY",
            "RetryConfiguration": {"RetryMode": expected},
        }

    def test_on_success_watches_alarms(self, store: ArtifactStore):
        watch = AlarmWatch(alarm_names=(ALARM, "existing-alarm"), wait_minutes=15)
        stack, p = render(plan(watch=watch), store)
        (condition,) = stage(p, "Build")["OnSuccess"]["Conditions"]
        assert condition["Result"] == "ROLLBACK"
        rules = condition["Rules"]
        assert [r["Name"] for r in rules] == ["Alarm1", "Alarm2"]
        for rule in rules:
            assert rule["RuleTypeId"] == {
                "Category": "Rule",
                "Owner": "AWS",
                "Provider": "CloudWatchAlarm",
                "Version": "1",
            }
            assert rule["Configuration"]["WaitTime"] == "15"
            assert isinstance(rule["Configuration"]["WaitTime"], str)
            assert rule["Configuration"]["AlarmStates"] == "ALARM"
        assert rules[0]["Configuration"]["AlarmName"] == {"Ref": "DevAlarmName"}
        assert rules[1]["Configuration"]["AlarmName"] == "existing-alarm"
        assert stack.inputs["DevAlarmName"] == ALARM

    def test_parallel_pipelines_do_not_watch_what_they_cannot_roll_back(self, store: ArtifactStore):
        """An OnSuccess condition can only roll back (CodePipeline user guide, stage
        conditions), which PARALLEL pipelines cannot do."""
        watch = AlarmWatch(alarm_names=("existing-alarm",))
        _, p = render(plan(watch=watch, execution_mode="PARALLEL"), store)
        assert "OnSuccess" not in stage(p, "Build")

    def test_no_on_success_without_alarms(self, store: ArtifactStore):
        _, p = render(plan(watch=AlarmWatch(alarm_names=())), store)
        assert "OnSuccess" not in stage(p, "Build")

    def test_git_trigger_filters_branch_and_paths(self, store: ArtifactStore):
        trigger = GitTrigger(
            source_step="Checkout",
            branch="release",
            include_paths=("src/**", "package.json"),
            exclude_paths=("docs/**",),
        )
        _, p = render(plan(trigger=trigger), store)
        (declared,) = p["Triggers"]
        assert declared["ProviderType"] == "CodeStarSourceConnection"
        git = declared["GitConfiguration"]
        assert git["SourceActionName"] == "Checkout"
        (push,) = git["Push"]
        assert push["Branches"] == {"Includes": ["release"]}
        assert push["FilePaths"] == {
            "Includes": ["src/**", "package.json"],
            "Excludes": ["docs/**"],
        }

    def test_trigger_without_paths_filters_branch_only(self, store: ArtifactStore):
        _, p = render(plan(trigger=GitTrigger(source_step="Checkout", branch="main")), store)
        (push,) = p["Triggers"][0]["GitConfiguration"]["Push"]
        assert push == {"Branches": {"Includes": ["main"]}}

    def test_no_triggers_without_a_git_source(self, store: ArtifactStore):
        _, p = render(plan(), store)
        assert "Triggers" not in p

    def test_handles_in_configuration_become_parameters(self, store: ArtifactStore):
        stack, p = render(plan(), store)
        (action,) = stage(p, "Build")["Actions"]
        assert action["Configuration"]["ProjectName"] == {"Ref": "BuildProjectName"}
        assert action["RoleArn"] == {"Ref": "BuildActionRoleArn"}
        parameters = rendered(stack)["Parameters"]
        assert parameters["BuildProjectName"]["Type"] == "String"
        assert stack.inputs["BuildProjectName"] == PROJECT
        assert stack.inputs["BuildActionRoleArn"] == BUILD_ROLE
        assert stack.inputs["PipelineRoleArn"] == PIPELINE_ROLE
        assert stack.inputs["DevUrl"] == URL

    def test_action_environment_substitutes_handles(self, store: ArtifactStore):
        _, p = render(plan(), store)
        (action,) = stage(p, "Build")["Actions"]
        env = action["Configuration"]["EnvironmentVariables"]
        assert sub_text(env) == (
            '[{"name":"TARGET_URL","value":"${Value0}","type":"PLAINTEXT"},'
            '{"name":"ENV","value":"dev","type":"PLAINTEXT"}]'
        )
        assert sub_variables(env) == {"Value0": {"Ref": "DevUrl"}}

    def test_action_artifacts_and_namespace(self, store: ArtifactStore):
        _, p = render(plan(), store)
        (checkout,) = stage(p, "Source")["Actions"]
        assert checkout["OutputArtifacts"] == [{"Name": "Source"}]
        assert checkout["Namespace"] == "SourceVariables"
        assert checkout["ActionTypeId"]["Version"] == "1"
        (build,) = stage(p, "Build")["Actions"]
        assert build["InputArtifacts"] == [{"Name": "Source"}]


# -- CodeDeploy ----------------------------------------------------------------------------


def env_parameter(name: str) -> RootParameter:
    return RootParameter(name, f"{name} of the environment", name, "Environment")


def server_target(environment: str, strategy: Any, **extra: Any) -> codedeploy.ServerTarget:
    prefix = environment.capitalize()
    values: dict[str, Any] = {
        "environment": environment,
        "strategy": strategy,
        "deployment_config": "OneAtATime",
        "auto_scaling_group": env_parameter(f"{prefix}AutoScalingGroupName"),
        "target_group_arn": env_parameter(f"{prefix}TargetGroupArn"),
        "alarms": (
            alarms.RollbackAlarm(f"{PIPELINE}-{environment}-5xx"),
            alarms.RollbackAlarm(f"{PIPELINE}-{environment}-latency"),
        ),
        "termination_wait_minutes": 45,
    }
    if strategy == "blue-green":
        values["instance_role_arn"] = env_parameter(f"{prefix}InstanceRoleArn")
    values.update(extra)
    return codedeploy.ServerTarget(**values)


SERVICE_ROLE = Exported("iam", "CodeDeployServiceRoleArn", GetAtt("R", "Arn"), "role")


def deployment_group(target: codedeploy.ServerTarget) -> tuple[ChildStack, dict[str, Any]]:
    stack = ChildStack("deploy-targets", "demo: deploy")
    application = codedeploy.server_application(stack, NAMES)
    codedeploy.server_deployment_group(stack, NAMES, target, SERVICE_ROLE, application)
    return stack, props(stack, f"{target.environment.capitalize()}DeploymentGroup")


class TestCodeDeploy:
    def test_blue_green_group_goes_through_the_provider(self):
        # CloudFormation rejects COPY_AUTO_SCALING_GROUP groups (coverage roadmap #2071), so the
        # group is a custom resource whose function makes the CodeDeploy calls.
        stack = ChildStack("deploy-targets", "demo: deploy")
        application = codedeploy.server_application(stack, NAMES)
        provider = GetAtt("BlueGreenProvider", "Arn")
        codedeploy.server_deployment_group(
            stack, NAMES, server_target("prod", "blue-green"), SERVICE_ROLE, application, provider
        )
        group = stack.template.to_dict()["Resources"]["ProdDeploymentGroup"]
        assert group["Type"] == "Custom::CodeDeployBlueGreenGroup"
        props = group["Properties"]
        assert props["ServiceToken"] == {"Fn::GetAtt": ["BlueGreenProvider", "Arn"]}
        assert props["DeploymentGroupName"] == f"{PIPELINE}-prod"
        assert props["ApplicationName"] == {"Ref": "Application"}
        assert props["ServiceRoleArn"] == {"Ref": "CodeDeployServiceRoleArn"}
        assert props["AutoScalingGroup"] == {"Ref": "ProdAutoScalingGroupName"}
        assert props["TerminationWaitTimeInMinutes"] == "45"
        assert props["Alarms"] == [f"{PIPELINE}-prod-5xx", f"{PIPELINE}-prod-latency"]
        assert stack.inputs["CodeDeployServiceRoleArn"] == SERVICE_ROLE

    def test_blue_green_without_provider_is_refused(self):
        with pytest.raises(AssemblyError, match="needs the blue/green provider function"):
            deployment_group(server_target("prod", "blue-green"))

    def test_provider_function_is_traced_limited_and_logged(self):
        stack = ChildStack("deploy-targets", "demo: deploy")
        key = GetAtt("Key", "Arn")
        codedeploy.blue_green_provider(
            stack,
            NAMES,
            Exported("iam", "BlueGreenProviderRoleArn", GetAtt("R", "Arn"), "role"),
            key,
            365,
        )
        function = props(stack, "BlueGreenProvider")
        assert function["Runtime"] == "python3.12"
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["ReservedConcurrentExecutions"] == 2
        assert function["DeadLetterConfig"] == {
            "TargetArn": {"Fn::GetAtt": ["BlueGreenProviderDeadLetters", "Arn"]}
        }
        assert "cfnresponse" in function["Code"]["ZipFile"]
        log_group = props(stack, "BlueGreenProviderLogGroup")
        assert log_group["LogGroupName"] == f"/aws/lambda/{PIPELINE}-codedeploy-bluegreen"
        assert log_group["KmsKeyId"] == key.to_dict()
        assert props(stack, "BlueGreenProviderDeadLetters")["KmsMasterKeyId"] == key.to_dict()

    def test_in_place_group(self):
        _, group = deployment_group(server_target("dev", "in-place"))
        assert group["DeploymentStyle"]["DeploymentType"] == "IN_PLACE"
        assert "BlueGreenDeploymentConfiguration" not in group
        assert "Deployment" not in group
        assert group["DeploymentConfigName"] == "CodeDeployDefault.OneAtATime"

    @pytest.mark.parametrize("strategy", ["in-place"])
    def test_rolls_back_on_failure_and_alarm(self, strategy: str):
        _, group = deployment_group(server_target("dev", strategy))
        rollback = group["AutoRollbackConfiguration"]
        assert rollback["Enabled"] is True
        assert sorted(rollback["Events"]) == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
        alarms = group["AlarmConfiguration"]
        assert alarms["Enabled"] is True
        assert alarms["Alarms"] == [
            {"Name": f"{PIPELINE}-dev-5xx"},
            {"Name": f"{PIPELINE}-dev-latency"},
        ]
        info = group["LoadBalancerInfo"]["TargetGroupInfoList"]
        assert info == [
            {"Name": {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "DevTargetGroupArn"}]}]}}
        ]

    def test_alarm_handles_become_parameters(self):
        alarm = alarms.RollbackAlarm(
            "demo-dev-5xx", Exported("monitoring", "DevAlarm", GetAtt("A", "Arn"), "alarm")
        )
        stack, group = deployment_group(server_target("dev", "in-place", alarms=(alarm,)))
        assert group["AlarmConfiguration"]["Alarms"] == [{"Name": {"Ref": "DevAlarm"}}]
        assert "DevAlarm" in stack.inputs

    def test_target_group_alarms(self):
        stack = ChildStack("deploy-targets", "demo")
        errors, latency = alarms.target_group_alarms(
            stack,
            NAMES,
            "dev",
            target_group_arn=env_parameter("DevTargetGroupArn"),
            load_balancer_arn=env_parameter("DevLoadBalancerArn"),
            thresholds=alarms.AlarmThresholds(
                error_5xx_count=5, latency_seconds=0.5, latency_percentile="p99"
            ),
        )
        assert errors.name == f"{PIPELINE}-dev-target-5xx"
        assert errors.handle is not None and errors.handle.name == "DevTarget5xxAlarmName"
        five = props(stack, "DevTarget5xxAlarm")
        assert five["AlarmName"] == errors.name
        assert five["Threshold"] == 5
        assert five["TreatMissingData"] == "notBreaching"
        slow = props(stack, "DevTargetLatencyAlarm")
        assert slow["ExtendedStatistic"] == "p99"
        assert slow["Threshold"] == 0.5
        assert latency.name == f"{PIPELINE}-dev-target-latency-p99"

    def _role(self, *targets: codedeploy.ServerTarget) -> ChildStack:
        stack = ChildStack("iam", "demo")
        codedeploy.codedeploy_role(stack, NAMES, list(targets)).build(stack)
        return stack

    def test_role_scopes_auto_scaling_actions_to_group_arns(self):
        stack = self._role(server_target("dev", "in-place"), server_target("prod", "blue-green"))
        grants = policy_statements(stack, "CodeDeployServiceRolePolicy")
        autoscaling = {
            sid: s
            for sid, s in grants.items()
            if any(a.startswith("autoscaling:") for a in s["Action"])
        }
        assert set(autoscaling) == {
            "ManageDeploymentAutoScalingGroups",
            "CopyAndRetireGroupsForBlueGreen",
        }
        for statement in autoscaling.values():
            for arn in statement["Resource"]:
                assert sub_text(arn) == (
                    "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:"
                    "autoScalingGroup:*:autoScalingGroupName/${Name}"
                )
        names = [
            sub_variables(arn)["Name"]
            for arn in grants["ManageDeploymentAutoScalingGroups"]["Resource"]
        ]
        assert names == [
            {"Ref": "DevAutoScalingGroupName"},
            {"Ref": "ProdAutoScalingGroupName"},
            f"CodeDeploy_{PIPELINE}-prod_*",
        ]

    def test_pass_role_only_to_ec2_for_blue_green_instance_roles(self):
        stack = self._role(server_target("dev", "in-place"), server_target("prod", "blue-green"))
        grants = policy_statements(stack, "CodeDeployServiceRolePolicy")
        passing = grants["PassInstanceRoleToGreenInstances"]
        assert passing["Action"] == ["iam:PassRole"]
        assert passing["Resource"] == [{"Ref": "ProdInstanceRoleArn"}]
        assert passing["Condition"] == {
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
        }
        pass_role = [sid for sid, s in grants.items() if "iam:PassRole" in s["Action"]]
        assert pass_role == ["PassInstanceRoleToGreenInstances"]

    def test_in_place_only_role_has_no_blue_green_grants(self):
        stack = self._role(server_target("dev", "in-place"))
        grants = policy_statements(stack, "CodeDeployServiceRolePolicy")
        assert "CopyAndRetireGroupsForBlueGreen" not in grants
        assert "LaunchGreenInstances" not in grants
        assert "PassInstanceRoleToGreenInstances" not in grants
        assert grants["ShiftTrafficOnTargetGroups"]["Resource"] == [{"Ref": "DevTargetGroupArn"}]

    def test_describe_actions_only_in_the_wildcard_only_policy(self):
        stack = self._role(server_target("dev", "in-place"), server_target("prod", "blue-green"))
        scoped = policy_statements(stack, "CodeDeployServiceRolePolicy")
        for sid, statement in scoped.items():
            assert statement["Resource"] != ["*"], sid
            for action in statement["Action"]:
                if action.startswith(("autoscaling:", "ec2:", "elasticloadbalancing:", "tag:")):
                    assert ":Describe" not in action and action != "tag:GetResources", sid
        (describe,) = statements(
            props(stack, "CodeDeployServiceRoleWildcardOnlyPolicy")["PolicyDocument"]
        )
        assert describe["Resource"] == ["*"]
        assert "autoscaling:DescribeAutoScalingGroups" in describe["Action"]
        assert set(describe["Action"]) <= set(wildcard_only_actions())

    def test_alarm_reads_are_scoped_to_alarm_arns(self):
        stack = self._role(server_target("dev", "in-place"))
        alarms = policy_statements(stack, "CodeDeployServiceRolePolicy")["ReadRollbackAlarms"]
        assert alarms["Action"] == ["cloudwatch:DescribeAlarms"]
        assert [sub_text(a) for a in alarms["Resource"]] == [
            f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:"
            f"alarm:{PIPELINE}-dev-{what}"
            for what in ("5xx", "latency")
        ]

    def test_copy_and_retire_only_blue_green_groups(self):
        stack = self._role(server_target("dev", "in-place"), server_target("prod", "blue-green"))
        grants = policy_statements(stack, "CodeDeployServiceRolePolicy")
        names = [
            sub_variables(arn)["Name"]
            for arn in grants["CopyAndRetireGroupsForBlueGreen"]["Resource"]
        ]
        assert {"Ref": "DevAutoScalingGroupName"} not in names

    def test_deploy_action_role_is_scoped_to_its_group(self, store: ArtifactStore):
        stack = ChildStack("iam", "demo")
        codedeploy.deploy_action_role(
            stack,
            NAMES,
            "dev",
            "CodeDeployDefault.OneAtATime",
            store,
            GetAtt("PipelineRole", "Arn"),
        ).build(stack)
        grants = policy_statements(stack, "DevDeployActionRolePolicy")
        assert [sub_text(r) for r in grants["DeployToThisGroupOnly"]["Resource"]] == [
            "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:"
            f"deploymentgroup:{PIPELINE}/{PIPELINE}-dev"
        ]
        assert grants["DecryptArtifacts"]["Resource"] == [{"Ref": "ArtifactKeyArn"}]


# -- notifications -------------------------------------------------------------------------


class TestNotifications:
    @pytest.fixture
    def stack(self, store: ArtifactStore) -> ChildStack:
        stack = ChildStack("notifications", "demo: topics")
        notifications.notifications(
            stack,
            NAMES,
            key_arn=store.key_arn,
            events_wanted=["failed", "succeeded", "approval-needed", "stage-failed"],
            email=notifications.notification_email(None),
            approval_emails={"prod": notifications.approver_email("prod", None)},
        )
        return stack

    def test_topics_are_encrypted_with_the_key(self, stack: ChildStack):
        topics = of_type(stack, "AWS::SNS::Topic")
        assert set(topics) == {"PipelineEventsTopic", "ProdApprovalTopic"}
        for topic in topics.values():
            assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "ArtifactKeyArn"}

    def test_events_topic_admits_only_eventbridge_of_this_account(self, stack: ChildStack):
        policy = props(stack, "PipelineEventsTopicPolicy")
        assert policy["Topics"] == [{"Ref": "PipelineEventsTopic"}]
        (statement,) = statements(policy["PolicyDocument"])
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": ["events.amazonaws.com"]}
        assert statement["Action"] == ["sns:Publish"]
        assert statement["Resource"] == [{"Ref": "PipelineEventsTopic"}]
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }
        rules = sorted(of_type(stack, "AWS::Events::Rule"))
        assert sorted(
            sub_text(arn) for arn in statement["Condition"]["ArnLike"]["aws:SourceArn"]
        ) == sorted(f"${{{rule}.Arn}}" for rule in rules)

    def test_approval_topic_admits_only_pipeline_roles(self, stack: ChildStack):
        policy = props(stack, "ProdApprovalTopicPolicy")
        for statement in statements(policy["PolicyDocument"]):
            assert statement.get("Principal") != "*"
            assert "*" not in principals(statement)
        (statement,) = statements(policy["PolicyDocument"])
        pattern = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert sub_text(pattern).endswith(f":role/pipegen/{PIPELINE}/*")
        assert statement["Resource"] == [{"Ref": "ProdApprovalTopic"}]

    def test_rules_filter_on_the_pipeline_name(self, stack: ChildStack):
        rules = of_type(stack, "AWS::Events::Rule")
        assert set(rules) == {
            "PipelineFailedRule",
            "PipelineSucceededRule",
            "ApprovalNeededRule",
            "StageFailedRule",
        }
        for rule in rules.values():
            pattern = rule["Properties"]["EventPattern"]
            assert pattern["source"] == ["aws.codepipeline"]
            assert pattern["detail"]["pipeline"] == [PIPELINE]
            (target,) = rule["Properties"]["Targets"]
            assert target["Arn"] == {"Ref": "PipelineEventsTopic"}
        approval_rule = rules["ApprovalNeededRule"]["Properties"]["EventPattern"]
        assert approval_rule["detail"]["type"] == {"category": ["Approval"]}

    def test_email_parameters_are_used(self, stack: ChildStack):
        assert set(stack.inputs) >= {"ArtifactKeyArn", "NotificationEmail", "ProdApproverEmail"}
        subscriptions = of_type(stack, "AWS::SNS::Subscription")
        endpoints = {s["Properties"]["Endpoint"]["Ref"] for s in subscriptions.values()}
        assert endpoints == {"NotificationEmail", "ProdApproverEmail"}

    def test_no_events_policy_without_rules(self, store: ArtifactStore):
        stack = ChildStack("notifications", "demo")
        notifications.notifications(
            stack,
            NAMES,
            key_arn=store.key_arn,
            events_wanted=[],
            email=notifications.notification_email(None),
            approval_emails={},
        )
        assert not of_type(stack, "AWS::Events::Rule")
        assert "PipelineEventsTopicPolicy" not in rendered(stack)["Resources"]


# -- approval ------------------------------------------------------------------------------


class TestApproval:
    def test_approver_can_approve_this_gate_only(self):
        stack = ChildStack("iam", "demo")
        handle = approval.approver_policy(
            stack, NAMES, "prod", Approval(approver_roles=["release-managers"]), "ApproveProd"
        )
        policy = props(stack, "ProdApproverPolicy")
        assert policy["Path"] == f"/pipegen/{PIPELINE}/"
        assert policy["Roles"] == ["release-managers"]
        grants = by_sid(policy["PolicyDocument"])
        approve = grants["ApproveThisGateOnly"]
        assert approve["Action"] == ["codepipeline:PutApprovalResult"]
        assert [sub_text(r) for r in approve["Resource"]] == [
            "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:"
            f"{PIPELINE}/ApproveProd/Approve"
        ]
        others = [
            sid for sid, s in grants.items() if "codepipeline:PutApprovalResult" in s["Action"]
        ]
        assert others == ["ApproveThisGateOnly"]
        see = grants["SeeWhatIsBeingPromoted"]
        assert all(
            a.startswith("codepipeline:Get") or a.startswith("codepipeline:List")
            for a in see["Action"]
        )
        assert handle.name == "ProdApproverPolicyArn"

    def test_gate_stage_matches_the_policy_arn(self):
        topic = Exported("notifications", "ProdApprovalTopicArn", GetAtt("T", "Arn"), "topic")
        gate = approval.gate_stage("prod", "staging", Approval(timeout_hours=2), topic, None)
        assert gate.name == "ApproveProd"
        (step,) = gate.steps
        assert step.name == "Approve"
        assert step.category == "Approval"
        assert step.timeout_minutes == 120
        assert step.configuration["NotificationArn"] == topic
        assert "ExternalEntityLink" not in step.configuration
