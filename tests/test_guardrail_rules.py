"""pipegen's guardrail rules (generator/lint/rules), run through the lint gate.

In the style of cfn-lint's own rule tests: per rule a table of good and bad snippets. Each
snippet is a small template, written as JSON with one key or list entry a line, so that the
line of every path is known: a bad case names the exact (rule, path, message fragment) findings
it must produce, and nothing else from the guardrail range may appear. Baseline resources
below pass every guardrail; each case changes one thing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.lint import cache as lint_cache
from generator.lint import gate
from generator.lint.cache import cache_key, toolchain_fingerprint
from generator.lint.gate import (
    DEFAULT_RULES,
    GUARDRAIL_RULES,
    Finding,
    LintJob,
    RuleSet,
    RuleSetError,
    lint_one,
    load_rules,
    log_retention,
    rule_set,
)

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "output"

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deployer"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead-letters"
DROP: Any = object()  # removes a key in `change`


def is_guardrail(rule: str) -> bool:
    """The guardrail range; E96xx-E98xx are the pipeline semantics rules, tested in
    tests/test_semantics_rules.py."""
    return rule[:2] in ("E9", "W9") and rule[2] not in "678"


# -- rendering with known lines ---------------------------------------------------------------


def render(template: dict[str, Any]) -> tuple[str, dict[tuple[Any, ...], int]]:
    """JSON text with one key or list entry a line, and the line each path starts on."""
    lines: list[str] = []
    where: dict[tuple[Any, ...], int] = {}

    def emit(value: Any, path: tuple[Any, ...], indent: int, prefix: str, comma: str) -> None:
        pad = " " * indent
        where[path] = len(lines) + 1
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{prefix}{{")
            for index, (key, item) in enumerate(value.items()):
                last = index == len(value) - 1
                emit(item, (*path, key), indent + 1, f"{json.dumps(key)}: ", "" if last else ",")
            lines.append(f"{pad}}}{comma}")
        elif isinstance(value, list) and value:
            lines.append(f"{pad}{prefix}[")
            for index, item in enumerate(value):
                emit(item, (*path, index), indent + 1, "", "" if index == len(value) - 1 else ",")
            lines.append(f"{pad}]{comma}")
        else:
            lines.append(f"{pad}{prefix}{json.dumps(value)}{comma}")

    emit(template, (), 0, "", "")
    return "\n".join(lines) + "\n", where


def template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"AWSTemplateFormatVersion": "2010-09-09", **sections, "Resources": resources}


def lint_template(
    folder: Path, body: dict[str, Any], rules: RuleSet = DEFAULT_RULES
) -> tuple[list[Finding], dict[tuple[Any, ...], int]]:
    text, lines = render(body)
    path = folder / "template.json"
    path.write_text(text)
    return lint_one(LintJob(path, "template.json", ("us-east-1",), rules=rules)), lines


def guardrail_findings(folder: Path, body: dict[str, Any], rules: RuleSet = DEFAULT_RULES) -> Any:
    findings, lines = lint_template(folder, body, rules)
    return [f for f in findings if is_guardrail(f.rule)], lines


# -- compliant baselines ------------------------------------------------------------------------


def change(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = dict(base)
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def statement(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **fields}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def service_trust() -> dict[str, Any]:
    return document(
        statement(Principal={"Service": "codebuild.amazonaws.com"}, Action="sts:AssumeRole")
    )


def role(*statements: dict[str, Any], trust: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": trust or service_trust()}
    if statements:
        properties["Policies"] = [{"PolicyName": "p", "PolicyDocument": document(*statements)}]
    return {"Type": "AWS::IAM::Role", "Properties": properties}


def policy(*statements: dict[str, Any], kind: str = "AWS::IAM::Policy") -> dict[str, Any]:
    properties: dict[str, Any] = {"PolicyDocument": document(*statements)}
    if kind == "AWS::IAM::Policy":
        properties.update(PolicyName="p", Roles=["deployer"])
    elif kind == "AWS::IAM::RolePolicy":
        properties.update(PolicyName="p", RoleName="deployer")
    return {"Type": kind, "Properties": properties}


READ_OBJECTS = statement(Action=["s3:GetObject"], Resource="arn:aws:s3:::bucket/*")

BUCKET_PROPERTIES: dict[str, Any] = {
    "VersioningConfiguration": {"Status": "Enabled"},
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": KEY_ARN,
                }
            }
        ]
    },
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
    "LoggingConfiguration": {"DestinationBucketName": "access-logs", "LogFilePrefix": "b/"},
}
LOG_BUCKET_METADATA = {
    "pipegen": {
        "exempt": {
            "access-logging": "Receives the access logs.",
            "sse-kms": "Access-log destinations support only SSE-S3.",
        }
    }
}
SSE_S3 = {
    "ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
}


def tls_deny(bucket: str = "Bucket", **changes: Any) -> dict[str, Any]:
    return change(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                {"Fn::GetAtt": [bucket, "Arn"]},
                {"Fn::Sub": f"${{{bucket}.Arn}}/*"},
            ],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        **changes,
    )


def bucket_policy(bucket: Any = None, *statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": bucket if bucket is not None else {"Ref": "Bucket"},
            "PolicyDocument": document(*(statements or (tls_deny(),))),
        },
    }


def bucket(metadata: Any = None, **changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"Type": "AWS::S3::Bucket"}
    if metadata is not None:
        resource["Metadata"] = metadata
    resource["Properties"] = change(BUCKET_PROPERTIES, **changes)
    return resource


def buckets(resource: dict[str, Any], *statements: dict[str, Any]) -> dict[str, Any]:
    """A bucket and its TLS-only policy."""
    return {"Bucket": resource, "BucketPolicy": bucket_policy(None, *statements)}


def log_bucket(metadata: Any = LOG_BUCKET_METADATA, **changes: Any) -> dict[str, Any]:
    changes = {"BucketEncryption": SSE_S3, "LoggingConfiguration": DROP, **changes}
    return buckets(bucket(metadata, **changes))


def key_statement(**changes: Any) -> dict[str, Any]:
    return change(
        statement(
            Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            Action=["kms:DescribeKey", "kms:Decrypt"],
            Resource="*",
        ),
        **changes,
    )


def key(*statements: dict[str, Any], **changes: Any) -> dict[str, Any]:
    properties = {
        "EnableKeyRotation": True,
        "KeyPolicy": document(*(statements or (key_statement(),))),
    }
    return {"Type": "AWS::KMS::Key", "Properties": change(properties, **changes)}


def topic(**changes: Any) -> dict[str, Any]:
    return {"Type": "AWS::SNS::Topic", "Properties": change({"KmsMasterKeyId": KEY_ARN}, **changes)}


def log_group(**changes: Any) -> dict[str, Any]:
    properties = {"KmsKeyId": KEY_ARN, "RetentionInDays": 365}
    return {"Type": "AWS::Logs::LogGroup", "Properties": change(properties, **changes)}


def environment(**changes: Any) -> dict[str, Any]:
    return change(
        {
            "Type": "LINUX_CONTAINER",
            "Image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "ComputeType": "BUILD_GENERAL1_SMALL",
            "PrivilegedMode": False,
        },
        **changes,
    )


def project(metadata: Any = None, **changes: Any) -> dict[str, Any]:
    properties = {
        "ServiceRole": ROLE_ARN,
        "EncryptionKey": KEY_ARN,
        "Source": {"Type": "CODEPIPELINE"},
        "Artifacts": {"Type": "CODEPIPELINE"},
        "Environment": environment(),
        "LogsConfig": {"CloudWatchLogs": {"Status": "ENABLED", "GroupName": "/aws/codebuild/p"}},
    }
    resource: dict[str, Any] = {"Type": "AWS::CodeBuild::Project"}
    if metadata is not None:
        resource["Metadata"] = metadata
    resource["Properties"] = change(properties, **changes)
    return resource


def variables(*pairs: dict[str, Any]) -> dict[str, Any]:
    return environment(EnvironmentVariables=list(pairs))


def function(**changes: Any) -> dict[str, Any]:
    properties = {
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": ROLE_ARN,
        "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
        "TracingConfig": {"Mode": "Active"},
        "ReservedConcurrentExecutions": 2,
        "DeadLetterConfig": {"TargetArn": QUEUE_ARN},
    }
    return {"Type": "AWS::Lambda::Function", "Properties": change(properties, **changes)}


ROLE_POLICY = ("Resources", "Role", "Properties", "Policies", 0, "PolicyDocument", "Statement", 0)
POLICY = ("Resources", "Policy", "Properties", "PolicyDocument", "Statement", 0)
TRUST = ("Resources", "Role", "Properties", "AssumeRolePolicyDocument", "Statement", 0)
BUCKET = ("Resources", "Bucket", "Properties")
KEY = ("Resources", "Key", "Properties")
KEY_STATEMENT = (*KEY, "KeyPolicy", "Statement", 0)
PROJECT = ("Resources", "Project", "Properties")
FUNCTION = ("Resources", "Function", "Properties")
LOGS = ("Resources", "Logs", "Properties")
IF_CONDITION: dict[str, Any] = {
    "Conditions": {"Prod": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}}
}
PARAMETER: dict[str, Any] = {"Parameters": {"Value": {"Type": "String"}}}


Expected = list[tuple[str, tuple[Any, ...], str]]  # (rule id, path, message fragment)


def case(
    name: str, resources: dict[str, Any], expected: Expected | None = None, **sections: Any
) -> Any:
    return pytest.param(template(resources, **sections), expected or [], id=name)


# -- the tables ---------------------------------------------------------------------------------

IAM_WILDCARD_ACTION = [
    case("listed-actions", {"Role": role(READ_OBJECTS)}),
    case(
        "partial-pattern", {"Role": role(statement(Action="s3:Get*", Resource="arn:aws:s3:::b/*"))}
    ),
    case("deny-star", {"Policy": policy(statement(Effect="Deny", Action="*", Resource="*"))}),
    case(
        "intrinsic-action",
        {"Policy": policy(statement(Action={"Ref": "Value"}, Resource="arn:aws:s3:::b"))},
        **PARAMETER,
    ),
    case(
        "trust-policy-exempt",
        {
            "Role": role(
                trust=document(
                    statement(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:*")
                )
            )
        },
    ),
    case(
        "star-string",
        {"Policy": policy(statement(Action="*", Resource="arn:aws:s3:::b"))},
        [
            ("E9001", (*POLICY, "Action"), "every action"),
            ("E9003", POLICY, "iam:PassedToService"),  # '*' grants iam:PassRole too
        ],
    ),
    case(
        "service-star-in-role",
        {"Role": role(statement(Action=["s3:GetObject", "s3:*"], Resource="arn:aws:s3:::b/*"))},
        [("E9001", (*ROLE_POLICY, "Action", 1), "every action of service 's3'")],
    ),
    case(
        "not-action-managed-policy",
        {
            "Policy": policy(
                statement(NotAction="iam:*", Resource="arn:aws:s3:::b"),
                kind="AWS::IAM::ManagedPolicy",
            )
        },
        [("E9001", (*POLICY, "NotAction"), "NotAction")],
    ),
    case(
        "role-policy",
        {
            "Policy": policy(
                statement(Action="SQS:*", Resource=QUEUE_ARN), kind="AWS::IAM::RolePolicy"
            )
        },
        [("E9001", (*POLICY, "Action"), "'SQS:*'")],
    ),
    case(
        "bucket-policy",
        {
            "Bucket": bucket(),
            "BucketPolicy": bucket_policy(
                None,
                tls_deny(),
                statement(Principal={"AWS": ROLE_ARN}, Action="s3:*", Resource="arn:aws:s3:::b/*"),
            ),
        },
        [
            (
                "E9001",
                (
                    "Resources",
                    "BucketPolicy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    1,
                    "Action",
                ),
                "'s3:*'",
            )
        ],
    ),
    case(
        "key-policy",
        {"Key": key(key_statement(Action="kms:*"))},
        [("E9001", (*KEY_STATEMENT, "Action"), "'kms:*'")],
    ),
    case(
        "topic-policy",
        {
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [f"arn:aws:sns:us-east-1:{ACCOUNT}:t"],
                    "PolicyDocument": document(
                        statement(
                            Principal={"AWS": ROLE_ARN},
                            Action="sns:*",
                            Resource=f"arn:aws:sns:us-east-1:{ACCOUNT}:t",
                        )
                    ),
                },
            }
        },
        [
            (
                "E9001",
                (
                    "Resources",
                    "TopicPolicy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Action",
                ),
                "sns",
            )
        ],
    ),
    case(
        "queue-policy",
        {
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": ["https://sqs.us-east-1.amazonaws.com/123456789012/q"],
                    "PolicyDocument": document(
                        statement(Principal={"AWS": ROLE_ARN}, Action=["sqs:*"], Resource=QUEUE_ARN)
                    ),
                },
            }
        },
        [
            (
                "E9001",
                (
                    "Resources",
                    "QueuePolicy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Action",
                    0,
                ),
                "sqs",
            )
        ],
    ),
    case(
        "fn-if-branch",
        {
            "Policy": policy(
                statement(
                    Action={"Fn::If": ["Prod", "s3:GetObject", "s3:*"]}, Resource="arn:aws:s3:::b/*"
                )
            )
        },
        [("E9001", (*POLICY, "Action", "Fn::If", 2), "'s3:*'")],
        **IF_CONDITION,
    ),
]

IAM_WILDCARD_RESOURCE = [
    case(
        "wildcard-only-action",
        {"Policy": policy(statement(Action="ecr:GetAuthorizationToken", Resource="*"))},
    ),
    case(
        "case-insensitive",
        {
            "Policy": policy(
                statement(
                    Action=["ECR:getauthorizationtoken", "sts:GETCALLERIDENTITY"], Resource=["*"]
                )
            )
        },
    ),
    case(
        "deny-star-resource",
        {"Policy": policy(statement(Effect="Deny", Action="s3:DeleteBucket", Resource="*"))},
    ),
    case("key-policy-star-is-the-key", {"Key": key()}),
    case(
        "scoped-resource",
        {"Policy": policy(statement(Action="s3:GetObject", Resource="arn:aws:s3:::b/*"))},
    ),
    case(
        "star-for-scopable-action",
        {"Policy": policy(statement(Action="s3:GetObject", Resource="*"))},
        [("E9002", (*POLICY, "Resource"), "'s3:GetObject' must name their resources")],
    ),
    case(
        "star-in-list",
        {"Role": role(statement(Action=["s3:GetObject"], Resource=["arn:aws:s3:::b/*", "*"]))},
        [("E9002", (*ROLE_POLICY, "Resource", 1), "'s3:GetObject'")],
    ),
    case(
        "mixed-actions-name-only-offenders",
        {
            "Policy": policy(
                statement(Action=["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], Resource="*")
            )
        },
        [("E9002", (*POLICY, "Resource"), "'ecr:BatchGetImage' must")],
    ),
    case(
        "pattern-is-not-listed",
        {"Policy": policy(statement(Action="ec2:Describe*", Resource="*"))},
        [("E9002", (*POLICY, "Resource"), "'ec2:Describe*'")],
    ),
    case(
        "not-resource",
        {"Policy": policy(statement(Action="s3:GetObject", NotResource="arn:aws:s3:::secret/*"))},
        [("E9002", (*POLICY, "NotResource"), "NotResource")],
    ),
    case(
        "topic-policy",
        {
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [f"arn:aws:sns:us-east-1:{ACCOUNT}:t"],
                    "PolicyDocument": document(
                        statement(
                            Principal={"Service": "events.amazonaws.com"},
                            Action="sns:Publish",
                            Resource="*",
                        )
                    ),
                },
            }
        },
        [
            (
                "E9002",
                (
                    "Resources",
                    "TopicPolicy",
                    "Properties",
                    "PolicyDocument",
                    "Statement",
                    0,
                    "Resource",
                ),
                "'sns:Publish'",
            )
        ],
    ),
]

PASSED_TO_ECS = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
IAM_PASS_ROLE = [
    case(
        "scoped-and-conditioned",
        {
            "Policy": policy(
                statement(Action="iam:PassRole", Resource=ROLE_ARN, Condition=PASSED_TO_ECS)
            )
        },
    ),
    case(
        "condition-key-any-case",
        {
            "Policy": policy(
                statement(
                    Action="IAM:passrole",
                    Resource=ROLE_ARN,
                    Condition={"StringLike": {"IAM:PassedToService": "ecs*.amazonaws.com"}},
                )
            )
        },
    ),
    case(
        "intrinsic-condition",
        {
            "Policy": policy(
                statement(
                    Action="iam:PassRole",
                    Resource=ROLE_ARN,
                    Condition={"Fn::If": ["Prod", PASSED_TO_ECS, PASSED_TO_ECS]},
                )
            )
        },
        **IF_CONDITION,
    ),
    case("other-actions", {"Policy": policy(statement(Action="iam:GetRole", Resource=ROLE_ARN))}),
    case(
        "no-condition",
        {"Policy": policy(statement(Action="iam:PassRole", Resource=ROLE_ARN))},
        [("E9003", POLICY, "iam:PassedToService")],
    ),
    case(
        "on-star",
        {"Policy": policy(statement(Action="iam:PassRole", Resource="*", Condition=PASSED_TO_ECS))},
        [
            ("E9002", (*POLICY, "Resource"), "'iam:PassRole'"),
            ("E9003", (*POLICY, "Resource"), "any role"),
        ],
    ),
    case(
        "wildcard-pattern-grants-it",
        {"Role": role(statement(Action=["iam:Pass*"], Resource=[ROLE_ARN]))},
        [("E9003", ROLE_POLICY, "iam:PassedToService")],
    ),
    case(
        "if-exists-does-not-count",
        {
            "Policy": policy(
                statement(
                    Action="iam:PassRole",
                    Resource=ROLE_ARN,
                    Condition={
                        "StringEqualsIfExists": {"iam:PassedToService": "ecs.amazonaws.com"}
                    },
                )
            )
        },
        [("E9003", (*POLICY, "Condition"), "iam:PassedToService")],
    ),
    case(
        "not-action-grants-it",
        {"Policy": policy(statement(NotAction="s3:*", Resource=ROLE_ARN))},
        [
            ("E9001", (*POLICY, "NotAction"), "NotAction"),
            ("E9003", POLICY, "iam:PassedToService"),
        ],
    ),
]


def trusting(principal: Any, key: str = "Principal") -> dict[str, Any]:
    return {"Role": role(trust=document(statement(**{key: principal}, Action="sts:AssumeRole")))}


def pinned(condition: dict[str, Any]) -> dict[str, Any]:
    """A role that trusts an account root, with `condition` on the statement."""
    return {
        "Role": role(
            trust=document(
                statement(
                    Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    Action="sts:AssumeRole",
                    Condition=condition,
                )
            )
        )
    }


TRUST_PRINCIPAL = [
    case("service", trusting({"Service": "codebuild.amazonaws.com"})),
    case("role-arn", trusting({"AWS": "arn:aws:iam::210987654321:role/deployer"})),
    case(
        "role-arn-with-path", trusting({"AWS": ["arn:aws-cn:iam::210987654321:role/ci/deployer"]})
    ),
    case(
        "sub-role-arn",
        trusting(
            {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/deployer"}}
        ),
    ),
    case("getatt", {**trusting({"AWS": {"Fn::GetAtt": ["Other", "Arn"]}}), "Other": role()}),
    case("ref-parameter", trusting({"AWS": {"Ref": "Value"}}), **PARAMETER),
    case(
        "deny-root-is-fine",
        {
            "Role": role(
                trust=document(
                    statement(
                        Principal={"Service": "codebuild.amazonaws.com"}, Action="sts:AssumeRole"
                    ),
                    statement(
                        Effect="Deny",
                        Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        Action="sts:AssumeRole",
                    ),
                )
            )
        },
    ),
    case(
        "account-root",
        trusting({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        [("E9004", (*TRUST, "Principal", "AWS"), "whole account")],
    ),
    # Cross-account roles created before the role they trust: the account carries the call,
    # the condition admits only the named role.
    case(
        "account-root-pinned-to-a-role",
        pinned({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/p/pipeline"}}),
    ),
    case(
        "account-root-pinned-by-sub",
        pinned(
            {
                "ArnEquals": {
                    "aws:PrincipalArn": {
                        "Fn::Sub": f"arn:${{AWS::Partition}}:iam::{ACCOUNT}:role/p/pipeline"
                    }
                }
            }
        ),
    ),
    case(
        "account-root-pinned-to-any-account",
        pinned({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/p/pipeline"}}),
        [("E9004", (*TRUST, "Principal", "AWS"), "whole account")],
    ),
    case(
        "account-root-pinned-to-a-user",
        pinned({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/alice"}}),
        [("E9004", (*TRUST, "Principal", "AWS"), "whole account")],
    ),
    case(
        "account-root-with-another-condition",
        pinned({"StringEquals": {"aws:PrincipalTag/team": "ops"}}),
        [("E9004", (*TRUST, "Principal", "AWS"), "whole account")],
    ),
    case(
        "bare-account-id-in-list",
        trusting({"AWS": [f"arn:aws:iam::{ACCOUNT}:role/ok", ACCOUNT]}),
        [("E9004", (*TRUST, "Principal", "AWS", 1), f"whole account '{ACCOUNT}'")],
    ),
    case("star", trusting("*"), [("E9004", (*TRUST, "Principal"), "every AWS principal")]),
    case("aws-star", trusting({"AWS": "*"}), [("E9004", (*TRUST, "Principal", "AWS"), "'*'")]),
    case(
        "sub-root",
        trusting({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}),
        [("E9004", (*TRUST, "Principal", "AWS"), "account root")],
    ),
    case(
        "ref-account-id",
        trusting({"AWS": [{"Ref": "AWS::AccountId"}]}),
        [("E9004", (*TRUST, "Principal", "AWS", 0), "whole account")],
    ),
    case(
        "join-root",
        trusting(
            {
                "AWS": {
                    "Fn::Join": [
                        ":",
                        [
                            "arn",
                            {"Ref": "AWS::Partition"},
                            "iam",
                            "",
                            {"Ref": "AWS::AccountId"},
                            "root",
                        ],
                    ]
                }
            }
        ),
        [("E9004", (*TRUST, "Principal", "AWS"), "whole account")],
    ),
    case(
        "user-arn",
        trusting({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}),
        [("E9004", (*TRUST, "Principal", "AWS"), "not a role ARN")],
    ),
    case(
        "not-principal",
        trusting({"AWS": ROLE_ARN}, key="NotPrincipal"),
        [("E9004", (*TRUST, "NotPrincipal"), "NotPrincipal")],
    ),
]

S3_VERSIONING = [
    case("enabled", buckets(bucket())),
    case(
        "missing", buckets(bucket(VersioningConfiguration=DROP)), [("E9101", BUCKET, "not enabled")]
    ),
    case(
        "suspended",
        buckets(bucket(VersioningConfiguration={"Status": "Suspended"})),
        [("E9101", (*BUCKET, "VersioningConfiguration", "Status"), "'Suspended'")],
    ),
    case(
        "no-value-branch",
        buckets(
            bucket(
                VersioningConfiguration={
                    "Fn::If": ["Prod", {"Status": "Enabled"}, {"Ref": "AWS::NoValue"}]
                }
            )
        ),
        [("E9101", (*BUCKET, "VersioningConfiguration", "Fn::If", 2), "not enabled")],
        **IF_CONDITION,
    ),
    case(
        "parameter",
        buckets(bucket(VersioningConfiguration={"Status": {"Ref": "Value"}})),
        **PARAMETER,
    ),
]

S3_ENCRYPTION = [
    case("kms", buckets(bucket())),
    case(
        "dsse",
        buckets(
            bucket(
                BucketEncryption={
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}
                    ]
                }
            )
        ),
    ),
    case("access-log-bucket-sse-s3", log_bucket()),
    case(
        "sse-s3",
        buckets(bucket(BucketEncryption=SSE_S3)),
        [
            (
                "E9102",
                (
                    *BUCKET,
                    "BucketEncryption",
                    "ServerSideEncryptionConfiguration",
                    0,
                    "ServerSideEncryptionByDefault",
                    "SSEAlgorithm",
                ),
                "must use SSE-KMS",
            )
        ],
    ),
    case(
        "none", buckets(bucket(BucketEncryption=DROP)), [("E9102", BUCKET, "no default encryption")]
    ),
    case(
        "exemption-without-reason",
        log_bucket(
            {"pipegen": {"exempt": {"access-logging": "Receives the logs.", "sse-kms": " "}}}
        ),
        [
            (
                "E9102",
                (
                    *BUCKET,
                    "BucketEncryption",
                    "ServerSideEncryptionConfiguration",
                    0,
                    "ServerSideEncryptionByDefault",
                    "SSEAlgorithm",
                ),
                "needs a reason",
            )
        ],
    ),
    case(
        "access-log-bucket-with-kms",
        log_bucket(BucketEncryption=BUCKET_PROPERTIES["BucketEncryption"]),
        [
            (
                "E9102",
                (
                    *BUCKET,
                    "BucketEncryption",
                    "ServerSideEncryptionConfiguration",
                    0,
                    "ServerSideEncryptionByDefault",
                    "SSEAlgorithm",
                ),
                "access-log bucket must use SSE-S3",
            )
        ],
    ),
]

S3_PUBLIC_ACCESS = [
    case("all-four", buckets(bucket())),
    case(
        "string-true",
        buckets(
            bucket(
                PublicAccessBlockConfiguration={
                    k: "true" for k in BUCKET_PROPERTIES["PublicAccessBlockConfiguration"]
                }
            )
        ),
    ),
    case(
        "missing",
        buckets(bucket(PublicAccessBlockConfiguration=DROP)),
        [("E9103", BUCKET, "no PublicAccessBlockConfiguration")],
    ),
    case(
        "one-false-one-missing",
        buckets(
            bucket(
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": False,
                    "IgnorePublicAcls": True,
                }
            )
        ),
        [
            (
                "E9103",
                (*BUCKET, "PublicAccessBlockConfiguration", "BlockPublicPolicy"),
                "BlockPublicPolicy is False",
            ),
            (
                "E9103",
                (*BUCKET, "PublicAccessBlockConfiguration"),
                "RestrictPublicBuckets is not set",
            ),
        ],
    ),
]

S3_TLS = [
    case("deny-policy", buckets(bucket())),
    case(
        "by-literal-name",
        {
            "Bucket": bucket(BucketName="my-bucket"),
            "BucketPolicy": bucket_policy("my-bucket", tls_deny()),
        },
    ),
    case(
        "aws-star-and-bool-list",
        buckets(
            bucket(),
            tls_deny(
                Principal={"AWS": "*"},
                Action=["*"],
                Condition={"Bool": {"aws:SecureTransport": [False]}},
            ),
        ),
    ),
    case("no-policy", {"Bucket": bucket()}, [("E9104", ("Resources", "Bucket"), "plain HTTP")]),
    case(
        "policy-of-another-bucket",
        {
            "Bucket": bucket(),
            "Other": bucket(),
            "BucketPolicy": bucket_policy({"Ref": "Other"}, tls_deny("Other")),
        },
        [("E9104", ("Resources", "Bucket"), "plain HTTP")],
    ),
    case(
        "secure-transport-true",
        buckets(bucket(), tls_deny(Condition={"Bool": {"aws:SecureTransport": "true"}})),
        [("E9104", ("Resources", "Bucket"), "plain HTTP")],
    ),
    case(
        "one-action-only",
        buckets(bucket(), tls_deny(Action="s3:GetObject")),
        [("E9104", ("Resources", "Bucket"), "plain HTTP")],
    ),
    case(
        "conditional-statement",
        buckets(bucket(), {"Fn::If": ["Prod", tls_deny(), {"Ref": "AWS::NoValue"}]}),
        [("E9104", ("Resources", "Bucket"), "plain HTTP")],
        **IF_CONDITION,
    ),
]

S3_LOGGING = [
    case("logged", buckets(bucket())),
    case("access-log-bucket-exempt", log_bucket()),
    case(
        "missing",
        buckets(bucket(LoggingConfiguration=DROP)),
        [("E9105", BUCKET, "no access logging")],
    ),
    case(
        "exemption-with-empty-reason",
        log_bucket({"pipegen": {"exempt": {"access-logging": "", "sse-kms": "SSE-S3 only."}}}),
        [("E9105", BUCKET, "has no reason")],
    ),
]

KMS_ROTATION = [
    case("rotating", {"Key": key()}),
    case("string-true", {"Key": key(EnableKeyRotation="true")}),
    case(
        "asymmetric-cannot-rotate",
        {"Key": key(EnableKeyRotation=DROP, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")},
    ),
    case("missing", {"Key": key(EnableKeyRotation=DROP)}, [("E9201", KEY, "rotation is off")]),
    case(
        "false",
        {"Key": key(EnableKeyRotation=False)},
        [("E9201", (*KEY, "EnableKeyRotation"), "False")],
    ),
]

KMS_PUBLIC = [
    case("account", {"Key": key()}),
    case("service", {"Key": key(key_statement(Principal={"Service": "logs.amazonaws.com"}))}),
    case(
        "star-even-with-condition",
        {
            "Key": key(
                key_statement(
                    Principal="*", Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}}
                )
            )
        },
        [("E9202", (*KEY_STATEMENT, "Principal"), "Principal '*'")],
    ),
    case(
        "aws-star-in-list",
        {"Key": key(key_statement(Principal={"AWS": [ROLE_ARN, "*"]}))},
        [("E9202", (*KEY_STATEMENT, "Principal", "AWS", 1), "Principal '*'")],
    ),
    case(
        "not-principal",
        {"Key": key(key_statement(Principal=DROP, NotPrincipal={"AWS": ROLE_ARN}))},
        [("E9202", (*KEY_STATEMENT, "NotPrincipal"), "NotPrincipal")],
    ),
]

TOPICS_AND_LOGS = [
    case("encrypted-topic", {"Topic": topic()}),
    case("topic-key-by-ref", {"Topic": topic(KmsMasterKeyId={"Ref": "Value"})}, **PARAMETER),
    case(
        "plain-topic",
        {"Topic": topic(KmsMasterKeyId=DROP)},
        [("E9301", ("Resources", "Topic", "Properties"), "not encrypted")],
    ),
    case("log-group", {"Logs": log_group()}),
    case(
        "retention-from-parameter",
        {"Logs": log_group(RetentionInDays={"Ref": "Value"})},
        Parameters={"Value": {"Type": "Number"}},
    ),
    case(
        "unencrypted-log-group",
        {"Logs": log_group(KmsKeyId=DROP)},
        [("E9302", LOGS, "not encrypted")],
    ),
    case(
        "short-retention",
        {"Logs": log_group(RetentionInDays=30)},
        [("E9303", (*LOGS, "RetentionInDays"), "is 30; keep log events at least 365")],
    ),
    case(
        "no-retention",
        {"Logs": log_group(RetentionInDays=DROP)},
        [("E9303", LOGS, "no RetentionInDays")],
    ),
]

CODEBUILD = [
    case("compliant", {"Project": project()}),
    case(
        "no-key", {"Project": project(EncryptionKey=DROP)}, [("E9401", PROJECT, "no EncryptionKey")]
    ),
    case(
        "no-logs-config",
        {"Project": project(LogsConfig=DROP)},
        [("E9402", PROJECT, "no LogsConfig")],
    ),
    case(
        "logs-config-default-cloudwatch",
        {"Project": project(LogsConfig={"S3Logs": {"Status": "DISABLED"}})},
    ),
    case(
        "cloudwatch-disabled",
        {"Project": project(LogsConfig={"CloudWatchLogs": {"Status": "DISABLED"}})},
        [("E9402", (*PROJECT, "LogsConfig", "CloudWatchLogs", "Status"), "DISABLED")],
    ),
    case(
        "secret-manager-and-plain-names",
        {
            "Project": project(
                Environment=variables(
                    {"Name": "DB_PASSWORD", "Type": "SECRETS_MANAGER", "Value": "db:password"},
                    {"Name": "API_TOKEN", "Type": "PARAMETER_STORE", "Value": "/ci/token"},
                    {"Name": "REGION", "Value": "us-east-1"},
                )
            )
        },
    ),
    case(
        "plaintext-password",
        {
            "Project": project(
                Environment=variables(
                    {"Name": "DB_PASSWORD", "Type": "PLAINTEXT", "Value": "hunter2"}
                )
            )
        },
        [
            (
                "E9403",
                (*PROJECT, "Environment", "EnvironmentVariables", 0, "Type"),
                "'DB_PASSWORD' looks like a secret (PASSWORD)",
            )
        ],
    ),
    case(
        "type-omitted-means-plaintext",
        {
            "Project": project(
                Environment=variables(
                    {"Name": "REGION", "Value": "us-east-1"},
                    {"Name": "github_token", "Value": "ghp_x"},
                    {"Name": "AWS_SECRET_ACCESS_KEY", "Value": "x"},
                )
            )
        },
        [
            ("E9403", (*PROJECT, "Environment", "EnvironmentVariables", 1), "(TOKEN)"),
            ("E9403", (*PROJECT, "Environment", "EnvironmentVariables", 2), "(SECRET)"),
        ],
    ),
    case(
        "privileged-with-component-reason",
        {
            "Project": project(
                {"pipegen": {"privileged-mode": "Builds images with Docker."}},
                Environment=environment(PrivilegedMode=True),
            )
        },
    ),
    case(
        "privileged-with-exemption",
        {
            "Project": project(
                {"pipegen": {"exempt": {"privileged": "Builds images with Docker."}}},
                Environment=environment(PrivilegedMode="true"),
            )
        },
    ),
    case(
        "privileged-without-reason",
        {"Project": project(Environment=environment(PrivilegedMode=True))},
        [("E9404", (*PROJECT, "Environment", "PrivilegedMode"), "without a justification")],
    ),
    case(
        "privileged-with-empty-reason",
        {
            "Project": project(
                {"pipegen": {"exempt": {"privileged": ""}, "privileged-mode": "  "}},
                Environment=environment(PrivilegedMode=True),
            )
        },
        [("E9404", (*PROJECT, "Environment", "PrivilegedMode"), "without a justification")],
    ),
]

LAMBDA = [
    case("compliant", {"Function": function()}),
    case(
        "container-image-has-no-runtime",
        {
            "Function": function(
                Runtime=DROP,
                Handler=DROP,
                PackageType="Image",
                Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/f:1"},
            )
        },
    ),
    case(
        "no-tracing",
        {"Function": function(TracingConfig=DROP)},
        [("W9501", FUNCTION, "not traced")],
    ),
    case(
        "pass-through",
        {"Function": function(TracingConfig={"Mode": "PassThrough"})},
        [("W9501", (*FUNCTION, "TracingConfig", "Mode"), "'PassThrough'")],
    ),
    case(
        "no-reserved-concurrency",
        {"Function": function(ReservedConcurrentExecutions=DROP)},
        [("W9502", FUNCTION, "ReservedConcurrentExecutions")],
    ),
    case(
        "no-dead-letters",
        {"Function": function(DeadLetterConfig={})},
        [("W9503", (*FUNCTION, "DeadLetterConfig"), "dead-letter")],
    ),
    case(
        "deprecated-runtime",
        {"Function": function(Runtime="python2.7")},
        [("E9504", (*FUNCTION, "Runtime"), "'python2.7' was deprecated on 2021-07-15")],
    ),
    case("runtime-from-parameter", {"Function": function(Runtime={"Ref": "Value"})}, **PARAMETER),
]

TABLES = {
    "E9001 wildcard actions": IAM_WILDCARD_ACTION,
    "E9002 wildcard resources": IAM_WILDCARD_RESOURCE,
    "E9003 iam:PassRole": IAM_PASS_ROLE,
    "E9004 trust principals": TRUST_PRINCIPAL,
    "E9101 bucket versioning": S3_VERSIONING,
    "E9102 bucket encryption": S3_ENCRYPTION,
    "E9103 public access block": S3_PUBLIC_ACCESS,
    "E9104 TLS-only policy": S3_TLS,
    "E9105 access logging": S3_LOGGING,
    "E9201 key rotation": KMS_ROTATION,
    "E9202 public key policy": KMS_PUBLIC,
    "E930x topics and log groups": TOPICS_AND_LOGS,
    "E940x CodeBuild": CODEBUILD,
    "W950x/E9504 Lambda": LAMBDA,
}
ALL_CASES = [
    pytest.param(*param.values, id=f"{table.split()[0]}-{param.id}")
    for table, params in TABLES.items()
    for param in params
]


@pytest.mark.parametrize(("body", "expected"), ALL_CASES)
def test_rule_table(tmp_path: Path, body: dict[str, Any], expected: Expected) -> None:
    found, lines = guardrail_findings(tmp_path, body)
    assert sorted((f.rule, f.line) for f in found) == sorted(
        (rule, lines[path]) for rule, path, _ in expected
    ), "\n".join(str(f) for f in found)
    for rule, path, fragment in expected:
        at = [f for f in found if (f.rule, f.line) == (rule, lines[path])]
        assert any(fragment in f.message for f in at), (rule, fragment, [f.message for f in at])
        resource = path[1] if path[0] == "Resources" else ""
        assert all(f.resource == resource for f in at), (resource, at)


def test_odd_shapes_and_intrinsics_never_crash_a_rule(tmp_path: Path) -> None:
    """Values the rules cannot know are skipped, never a crash (cfn-lint reports a rule that
    raises as E0002)."""
    ref = {"Ref": "Value"}
    no_value = {"Ref": "AWS::NoValue"}

    def if_(a: Any, b: Any) -> dict[str, Any]:
        return {"Fn::If": ["Prod", a, b]}

    json_policy = json.dumps({"Statement": [statement(Action="*", Resource="arn:aws:s3:::b")]})
    resources = {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Metadata": {"pipegen": "text"},
            "Properties": {
                "AssumeRolePolicyDocument": if_(ref, {"Statement": ref}),
                "Policies": if_([{"PolicyName": "p", "PolicyDocument": json_policy}], ref),
            },
        },
        "Policy": policy(
            ref,  # a statement that is an intrinsic function
            if_(statement(Action=ref, Resource=ref, Principal=ref, Condition=ref), no_value),
            statement(Effect=ref, Action=[ref, if_("s3:*", no_value)], Resource=["*", ref]),
        ),
        "Key": key(EnableKeyRotation=ref, KeyPolicy=ref),
        "Bucket": bucket(
            {"pipegen": {"exempt": ["sse-kms"]}},
            VersioningConfiguration=ref,
            BucketEncryption={"ServerSideEncryptionConfiguration": ref},
            PublicAccessBlockConfiguration=ref,
        ),
        "BucketPolicy": bucket_policy({"Fn::Sub": "b"}, tls_deny(Condition={"Bool": ref})),
        "Logs": log_group(RetentionInDays="a year", KmsKeyId=if_(ref, ref)),
        "Project": project(
            Environment=variables({"Name": ref, "Type": ref}, {"Name": "MY_TOKEN", "Type": ref}),
            LogsConfig={"CloudWatchLogs": ref},
        ),
        "Function": function(Runtime=ref, TracingConfig=ref, DeadLetterConfig=ref),
    }
    findings, _ = lint_template(tmp_path, template(resources, **PARAMETER, **IF_CONDITION))
    assert not [f for f in findings if f.rule.startswith("E0")], findings
    found = {(f.rule, f.resource) for f in findings if is_guardrail(f.rule)}
    assert found == {
        ("E9001", "Role"),  # the JSON-text policy document is read too
        ("E9003", "Role"),
        ("E9104", "Bucket"),  # no policy is known to be for it
    }


def test_cache_key_follows_the_runtime_lifecycle_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    content = [b"Resources: {}\n"]
    before = cache_key(content, ["us-east-1"], [])

    class Later(datetime.date):
        @classmethod
        def today(cls) -> Later:
            return cls(2031, 1, 1)  # python3.12 and others are deprecated by then

    monkeypatch.setattr(lint_cache, "date", Later)
    toolchain_fingerprint.cache_clear()
    try:
        assert cache_key(content, ["us-east-1"], []) != before
    finally:
        monkeypatch.undo()
        toolchain_fingerprint.cache_clear()


# -- the rules themselves --------------------------------------------------------------------

EXPECTED_IDS = {
    "E9001", "E9002", "E9003", "E9004", "E9005",
    "E9101", "E9102", "E9103", "E9104", "E9105",
    "E9201", "E9202",
    "E9301", "E9302", "E9303",
    "E9401", "E9402", "E9403", "E9404",
    "W9501", "W9502", "W9503", "E9504",
}  # fmt: skip


def test_rules_load_from_the_directory_like_cfn_lint_append_rules() -> None:
    from cfnlint.helpers import create_rules, import_filename
    from cfnlint.rules import Rules

    loaded = Rules.create_from_directory(GUARDRAIL_RULES)
    rules = Rules({k: v for k, v in loaded.items() if is_guardrail(k)})
    assert set(rules) == EXPECTED_IDS
    for rule_id, rule in rules.items():
        assert rule_id[:2] in ("E9", "W9") and len(rule_id) == 5
        assert rule.shortdesc and rule.description and rule.tags, rule_id
        assert rule.source_url.startswith("https://docs.aws.amazon.com/"), rule_id
    for path in sorted(Path(GUARDRAIL_RULES).glob("[A-Za-z1-9]*.py")):
        module = import_filename(path.stem, str(path.parent))
        assert len(create_rules(module)) == 1, f"{path.name}: one rule class a file"
        assert type(create_rules(module)[0]).__name__ == path.stem


def test_every_guardrail_has_a_bad_case() -> None:
    # E9005's table lives with the feature it guards, in tests/test_governance.py.
    from tests.test_governance import SERVICE_ROLE_APPROVAL

    tables = [*TABLES.values(), SERVICE_ROLE_APPROVAL]
    covered = {rule for params in tables for p in params for rule, _, _ in p.values[1]}
    assert covered == EXPECTED_IDS


def test_template_metadata_cannot_silence_or_reconfigure_guardrails(tmp_path: Path) -> None:
    logs = log_group(RetentionInDays=30)
    logs["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["E9302", "E9303"]}}}
    body = template(
        {"Logs": change(logs, Properties=change(logs["Properties"], KmsKeyId=DROP))},
        Metadata={
            "cfn-lint": {
                "config": {
                    "ignore_checks": ["E9302"],
                    "configure_rules": {"E9303": {"min_retention_days": 1}},
                }
            }
        },
    )
    found, _ = guardrail_findings(tmp_path, body)
    assert sorted(f.rule for f in found) == ["E9302", "E9303"]


def test_log_retention_minimum_is_a_rule_option(tmp_path: Path) -> None:
    body = template({"Logs": log_group(RetentionInDays=365)})
    assert guardrail_findings(tmp_path, body)[0] == []
    stricter = RuleSet(options=(log_retention(400),))
    (finding,) = guardrail_findings(tmp_path, body, stricter)[0]
    assert (finding.rule, finding.resource) == ("E9303", "Logs")
    assert "at least 400 days" in finding.message
    laxer = rule_set(options=["E9303:min_retention_days=30"])
    assert (
        guardrail_findings(tmp_path, template({"Logs": log_group(RetentionInDays=30)}), laxer)[0]
        == []
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("E9303=400", "is not RULE:KEY=VALUE"),
        ("E9303:min_retention_days", "is not RULE:KEY=VALUE"),
        ("E9999:min_retention_days=400", "no rule E9999 is loaded"),
        ("E9303:min_days=400", "has no option 'min_days' (its options: min_retention_days)"),
        ("E9303:min_retention_days=a year", "takes a whole number"),
    ],
)
def test_bad_rule_options_are_usage_errors(option: str, message: str) -> None:
    with pytest.raises(RuleSetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rules(RuleSet(options=(option,)))


PLATFORM_RULE = """
from cfnlint.rules import CloudFormationLintRule, RuleMatch


