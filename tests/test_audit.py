"""The audit trail: the Object Lock bucket, the policies that admit only this trail, the trail's
settings, the event rules (checked against sample events) and the lint gate, with the bucket in
the pipeline's account and in a separate audit account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from generator.assembly.stack import ChildStack, Exported
from generator.components import audit as au
from generator.components.iam import RoleBuilder
from generator.naming import Names
from generator.spec.model import Audit, PipelineSpec
from tests.component_lint import (
    ACCOUNT,
    REGION,
    lint_stacks,
    lint_template,
    role_arn,
    spec_data,
    substitute,
)

PIPELINE = "demo"
NAMES = Names(PIPELINE)
AUDIT_ACCOUNT = "210987654321"
KEY = Exported("artifact-store", "ArtifactKeyArn", None, "Artifact key")
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/demo-audit"


class Built:
    def __init__(self, settings: Audit) -> None:
        self.iam = ChildStack("iam", "demo: roles")
        self.stack = ChildStack("audit", "demo: audit trail")
        self.roles: list[RoleBuilder] = []
        self.result = au.audit(
            self.stack, NAMES, settings, region=REGION, key_arn=KEY, add_role=self.add_role
        )
        for builder in self.roles:
            builder.build(self.iam)
        self.template = self.stack.template.to_dict()
        self.resources: dict[str, Any] = self.template["Resources"]

    def add_role(self, builder: RoleBuilder) -> Exported:
        self.roles.append(builder)
        return role_arn(self.iam, builder)

    def props(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id]["Properties"])


@pytest.fixture(scope="module")
def local() -> Built:
    return Built(Audit(retention_days=2555, log_retention_days=731))


@pytest.fixture(scope="module")
def separate() -> Built:
    return Built(Audit(account=AUDIT_ACCOUNT))


@pytest.fixture(scope="module")
def audit_template(separate: Built) -> dict[str, Any]:
    return separate.result.extra_templates[au.AUDIT_TEMPLATE].to_dict()


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


# -- the bucket ----------------------------------------------------------------------------------


class TestBucket:
    def test_object_lock_in_compliance_mode(self, local: Built):
        bucket = local.props("AuditBucket")
        assert bucket["ObjectLockEnabled"] is True
        assert bucket["ObjectLockConfiguration"] == {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}},
        }
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
        rule = bucket["LifecycleConfiguration"]["Rules"][0]
        assert rule["ExpirationInDays"] >= 2555  # nothing expires while the lock holds

    def test_hardened_like_the_artifact_bucket(self, local: Built):
        bucket = local.props("AuditBucket")
        (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["AuditKey", "Arn"]},
        }
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        assert bucket["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": "AccessLogBucket"},
            "LogFilePrefix": "audit-bucket/",
        }
        assert local.resources["AuditBucket"]["DeletionPolicy"] == "Retain"

    def test_policy_admits_only_this_trail(self, local: Built):
        policy = local.props("AuditBucketPolicy")["PolicyDocument"]
        statements = by_sid(policy)
        deny = statements["DenyInsecureTransport"]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
        acl = statements["CloudTrailChecksTheBucketAcl"]
        assert acl["Principal"] == {"Service": ["cloudtrail.amazonaws.com"]}
        assert acl["Action"] == ["s3:GetBucketAcl"]
        assert substitute(acl["Condition"]["StringEquals"]["aws:SourceArn"]) == TRAIL_ARN
        write = statements["CloudTrailWritesThisTrailsLogFiles"]
        assert write["Action"] == ["s3:PutObject"]
        assert [substitute(r) for r in write["Resource"]] == [
            f"<AuditBucket.Arn>/AWSLogs/{ACCOUNT}/*"
        ]
        condition = write["Condition"]["StringEquals"]
        assert substitute(condition["aws:SourceArn"]) == TRAIL_ARN
        assert condition["s3:x-amz-acl"] == "bucket-owner-full-control"
        allowed = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert all("aws:SourceArn" in json.dumps(s["Condition"]) for s in allowed)

    def test_key_lets_cloudtrail_encrypt_for_this_trail_only(self, local: Built):
        key = local.props("AuditKey")
        assert key["EnableKeyRotation"] is True
        statements = by_sid(key["KeyPolicy"])
        encrypt = statements["CloudTrailEncryptsThisTrailsLogs"]
        assert encrypt["Principal"] == {"Service": ["cloudtrail.amazonaws.com"]}
        assert encrypt["Action"] == ["kms:GenerateDataKey"]
        assert substitute(encrypt["Condition"]["StringEquals"]["aws:SourceArn"]) == TRAIL_ARN
        context = encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
        assert substitute(context) == f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
        describe = statements["CloudTrailDescribesKey"]
        assert describe["Action"] == ["kms:DescribeKey"]
        assert substitute(describe["Condition"]["StringEquals"]["aws:SourceArn"]) == TRAIL_ARN
        decrypt = statements["AccountPrincipalsDecryptLogFiles"]
        assert decrypt["Action"] == ["kms:Decrypt", "kms:ReEncryptFrom"]
        assert decrypt["Condition"]["StringEquals"] == {
            "kms:CallerAccount": {"Ref": "AWS::AccountId"}
        }
        principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
        assert "*" not in json.dumps(principals)

    def test_access_logs_only_from_the_audit_bucket(self, local: Built):
        statements = by_sid(local.props("AccessLogBucketPolicy")["PolicyDocument"])
        delivery = statements["S3ServerAccessLogDelivery"]
        assert [substitute(r) for r in delivery["Resource"]] == [
            "<AccessLogBucket.Arn>/audit-bucket/*"
        ]
        assert delivery["Condition"]["ArnLike"] == {
            "aws:SourceArn": {"Fn::GetAtt": ["AuditBucket", "Arn"]}
        }


# -- the trail -----------------------------------------------------------------------------------


class TestTrail:
    def test_settings(self, local: Built):
        trail = local.props("AuditTrail")
        assert trail["TrailName"] == "demo-audit"
        assert trail["IsMultiRegionTrail"] is True
        assert trail["IncludeGlobalServiceEvents"] is True
        assert trail["EnableLogFileValidation"] is True
        assert trail["IsLogging"] is True
        assert trail["KMSKeyId"] == {"Fn::GetAtt": ["AuditKey", "Arn"]}
        assert trail["S3BucketName"] == {"Ref": "AuditBucket"}
        assert trail["CloudWatchLogsLogGroupArn"] == {"Fn::GetAtt": ["AuditTrailLogGroup", "Arn"]}
        assert trail["CloudWatchLogsRoleArn"] == {"Ref": "AuditTrailLogsRoleArn"}
        # CloudTrail checks the bucket policy when it creates the trail.
        assert local.resources["AuditTrail"]["DependsOn"] == ["AuditBucketPolicy"]

    def test_trail_arn_is_the_one_the_policies_name(self, local: Built):
        assert substitute(local.result.trail_arn.to_dict()) == TRAIL_ARN

    def test_log_groups_are_encrypted_and_kept(self, local: Built):
        for logical_id, name in (
            ("AuditTrailLogGroup", "/pipegen/demo/audit/cloudtrail"),
            ("AuditEventsLogGroup", "/pipegen/demo/audit/pipeline-events"),
        ):
            group = local.props(logical_id)
            assert group["LogGroupName"] == name
            assert group["KmsKeyId"] == {"Ref": "ArtifactKeyArn"}
            assert group["RetentionInDays"] == 731
            assert local.resources[logical_id]["DeletionPolicy"] == "Retain"
        # Both under /pipegen/<pipeline>/, which the artifact key admits for CloudWatch Logs.
        patterns = NAMES.log_group_patterns()
        assert "/pipegen/demo/*" in patterns

    def test_logs_role_writes_to_the_trails_group_only(self, local: Built):
        role = local.iam.template.to_dict()["Resources"]
        (trust,) = role["AuditTrailLogsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": ["cloudtrail.amazonaws.com"]}
        assert substitute(trust["Condition"]["ArnEquals"]["aws:SourceArn"]) == TRAIL_ARN
        (grant,) = role["AuditTrailLogsRolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert grant["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert [substitute(r) for r in grant["Resource"]] == [
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pipegen/demo/audit/cloudtrail:log-stream:*"
        ]


# -- the events ----------------------------------------------------------------------------------


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms used here: exact values in arrays, nested."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(value, event[key]) for key, value in pattern.items()
        )
    return event in pattern


def pipeline_event(pipeline: str = PIPELINE, state: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "source": "aws.codepipeline",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "detail": {"pipeline": pipeline, "execution-id": "e-1", "state": state},
    }


def action_event(category: str, pipeline: str = PIPELINE) -> dict[str, Any]:
    return {
        "source": "aws.codepipeline",
        "detail-type": "CodePipeline Action Execution State Change",
        "detail": {
            "pipeline": pipeline,
            "execution-id": "e-1",
            "stage": "ApproveProd",
            "action": "Approve",
            "state": "SUCCEEDED",
            "type": {"owner": "AWS", "category": category, "provider": "Manual", "version": "1"},
        },
    }


def approval_call(pipeline: str = PIPELINE, name: str = "PutApprovalResult") -> dict[str, Any]:
    return {
        "source": "aws.codepipeline",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "codepipeline.amazonaws.com",
            "eventName": name,
            "userIdentity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Approver/alice"},
            "requestParameters": {
                "pipelineName": pipeline,
                "stageName": "ApproveProd",
                "actionName": "Approve",
                "result": {"status": "Approved", "summary": "ok"},
            },
        },
    }


def rules(built: Built) -> dict[str, dict[str, Any]]:
    return {
        props["Name"]: props
        for props in (
            r["Properties"] for r in built.resources.values() if r["Type"] == "AWS::Events::Rule"
        )
    }


class TestEvents:
    def test_rules_and_their_patterns(self, local: Built):
        found = rules(local)
        assert sorted(found) == [
            "demo-audit-actions",
            "demo-audit-approvals",
            "demo-audit-executions",
        ]
        for rule in found.values():
            (target,) = rule["Targets"]
            assert substitute(target["Arn"]) == (
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pipegen/demo/audit/pipeline-events"
            )
            assert rule["State"] == "ENABLED"

    @pytest.mark.parametrize(
        ("event", "rule"),
        [
            (pipeline_event(state="STARTED"), "demo-audit-executions"),
            (pipeline_event(state="FAILED"), "demo-audit-executions"),
            (action_event("Approval"), "demo-audit-actions"),
            (action_event("Source"), "demo-audit-actions"),
            (action_event("Deploy"), "demo-audit-actions"),
            (approval_call(), "demo-audit-approvals"),
            (pipeline_event(pipeline="other"), None),
            (action_event("Build"), None),
            (action_event("Test"), None),
            (action_event("Approval", pipeline="other"), None),
            (approval_call(pipeline="other"), None),
            (approval_call(name="GetPipelineState"), None),
        ],
    )
    def test_each_event_is_recorded_by_exactly_its_rule(
        self, local: Built, event: dict[str, Any], rule: str | None
    ):
        matched = [name for name, r in rules(local).items() if matches(r["EventPattern"], event)]
        assert matched == ([rule] if rule else [])

    def test_the_approver_is_in_the_recorded_event(self):
        """CodePipeline's action events do not name the approver; CloudTrail's call does."""
        assert "userIdentity" not in json.dumps(action_event("Approval"))
        assert approval_call()["detail"]["userIdentity"]["arn"].endswith("/alice")

    def test_resource_policy_admits_the_audit_rules_into_their_group_only(self, local: Built):
        policy = local.props("AuditEventsLogPolicy")
        assert policy["PolicyName"] == "demo-audit-events-to-logs"
        document = json.loads(substitute(policy["PolicyDocument"]))
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pipegen/demo/audit/pipeline-events"
        statements = by_sid(document)
        for statement in statements.values():
            assert statement["Resource"] == [group, f"{group}:*"]
        write = statements["AuditRulesWriteEvents"]
        assert write["Principal"] == {"Service": ["events.amazonaws.com"]}
        assert write["Action"] == ["logs:PutLogEvents"]
        assert write["Condition"]["ArnEquals"]["aws:SourceArn"] == [
            f"arn:aws:events:{REGION}:{ACCOUNT}:rule/demo-audit-{what}"
            for what in ("executions", "actions", "approvals")
        ]
        assert statements["LogDeliveryWritesForThisAccount"]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT}
        }

    def test_rules_wait_for_their_log_group_and_policy(self, local: Built):
        for resource in local.resources.values():
            if resource["Type"] == "AWS::Events::Rule":
                assert resource["DependsOn"] == ["AuditEventsLogGroup", "AuditEventsLogPolicy"]

    def test_auditor_queries_read_the_audit_log_groups(self):
        queries = au.auditor_queries(NAMES)
        assert len(queries) == 6
        groups = {q.log_group for q in queries}
        assert groups == {"/pipegen/demo/audit/pipeline-events", "/pipegen/demo/audit/cloudtrail"}
        text = "\n".join(q.query for q in queries)
        for field in ("userIdentity.arn", "external-execution-id", "execution-trigger"):
            assert field in text
        # The docstring lists the same queries for the docs.
        assert au.__doc__ is not None
        for query in queries:
            first_line = query.query.splitlines()[0]
            assert first_line.split(" and ")[0].split(" or ")[0] in au.__doc__


# -- a separate audit account ------------------------------------------------------------------


class TestAuditAccount:
    def test_trail_names_the_bucket_and_takes_the_key_as_a_parameter(self, separate: Built):
        trail = separate.props("AuditTrail")
        assert trail["S3BucketName"] == f"demo-audit-{AUDIT_ACCOUNT}"
        assert trail["KMSKeyId"] == {"Ref": "AuditKeyArn"}
        assert "DependsOn" not in separate.resources["AuditTrail"]
        assert separate.result.root_parameters == (au.AUDIT_KEY_ARN,)
        assert separate.stack.inputs["AuditKeyArn"] == au.AUDIT_KEY_ARN
        # No bucket or key of its own in the pipeline's account.
        types = {r["Type"] for r in separate.resources.values()}
        assert not types & {"AWS::S3::Bucket", "AWS::KMS::Key"}

    def test_audit_template_holds_bucket_and_key(self, audit_template: dict[str, Any]):
        resources = audit_template["Resources"]
        assert sorted(r["Type"] for r in resources.values()) == sorted(
            [
                "AWS::KMS::Key",
                "AWS::KMS::Alias",
                "AWS::S3::Bucket",
                "AWS::S3::Bucket",
                "AWS::S3::BucketPolicy",
                "AWS::S3::BucketPolicy",
            ]
        )
        bucket = resources["AuditBucket"]["Properties"]
        assert bucket["BucketName"] == f"demo-audit-{AUDIT_ACCOUNT}"
        assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
            "Mode": "COMPLIANCE",
            "Days": 365,
        }
        assert set(audit_template["Parameters"]) == {"PipelineAccountId"}
        assert set(audit_template["Outputs"]) == {"AuditBucketName", "AuditKeyArn"}

    def test_audit_template_admits_the_pipeline_accounts_trail(
        self, audit_template: dict[str, Any]
    ):
        pipeline_account = {"PipelineAccountId": ACCOUNT}
        resources = audit_template["Resources"]
        policy = by_sid(resources["AuditBucketPolicy"]["Properties"]["PolicyDocument"])
        write = policy["CloudTrailWritesThisTrailsLogFiles"]
        # The trail runs in the pipeline's region and account; its files land under that
        # account's prefix.
        assert substitute(
            write["Condition"]["StringEquals"]["aws:SourceArn"], **pipeline_account
        ) == (TRAIL_ARN)
        assert [substitute(r, **pipeline_account) for r in write["Resource"]] == [
            f"<AuditBucket.Arn>/AWSLogs/{ACCOUNT}/*"
        ]
        key = by_sid(resources["AuditKey"]["Properties"]["KeyPolicy"])
        encrypt = key["CloudTrailEncryptsThisTrailsLogs"]
        assert (
            substitute(encrypt["Condition"]["StringEquals"]["aws:SourceArn"], **pipeline_account)
            == TRAIL_ARN
        )

    def test_extra_template_path(self, separate: Built, local: Built):
        assert list(separate.result.extra_templates) == ["audit/audit-bucket.yaml"]
        assert local.result.extra_templates == {}
        assert local.result.root_parameters == ()


# -- the lint gate -------------------------------------------------------------------------------


def test_templates_pass_the_lint_gate_with_no_finding(
    local: Built, separate: Built, audit_template: dict[str, Any], tmp_path: Path
):
    """Stock rules (errors, warnings, informational) and the guardrails (E9101-E9105 among
    them) on the trail's stack both ways, its role's stack, and the audit-account template."""
    assert lint_template("audit-local", local.template, tmp_path) == []
    assert lint_template("audit-separate", separate.template, tmp_path) == []
    assert lint_stacks(tmp_path, local.iam) == []
    assert lint_template("audit-bucket", audit_template, tmp_path) == []


# -- the spec ----------------------------------------------------------------------------------


def spec(**fields: Any) -> PipelineSpec[Any]:
    return PipelineSpec[Any].model_validate({**spec_data("demo", "dev"), **fields})


class TestSpec:
    def test_off_by_default_and_defaults_when_on(self):
        assert spec().audit is None
        settings = spec(audit={}).audit
        assert settings == Audit(retention_days=365, account=None, log_retention_days=365)

    @pytest.mark.parametrize(
        "bad",
        [
            {"retention_days": 0},
            {"retention_days": 36501},
            {"account": "1234"},
            {"log_retention_days": 30},
            {"log_retention_days": 366},
            {"retention": 30},
        ],
    )
    def test_bad_settings(self, bad: dict[str, Any]):
        with pytest.raises(ValidationError, match="audit"):
            spec(audit=bad)
