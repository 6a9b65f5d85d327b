"""The compliance-gate Lambda, run offline: CloudFormation on moto where moto answers faithfully,
botocore Stubbers for CodePipeline (moto has no job API) and for what moto gets wrong."""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.offline_aws import offline_aws

STACK, CHANGE_SET, JOB = "shop-prod", "pipegen-deploy", "11111111-2222-3333-4444-555555555555"
NAMES = {"StackName": STACK, "ChangeSetName": CHANGE_SET}
STATEFUL = "AWS::DynamoDB::Table,AWS::S3::Bucket,AWS::Logs::LogGroup"
SUMMARY = "compliance checks passed: ticket, stateful resources, IAM wildcard actions"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings = {
        "TICKET_PATTERN": "[A-Z]+-[0-9]+",
        "STATEFUL_TYPES": STATEFUL,
        "FORBID_WILDCARD_ACTIONS": "true",
    }
    with offline_aws(monkeypatch, **settings):
        yield


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = importlib.import_module("generator.functions.compliance_gate")
    monkeypatch.setattr(module, "clients", {})
    return module


def job_event(execution_id: str | None = "exec-1") -> dict[str, Any]:
    context: dict[str, Any] = {"pipelineName": "shop", "stage": {"name": "Prod"}}
    if execution_id:
        context["pipelineExecutionId"] = execution_id
    return {
        "CodePipeline.job": {
            "id": JOB,
            "accountId": "123456789012",
            "data": {
                "actionConfiguration": {
                    "configuration": {
                        "FunctionName": "shop-compliance-gate",
                        "UserParameters": json.dumps(
                            {"stackName": STACK, "changeSetName": CHANGE_SET}
                        ),
                    }
                },
                "pipelineContext": context,
                "inputArtifacts": [],
                "outputArtifacts": [],
            },
        }
    }


def github(message: str) -> str:
    return json.dumps({"ProviderType": "GitHub", "CommitMessage": message})


def pipeline(gate: Any, summaries: list[str] | None, failure: str | None = None) -> Stubber:
    """A CodePipeline client expecting the execution lookup (unless None) and one job result."""
    codepipeline = boto3.client("codepipeline")
    stub = Stubber(codepipeline)
    if summaries is not None:
        revisions = [
            {"name": f"Source{i}", "revisionId": f"abc{i}", "revisionSummary": summary}
            for i, summary in enumerate(summaries)
        ]
        stub.add_response(
            "get_pipeline_execution",
            {"pipelineExecution": {"pipelineName": "shop", "artifactRevisions": revisions}},
            {"pipelineName": "shop", "pipelineExecutionId": "exec-1"},
        )
    if failure is None:
        details = {"summary": SUMMARY, "percentComplete": 100}
        stub.add_response("put_job_success_result", {}, {"jobId": JOB, "executionDetails": details})
    else:
        details = {"type": "JobFailed", "message": failure}
        stub.add_response("put_job_failure_result", {}, {"jobId": JOB, "failureDetails": details})
    stub.activate()
    gate.clients["codepipeline"] = codepipeline
    return stub


def stubbed_cloudformation(
    gate: Any, pages: list[list[dict[str, str]]], *templates: Any
) -> Stubber:
    """A CloudFormation client answering describe_change_set with `pages`, then get_template with
    each of `templates` in turn (an exception code string stands for a failing call)."""
    cloudformation = boto3.client("cloudformation")
    stub = Stubber(cloudformation)
    for number, changes in enumerate(pages, 1):
        page: dict[str, Any] = {
            "Changes": [{"Type": "Resource", "ResourceChange": c} for c in changes]
        }
        params = dict(NAMES)
        if number > 1:
            params["NextToken"] = f"page{number}"
        if number < len(pages):
            page["NextToken"] = f"page{number + 1}"
        stub.add_response("describe_change_set", page, params)
    for stage, template in zip(("Processed", "Original"), templates, strict=False):
        params = {**NAMES, "TemplateStage": stage}
        if template == "ValidationError":
            stub.add_client_error("get_template", "ValidationError", "no", expected_params=params)
        else:
            body = template if isinstance(template, str) else json.dumps(template)
            stub.add_response("get_template", {"TemplateBody": body}, params)
    stub.activate()
    gate.clients["cloudformation"] = cloudformation
    return stub