class BucketNamePrefix(CloudFormationLintRule):
    id = "E9901"
    shortdesc = "Bucket names start with acme-"
    description = "Platform naming convention"
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
    tags = ["platform"]

    def match(self, cfn):
        return [
            RuleMatch(["Resources", name, "Properties", "BucketName"], "{MESSAGE}")
            for name, resource in cfn.get_resources(["AWS::S3::Bucket"]).items()
            if not str(resource["Properties"].get("BucketName", "")).startswith("acme-")
        ]
"""


def platform_rules(
    folder: Path, message: str = "not an acme bucket", rule_id: str = "E9901"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "BucketNamePrefix.py").write_text(
        PLATFORM_RULE.replace("{MESSAGE}", message).replace("E9901", rule_id)
    )
    return folder


def test_extra_rule_directories_run_alongside_the_guardrails(tmp_path: Path) -> None:
    folder = platform_rules(tmp_path / "platform-rules")
    body = template(buckets(bucket(BucketName="my-bucket")))
    assert guardrail_findings(tmp_path, body)[0] == []
    extra = rule_set([folder])
    assert extra == RuleSet((str(folder) + "/.",)), "directories are normalised"
    found, lines = guardrail_findings(tmp_path, body, extra)
    assert [(f.rule, f.line, f.message) for f in found] == [
        ("E9901", lines[(*BUCKET, "BucketName")], "not an acme bucket")
    ]
    # mandatory like ours: a resource's cfn-lint metadata cannot silence a platform rule
    silenced = bucket(BucketName="my-bucket")
    silenced["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["E9901"]}}}
    assert [
        f.rule for f in guardrail_findings(tmp_path, template(buckets(silenced)), extra)[0]
    ] == ["E9901"]


def test_rule_directory_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="does not exist"):
        RuleSet((str(tmp_path / "missing"),))
    clash = platform_rules(tmp_path / "clash", rule_id="E9001")
    with pytest.raises(RuleSetError, match="E9001"):
        load_rules(rule_set([clash]))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Broken.py").write_text("this is not python\n")
    with pytest.raises(RuleSetError, match="cannot load the lint rules"):
        load_rules(rule_set([broken]))
    assert rule_set([GUARDRAIL_RULES]) == RuleSet(), "the guardrails are always loaded once"


def test_cache_key_covers_rule_files_data_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = [b"Resources: {}\n"]
    folder = platform_rules(tmp_path / "platform")
    extra = rule_set([folder])
    base = cache_key(content, ["us-east-1"], [])
    with_extra = cache_key(content, ["us-east-1"], [], extra)
    assert with_extra != base
    assert cache_key(content, ["us-east-1"], [], rule_set(options=[log_retention(400)])) != base
    assert cache_key(content, ["us-east-1"], [], rule_set(options=[log_retention(365)])) != base

    platform_rules(folder, message="a changed message")
    toolchain_fingerprint.cache_clear()
    try:
        assert cache_key(content, ["us-east-1"], [], extra) != with_extra
        # our own rules and the allow-list they read are part of every key
        copy = tmp_path / "rules"
        shutil.copytree(GUARDRAIL_RULES, copy, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setattr(lint_cache, "GUARDRAIL_RULES", str(copy))
        toolchain_fingerprint.cache_clear()
        assert cache_key(content, ["us-east-1"], []) == base
        edited = copy / "LogGroupRetention.py"
        edited.write_text(
            edited.read_text().replace("DEFAULT_MINIMUM = 365", "DEFAULT_MINIMUM = 366")
        )
        toolchain_fingerprint.cache_clear()
        assert cache_key(content, ["us-east-1"], []) != base
        monkeypatch.undo()
        data = tmp_path / "wildcard_only_actions.yaml"
        data.write_text("sts:GetCallerIdentity: reason\n")
        monkeypatch.setattr(lint_cache, "DATA_FILES", (data,))
        toolchain_fingerprint.cache_clear()
        assert cache_key(content, ["us-east-1"], []) != base
    finally:
        monkeypatch.undo()
        toolchain_fingerprint.cache_clear()


# -- the trust gate: everything committed passes -----------------------------------------------


def test_committed_output_passes_every_guardrail() -> None:
    """The trust gate. Every build already runs the guardrails with the stock rules; here only
    the guardrail rules run (the gate's own rule objects and configuration), which keeps this
    whole-tree check well under a second."""
    from cfnlint.rules import Rules
    from cfnlint.runner.template.runner import run_template_by_file_path

    guardrails = Rules({k: v for k, v in gate._rules().items() if is_guardrail(k)})
    assert set(guardrails) == EXPECTED_IDS
    files = sorted(p for p in OUTPUT.rglob("*.yaml") if "app" not in p.relative_to(OUTPUT).parts)
    assert len(files) >= 2 * 7, "the committed templates are missing"
    found = [
        f"{path.relative_to(REPO)}:{match.linenumber}: {match.rule.id} {match.message}"
        for path in files
        for match in run_template_by_file_path(
            str(path), gate._config(("us-east-1",)), guardrails, False
        )
    ]
    assert not found, "\n".join(found)