def change(
    logical: str, kind: str, action: str = "Modify", replacement: str = "False"
) -> dict[str, str]:
    result = {"Action": action, "LogicalResourceId": logical, "ResourceType": kind}
    return result if action == "Remove" else {**result, "Replacement": replacement}


def role(*actions: Any, effect: str = "Allow") -> dict[str, Any]:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": list(actions)}]}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [{"PolicyName": "app", "PolicyDocument": document}],
        },
    }


def shop_template(
    function_description: str = "v1", bucket: bool = True, policy_description: str = "deploy"
) -> str:
    """The live stack: a table, a bucket, a role that already allows s3:*, a function, a policy.
    (Each resource has Properties: moto reports a resource without any as modified every time.)"""
    resources = {
        "OrdersTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "shop-orders",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        },
        "UploadsBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "shop-uploads"}},
        "AppRole": role("s3:*"),
        "AppFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Description": function_description,
                "Role": {"Fn::GetAtt": ["AppRole", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            },
        },
        "DeployPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": policy_description,
                "Roles": [{"Ref": "AppRole"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                },
            },
        },
    }
    if not bucket:
        del resources["UploadsBucket"]
    return json.dumps({"Resources": resources})


def moto_change_set(gate: Any, **template: Any) -> Any:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=shop_template())
    cloudformation.create_change_set(
        ChangeSetType="UPDATE", TemplateBody=shop_template(**template), **NAMES
    )
    gate.clients["cloudformation"] = cloudformation
    return cloudformation


def result_log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = capsys.readouterr().out.splitlines()
    return json.loads(line)


def test_ships_with_the_standard_library_and_boto3_only() -> None:
    # Inline Code.ZipFile: nothing but what the python3.12 runtime already has can be imported.
    source = resources.files("generator.functions").joinpath("compliance_gate.py").read_text()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(str(node.module).split(".")[0])
    assert imported <= {"json", "os", "re", "typing", "boto3"}
    assert str(ast.get_docstring(tree)).startswith("CodePipeline compliance gate:")


def test_ticket_and_a_function_change_pass(gate: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cloudformation = moto_change_set(gate, function_description="v2")
    changes = cloudformation.describe_change_set(**NAMES)["Changes"]
    assert [c["ResourceChange"]["LogicalResourceId"] for c in changes] == ["AppFunction"]
    stub = pipeline(gate, [github("SHOP-42 faster checkout")])
    assert gate.handler(job_event(), None) is None
    stub.assert_no_pending_responses()
    assert result_log(capsys) == {"jobId": JOB, "passed": True, "failures": []}


def test_replacing_a_table_fails(gate: Any) -> None:
    # moto's describe_change_set has no Replacement field (it reports a TableName change as a bare
    # Modify), so CloudFormation's answer is stubbed. Two pages check that NextToken is followed.
    cloudformation = stubbed_cloudformation(
        gate,
        [
            [change("OrdersTable", "AWS::DynamoDB::Table", replacement="True")],
            [
                change("AppFunction", "AWS::Lambda::Function", replacement="True"),
                change("AccessLogs", "AWS::Logs::LogGroup", replacement="Conditional"),
                change("UploadsBucket", "AWS::S3::Bucket", replacement="False"),
                change("NewTable", "AWS::DynamoDB::Table", action="Add"),
            ],
        ],
    )
    stub = pipeline(
        gate,
        ["SHOP-7 rename the orders table"],
        failure="change set replaces stateful resource OrdersTable (AWS::DynamoDB::Table); "
        "change set replaces stateful resource AccessLogs (AWS::Logs::LogGroup)",
    )
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()
    cloudformation.assert_no_pending_responses()


def test_removing_a_bucket_fails(gate: Any) -> None:
    moto_change_set(gate, bucket=False)
    stub = pipeline(
        gate,
        [github("SHOP-8 drop uploads")],
        failure="change set removes stateful resource UploadsBucket (AWS::S3::Bucket)",
    )
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("form", [github, str], ids=["codestar-json", "codecommit-plain"])
def test_commit_without_a_ticket_fails(gate: Any, form: Any) -> None:
    stubbed_cloudformation(gate, [[]])
    stub = pipeline(
        gate,
        [form("fix typo\n\nno ticket here, only lowercase abc-1")],
        failure='commit message "fix typo" references no ticket matching [A-Z]+-[0-9]+',
    )
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("form", [github, str], ids=["codestar-json", "codecommit-plain"])
def test_ticket_in_the_commit_body_passes(gate: Any, form: Any) -> None:
    stubbed_cloudformation(gate, [[]])
    stub = pipeline(gate, [form("fix typo\n\nRefs SHOP-123")])
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_any_source_revision_may_carry_the_ticket(gate: Any) -> None:
    stubbed_cloudformation(gate, [[]])
    stub = pipeline(gate, [github("bump config"), "SHOP-9 new endpoint"])
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_a_summary_that_is_json_but_no_commit_fails(gate: Any) -> None:
    stubbed_cloudformation(gate, [[]])
    stub = pipeline(
        gate,
        [json.dumps({"ProviderType": "GitHub"}), "42"],
        failure='commit message "", "42" references no ticket matching [A-Z]+-[0-9]+',
    )
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_missing_execution_id_skips_the_lookup_and_fails(gate: Any) -> None:
    stubbed_cloudformation(gate, [[]])
    stub = pipeline(
        gate,
        None,
        failure="pipeline execution id is missing from the job, so no commit message was checked",
    )
    gate.handler(job_event(execution_id=None), None)
    stub.assert_no_pending_responses()


def test_empty_ticket_pattern_disables_the_commit_check(
    gate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKET_PATTERN", "")
    moto_change_set(gate, function_description="v2")
    codepipeline = boto3.client("codepipeline")
    with Stubber(codepipeline) as stub:  # no get_pipeline_execution is queued
        details = {
            "summary": "compliance checks passed: stateful resources, IAM wildcard actions",
            "percentComplete": 100,
        }
        stub.add_response("put_job_success_result", {}, {"jobId": JOB, "executionDetails": details})
        gate.clients["codepipeline"] = codepipeline
        gate.handler(job_event(execution_id=None), None)
        stub.assert_no_pending_responses()


WILDCARD_TEMPLATE = {
    "Resources": {
        # Changed: one wildcard service action, one full wildcard among allowed ones.
        "AppRole": role("s3:GetObject", "s3:*"),
        "DeployPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "deploy",
                "Roles": [{"Ref": "AppRole"}],
                "PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "*"}},
            },
        },
        # Changed, but the wildcards are denied, conditional or partial: nothing to flag.
        "GuardPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": json.dumps(
                    {
                        "Statement": [
                            {"Effect": "Deny", "Action": "*"},
                            {"Effect": "Allow", "Action": ["s3:Get*", {"Fn::Sub": "${A}:*"}]},
                        ]
                    }
                )
            },
        },
        # Unchanged by this change set: its "*" is already live and not this deploy's doing.
        "BuildRole": role("*"),
        "AppFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Role": "arn"}},
    },
}
WILDCARD_CHANGES = [
    change("AppRole", "AWS::IAM::Role"),
    change("DeployPolicy", "AWS::IAM::Policy", action="Add"),
    change("GuardPolicy", "AWS::IAM::ManagedPolicy"),
    change("AppFunction", "AWS::Lambda::Function"),
]
WILDCARD_FAILURE = (
    'change set adds IAM statement with action "s3:*" in AppRole; '
    'change set adds IAM statement with action "*" in DeployPolicy'
)


def test_added_wildcard_actions_fail(gate: Any) -> None:
    # moto's get_template ignores ChangeSetName and returns the live template, so the change
    # set's processed template is stubbed.
    cloudformation = stubbed_cloudformation(gate, [WILDCARD_CHANGES], WILDCARD_TEMPLATE)
    stub = pipeline(gate, ["SHOP-5 widen access"], failure=WILDCARD_FAILURE)
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()
    cloudformation.assert_no_pending_responses()


def test_original_template_is_read_when_processed_is_unavailable(gate: Any) -> None:
    stubbed_cloudformation(gate, [WILDCARD_CHANGES], "ValidationError", WILDCARD_TEMPLATE)
    stub = pipeline(gate, ["SHOP-5 widen access"], failure=WILDCARD_FAILURE)
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_wildcards_allowed_when_not_forbidden(gate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORBID_WILDCARD_ACTIONS", "false")
    cloudformation = stubbed_cloudformation(gate, [WILDCARD_CHANGES])  # no get_template queued
    codepipeline = boto3.client("codepipeline")
    with Stubber(codepipeline) as stub:
        stub.add_response(
            "get_pipeline_execution",
            {"pipelineExecution": {"artifactRevisions": [{"revisionSummary": "SHOP-5 widen"}]}},
            {"pipelineName": "shop", "pipelineExecutionId": "exec-1"},
        )
        details = {
            "summary": "compliance checks passed: ticket, stateful resources",
            "percentComplete": 100,
        }
        stub.add_response("put_job_success_result", {}, {"jobId": JOB, "executionDetails": details})
        gate.clients["codepipeline"] = codepipeline
        gate.handler(job_event(), None)
        stub.assert_no_pending_responses()
    cloudformation.assert_no_pending_responses()


def test_wildcard_in_an_unchanged_resource_is_not_flagged(gate: Any) -> None:
    # Real moto round trip: AppRole already allows s3:* and stays as it is; only the managed
    # policy changes, so the template is read (moto returns the live one, identical for AppRole).
    cloudformation = moto_change_set(gate, policy_description="deploy v2")
    changes = cloudformation.describe_change_set(**NAMES)["Changes"]
    assert [c["ResourceChange"]["LogicalResourceId"] for c in changes] == ["DeployPolicy"]
    stub = pipeline(gate, [github("SHOP-6 reword policy")])
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_removed_iam_resources_need_no_template(gate: Any) -> None:
    # Deleting a role grants nothing; no get_template is queued, so a call would fail the job.
    changes = [change("OldRole", "AWS::IAM::Role", action="Remove")]
    cloudformation = stubbed_cloudformation(gate, [changes])
    stub = pipeline(gate, [github("SHOP-4 drop the old role")])
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()
    cloudformation.assert_no_pending_responses()


def test_yaml_template_fails_closed(gate: Any) -> None:
    yaml = "Resources:\n  AppRole:\n    Type: AWS::IAM::Role\n"
    stubbed_cloudformation(gate, [[change("AppRole", "AWS::IAM::Role", action="Add")]], yaml)
    stub = pipeline(
        gate,
        ["SHOP-1 new role"],
        failure="change set template is not JSON, so its IAM actions could not be checked",
    )
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_every_failure_lands_in_one_reason(gate: Any, capsys: pytest.CaptureFixture[str]) -> None:
    changes = [change("OrdersTable", "AWS::DynamoDB::Table", replacement="True"), *WILDCARD_CHANGES]
    stubbed_cloudformation(gate, [changes], WILDCARD_TEMPLATE)
    failures = [
        'commit message "wip" references no ticket matching [A-Z]+-[0-9]+',
        "change set replaces stateful resource OrdersTable (AWS::DynamoDB::Table)",
        *WILDCARD_FAILURE.split("; "),
    ]
    stub = pipeline(gate, [github("wip")], failure="; ".join(failures))
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()
    assert result_log(capsys) == {"jobId": JOB, "passed": False, "failures": failures}


def test_long_reasons_are_cut_to_codepipeline_limit(gate: Any) -> None:
    many = [change(f"Table{i:03}", "AWS::DynamoDB::Table", replacement="True") for i in range(120)]
    stubbed_cloudformation(gate, [many])
    reason = "; ".join(
        f"change set replaces stateful resource Table{i:03} (AWS::DynamoDB::Table)"
        for i in range(120)
    )
    assert len(reason) > 5000
    stub = pipeline(gate, ["SHOP-2 re-key"], failure=reason[:5000])
    gate.handler(job_event(), None)
    stub.assert_no_pending_responses()


def test_an_api_error_is_reported_not_raised(gate: Any, capsys: pytest.CaptureFixture[str]) -> None:
    gate.clients["cloudformation"] = boto3.client("cloudformation")  # moto: no such change set
    # moto words the error with the change set's name where AWS would say "ChangeSet [...]".
    message = (
        "change set check could not run: ClientError: An error occurred (ValidationError) when "
        f"calling the DescribeChangeSet operation: Stack with id {CHANGE_SET} does not exist"
    )
    stub = pipeline(gate, [github("SHOP-3 deploy")], failure=message)
    assert gate.handler(job_event(), None) is None
    stub.assert_no_pending_responses()
    assert result_log(capsys)["failures"] == [message]


def test_bad_user_parameters_are_reported(gate: Any) -> None:
    event = job_event()
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = (
        '{"stackName": "shop-prod"}'
    )
    stub = pipeline(
        gate,
        [github("SHOP-3 deploy")],
        failure="change set check could not run: KeyError: 'changeSetName'",
    )
    gate.handler(event, None)
    stub.assert_no_pending_responses()
