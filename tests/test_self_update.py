"""The self-updating pipeline: the publish script's hash-and-skip logic run offline against moto
(S3, and a CloudFormation stack for DescribeStacks and the change set), and the UpdatePipeline
stage's project and roles as emitted, down to the lint gate."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from pydantic import ValidationError

from generator.assembly.stack import ChildStack, Exported
from generator.components import self_update as su
from generator.components.artifact_store import artifact_store
from generator.components.iam import MAX_MANAGED_POLICIES, RoleBuilder, policy_chunks
from generator.errors import AssemblyError
from generator.naming import Names
from generator.scripts import publish_templates as pt
from generator.spec.loader import load_spec
from generator.spec.model import PipelineSpec
from tests.component_lint import lint_stacks, lint_template, role_arn, spec_data
from tests.offline_aws import offline_aws

PIPELINE = "demo"
NAMES = Names(PIPELINE)
STACK = "demo-pipeline"
BUCKET = "acme-templates"
REGION = "us-east-1"
REPO = Path(__file__).resolve().parent.parent

# A root as pipegen renders it, small enough for moto to create and update.
ROOT: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {
        "TemplateBucketName": {"Type": "String"},
        "TemplateKeyPrefix": {"Type": "String", "Default": ""},
        "NotificationEmail": {"Type": "String"},
        "PipelineStackName": {"Type": "String", "Default": STACK},
    },
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "demo"}},
    },
    "Outputs": {"PipelineName": {"Value": PIPELINE}},
}


# -- the script, offline -----------------------------------------------------------------------


def write_tree(folder: Path, root: dict[str, Any] | None = None, child: str = "a: 1\n") -> Path:
    """output/<pipeline>/ as committed: root, stacks/, and files beside them."""
    (folder / "stacks").mkdir(parents=True)
    (folder / "root.json").write_text(json.dumps(root or ROOT, indent=1))
    (folder / "stacks" / "iam.yaml").write_text(child)
    (folder / "stacks" / "pipeline.yaml").write_text("b: 2\n")
    (folder / "README.md").write_text("# demo\n")
    (folder / "scripts").mkdir()
    (folder / "scripts" / "publish_templates.py").write_text("# the script\n")
    return folder


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with offline_aws(monkeypatch, REGION):
        s3 = boto3.client("s3", region_name=REGION)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield s3, cloudformation


def launch(cloudformation: Any, prefix: str = "pipegen/") -> None:
    """The first launch, by hand, as the README says."""
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(ROOT),
        Parameters=[
            {"ParameterKey": "TemplateBucketName", "ParameterValue": BUCKET},
            {"ParameterKey": "TemplateKeyPrefix", "ParameterValue": prefix},
            {"ParameterKey": "NotificationEmail", "ParameterValue": "team@example.com"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )


def publish(clients: tuple[Any, Any], source: Path, **overrides: Any) -> pt.Result:
    s3, cloudformation = clients
    arguments: dict[str, Any] = {
        "source": source,
        "bucket": BUCKET,
        "stack_name": STACK,
        "cloudformation": cloudformation,
        "s3": s3,
        "bucket_region": REGION,
        "pipeline": PIPELINE,
        "log": lambda _: None,
        **overrides,
    }
    return pt.publish(**arguments)


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def parameters(cloudformation: Any) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


class TestTreeHash:
    def test_identical_trees_hash_the_same(self, tmp_path: Path):
        first = write_tree(tmp_path / "one" / "demo")
        second = tmp_path / "two" / "demo"
        second.mkdir(parents=True)
        # Written in another order, elsewhere, with other timestamps.
        (second / "stacks").mkdir()
        (second / "stacks" / "pipeline.yaml").write_text("b: 2\n")
        (second / "stacks" / "iam.yaml").write_text("a: 1\n")
        (second / "root.json").write_text((first / "root.json").read_text())
        assert pt.tree_hash(pt.template_files(first)) == pt.tree_hash(pt.template_files(second))

    @pytest.mark.parametrize(
        "change",
        [
            lambda d: (d / "stacks" / "iam.yaml").write_text("a: 2\n"),
            lambda d: (d / "stacks" / "iam.yaml").rename(d / "stacks" / "iam2.yaml"),
            lambda d: (d / "stacks" / "extra.yaml").write_text(""),
            lambda d: (d / "root.json").write_text("{}"),
        ],
        ids=["bytes", "rename", "new-file", "root"],
    )
    def test_any_change_to_the_set_changes_the_hash(self, tmp_path: Path, change: Any):
        before = pt.tree_hash(pt.template_files(write_tree(tmp_path / "demo")))
        change(tmp_path / "demo")
        assert pt.tree_hash(pt.template_files(tmp_path / "demo")) != before

    def test_files_beside_the_set_are_not_part_of_it(self, tmp_path: Path):
        folder = write_tree(tmp_path / "demo")
        before = pt.tree_hash(pt.template_files(folder))
        (folder / "README.md").write_text("# changed\n")
        (folder / "scripts" / "publish_templates.py").write_text("# changed\n")
        (folder / "app").mkdir()
        (folder / "app" / "buildspec.yml").write_text("version: 0.2\n")
        assert pt.tree_hash(pt.template_files(folder)) == before
        assert sorted(pt.template_files(folder)) == [
            "root.json",
            "stacks/iam.yaml",
            "stacks/pipeline.yaml",
        ]

    def test_a_path_and_its_bytes_cannot_be_confused(self):
        assert pt.tree_hash({"ab": b"c"}) != pt.tree_hash({"a": b"bc"})

    def test_missing_or_ambiguous_sets_are_refused(self, tmp_path: Path):
        with pytest.raises(pt.PublishError, match="self_update_path"):
            pt.template_files(tmp_path / "absent")
        folder = write_tree(tmp_path / "demo")
        (folder / "root.yaml").write_text("{}")
        with pytest.raises(pt.PublishError, match=r"root\.yaml and root\.json"):
            pt.template_files(folder)


class TestPrefixes:
    DIGEST = "ab" * 32

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("", ("", None)),
            ("pipegen/", ("pipegen/", None)),
            (f"pipegen/demo/{'ab' * 32}/", ("pipegen/", "ab" * 32)),
            (f"demo/{'ab' * 32}/", ("", "ab" * 32)),
            (f"a/b/demo/{'ab' * 32}/", ("a/b/", "ab" * 32)),
            # Another pipeline's set, or a name that only ends in the pipeline's: no hash.
            (f"pipegen/other/{'ab' * 32}/", (f"pipegen/other/{'ab' * 32}/", None)),
            (f"pipegen/xdemo/{'ab' * 32}/", (f"pipegen/xdemo/{'ab' * 32}/", None)),
            ("pipegen/demo/abc/", ("pipegen/demo/abc/", None)),
        ],
    )
    def test_split(self, prefix: str, expected: tuple[str, str | None]):
        assert pt.split_prefix(prefix, PIPELINE) == expected

    def test_new_prefix_keeps_the_base_and_fits_the_parameter(self):
        assert pt.versioned_prefix("pipegen/", PIPELINE, self.DIGEST) == (
            f"pipegen/demo/{self.DIGEST}/"
        )
        with pytest.raises(pt.PublishError, match="end in /"):
            pt.versioned_prefix("pipegen", PIPELINE, self.DIGEST)
        with pytest.raises(pt.PublishError, match="200"):
            pt.versioned_prefix("x/" * 80, PIPELINE, self.DIGEST)


class TestPublish:
    def test_identical_trees_skip_the_second_time(self, aws: Any, tmp_path: Path):
        s3, cloudformation = aws
        launch(cloudformation)
        first = publish(aws, write_tree(tmp_path / "one" / "demo"))
        assert first.changed
        uploaded = keys(s3)
        change_sets = cloudformation.list_change_sets(StackName=STACK)["Summaries"]
        # Another checkout of the same commit: same hash, so no upload and no change set.
        second = publish(aws, write_tree(tmp_path / "two" / "demo"))
        assert not second.changed
        assert second.digest == first.digest
        assert second.prefix == first.prefix
        assert second.change_set == ""
        assert keys(s3) == uploaded
        assert cloudformation.list_change_sets(StackName=STACK)["Summaries"] == change_sets
        assert second.variables() == {
            "TEMPLATES_CHANGED": "false",
            "TEMPLATE_PREFIX": first.prefix,
            "TEMPLATE_HASH": first.digest,
            "CHANGE_SET": "",
        }

    def test_different_trees_upload_and_update(self, aws: Any, tmp_path: Path):
        s3, cloudformation = aws
        launch(cloudformation)
        first = publish(aws, write_tree(tmp_path / "one" / "demo"))
        second = publish(aws, write_tree(tmp_path / "two" / "demo", child="a: 2\n"))
        assert second.changed
        assert second.digest != first.digest
        assert second.prefix == f"pipegen/demo/{second.digest}/"
        assert second.change_set.startswith("arn:aws:cloudformation:")
        assert {f"{second.prefix}{name}" for name in ("root.json", "stacks/iam.yaml")} <= set(
            keys(s3)
        )
        assert s3.get_object(Bucket=BUCKET, Key=f"{second.prefix}stacks/iam.yaml")[
            "Body"
        ].read() == (b"a: 2\n")
        # Files beside the set are not published.
        assert not [k for k in keys(s3) if k.endswith(("README.md", ".py"))]
        # The new prefix, every other parameter as it was (UsePreviousValue), a new one
        # (PipelineStackName) at its default.
        assert parameters(cloudformation) == {
            "TemplateBucketName": BUCKET,
            "TemplateKeyPrefix": second.prefix,
            "NotificationEmail": "team@example.com",
            "PipelineStackName": STACK,
        }
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        assert stack["StackStatus"] == "UPDATE_COMPLETE"

    def test_the_first_run_publishes_under_the_launch_prefix(self, aws: Any, tmp_path: Path):
        _, cloudformation = aws
        launch(cloudformation, prefix="team/")
        result = publish(aws, write_tree(tmp_path / "demo"))
        assert result.changed
        assert result.prefix == f"team/demo/{result.digest}/"
        assert parameters(cloudformation)["TemplateKeyPrefix"] == result.prefix
        # The next run reads the hash back from the stack's prefix.
        assert not publish(aws, write_tree(tmp_path / "again" / "demo")).changed

    def test_upload_only(self, aws: Any, tmp_path: Path):
        s3, cloudformation = aws
        launch(cloudformation)
        result = publish(aws, write_tree(tmp_path / "demo"), update=False)
        assert result.changed
        assert keys(s3)
        assert parameters(cloudformation)["TemplateKeyPrefix"] == "pipegen/"
        assert cloudformation.list_change_sets(StackName=STACK)["Summaries"] == []

    def test_refuses_another_pipelines_stack(self, aws: Any, tmp_path: Path):
        _, cloudformation = aws
        launch(cloudformation)
        with pytest.raises(pt.PublishError, match="PipelineStackName"):
            publish(aws, write_tree(tmp_path / "demo"), pipeline="other")

    def test_refuses_a_missing_stack(self, aws: Any, tmp_path: Path):
        with pytest.raises(pt.PublishError, match="cannot read stack"):
            publish(aws, write_tree(tmp_path / "demo"))

    def test_change_set_parameters(self):
        stack = pt.StackState(STACK, "UPDATE_COMPLETE", {"A": "1", "TemplateKeyPrefix": "x/"}, {})
        assert pt.change_set_parameters(["A", "TemplateKeyPrefix", "New"], stack, "p/") == [
            {"ParameterKey": "A", "UsePreviousValue": True},
            {"ParameterKey": "TemplateKeyPrefix", "ParameterValue": "p/"},
        ]

    def test_main_exports_the_variables(
        self, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        _, cloudformation = aws
        launch(cloudformation)
        folder = write_tree(tmp_path / "demo")
        env_file = tmp_path / "self-update.env"
        argv = [
            "--source",
            str(folder),
            "--bucket",
            BUCKET,
            "--stack-name",
            STACK,
            "--region",
            REGION,
            "--env-file",
            str(env_file),
        ]
        assert pt.main(argv) == 0
        lines = env_file.read_text().splitlines()
        assert lines[0] == "export TEMPLATES_CHANGED=true"
        assert lines[1].startswith("export TEMPLATE_PREFIX=pipegen/demo/")
        assert pt.main(argv) == 0
        assert env_file.read_text().splitlines()[0] == "export TEMPLATES_CHANGED=false"
        assert "TEMPLATES_CHANGED=false" in capsys.readouterr().out
        assert pt.main([*argv[:-2], "--pipeline", "other"]) == 1
        assert "not the stack of pipeline other" in capsys.readouterr().err

    def test_main_reports_an_aws_error_in_one_line(
        self, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        _, cloudformation = aws
        launch(cloudformation)
        env_file = tmp_path / "self-update.env"
        argv = [
            "--source", str(write_tree(tmp_path / "demo")), "--bucket", "no-such-bucket",
            "--stack-name", STACK, "--region", REGION, "--env-file", str(env_file),
        ]  # fmt: skip
        assert pt.main(argv) == 1  # the upload's NoSuchBucket, not a traceback
        err = capsys.readouterr().err
        assert err.startswith("publish_templates: An error occurred (NoSuchBucket)")
        assert err.count("\n") == 1
        assert not env_file.exists()  # as for any other failure

    def test_main_reports_a_network_error_in_one_line(
        self, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
    ):
        def unreachable(**_: Any) -> pt.Result:
            raise EndpointConnectionError(endpoint_url="https://cloudformation.example")

        monkeypatch.setattr(pt, "publish", unreachable)
        argv = ["--source", str(tmp_path), "--bucket", BUCKET, "--stack-name", STACK,
                "--region", REGION]  # fmt: skip
        assert pt.main(argv) == 1
        assert capsys.readouterr().err == (
            "publish_templates: Could not connect to the endpoint URL: "
            '"https://cloudformation.example"\n'
        )


# -- the change set, call by call (a Stubber: moto answers every poll at once) -----------------

CHANGE_SET_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/new/1"
DIGEST = "ab" * 32
URL = "https://templates.example/root.json"


def stubbed_update(
    stub: Stubber,
    *,
    pages: list[list[dict[str, str]]] | None = None,
    executions: tuple[str, ...] = ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE"),
    stack_status: str = "UPDATE_COMPLETE",
) -> None:
    """Queue the calls update_stack makes, in order, with their exact parameters."""
    name = pt.change_set_name(DIGEST)
    stub.add_response(
        "get_template_summary",
        {"Parameters": [{"ParameterKey": "TemplateKeyPrefix"}]},
        {"TemplateURL": URL},
    )
    pages = pages or [[]]
    for index, summaries in enumerate(pages):
        response: dict[str, Any] = {"Summaries": summaries}
        request: dict[str, Any] = {"StackName": STACK}
        if index + 1 < len(pages):
            response["NextToken"] = f"page-{index + 1}"
        if index:
            request["NextToken"] = f"page-{index}"
        stub.add_response("list_change_sets", response, request)
        stale = [s["ChangeSetId"] for s in summaries if s["ChangeSetName"] == name]
        if stale:
            stub.add_response(
                "delete_change_set", {}, {"StackName": STACK, "ChangeSetName": stale[0]}
            )
            break
    stub.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ARN},
        {
            "StackName": STACK,
            "ChangeSetName": name,
            "ChangeSetType": "UPDATE",
            "TemplateURL": URL,
            "Parameters": [{"ParameterKey": "TemplateKeyPrefix", "ParameterValue": "p/"}],
            "Capabilities": list(pt.CAPABILITIES),
            "Description": "pipegen self-update to p/",
        },
    )
    by_arn = {"ChangeSetName": CHANGE_SET_ARN}
    stub.add_response(
        "describe_change_set",
        {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"},
        by_arn,
    )
    stub.add_response("execute_change_set", {}, by_arn)
    for execution in executions:
        stub.add_response(
            "describe_change_set",
            {"Status": "CREATE_COMPLETE", "ExecutionStatus": execution},
            by_arn,
        )
    stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": stack_status,
                }
            ]
        },
        {"StackName": STACK},
    )


@pytest.fixture
def stubbed(aws: Any) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def run_update(client: Any) -> str | None:
    stack = pt.StackState(STACK, "UPDATE_COMPLETE", {"TemplateKeyPrefix": "x/"}, {})
    return pt.update_stack(client, stack, URL, "p/", DIGEST, None, timeout=60, delay=0)


class TestUpdateStack:
    def test_waits_for_the_execution_before_reading_the_stack(self, stubbed: tuple[Any, Stubber]):
        client, stub = stubbed
        stubbed_update(stub)
        assert run_update(client) == CHANGE_SET_ARN

    def test_a_failed_execution_is_not_success_even_with_a_stale_stack_status(
        self, stubbed: tuple[Any, Stubber]
    ):
        client, stub = stubbed
        # The stack still shows the previous update's UPDATE_COMPLETE.
        stubbed_update(stub, executions=("EXECUTE_FAILED",), stack_status="UPDATE_COMPLETE")
        with pytest.raises(pt.PublishError, match="change set EXECUTE_FAILED"):
            run_update(client)

    def test_a_leftover_change_set_on_a_later_page_is_deleted(self, stubbed: tuple[Any, Stubber]):
        client, stub = stubbed
        name = pt.change_set_name(DIGEST)
        other = {"ChangeSetName": "someone-else", "ChangeSetId": "arn:other"}
        leftover = {"ChangeSetName": name, "ChangeSetId": "arn:leftover"}
        stubbed_update(stub, pages=[[other], [other], [leftover]])
        assert run_update(client) == CHANGE_SET_ARN


def test_script_needs_only_the_standard_library_and_boto3():
    tree = ast.parse(Path(pt.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    import sys

    # botocore: boto3's own dependency, for its exception classes
    assert imported - set(sys.stdlib_module_names) == {"boto3", "botocore"}


def test_script_runs_as_a_file(tmp_path: Path):
    """`python publish_templates.py --help` from a copy outside the package."""
    import subprocess
    import sys

    copy = tmp_path / "publish_templates.py"
    shutil.copy(pt.__file__, copy)
    run = subprocess.run(
        [sys.executable, str(copy), "--help"], capture_output=True, text=True, check=True
    )
    assert "--stack-name" in run.stdout


# -- the stage, the project and the roles ------------------------------------------------------


class Built:
    def __init__(self) -> None:
        self.store_stack = ChildStack("artifact-store", "demo: store")
        self.iam = ChildStack("iam", "demo: roles")
        self.build = ChildStack("build-projects", "demo: projects")
        self.store = artifact_store(
            self.store_stack, NAMES, retention_days=90, log_retention_days=365
        )
        self.roles: list[RoleBuilder] = []
        self.action_role = Exported("iam", "BuildActionRoleArn", None, "CodeBuild actions")
        self.update = su.self_update_stage(
            NAMES,
            path="output/demo",
            build_stack=self.build,
            iam_stack=self.iam,
            store=self.store,
            action_role=self.action_role,
            add_role=self.add_role,
            log_retention_days=365,
        )
        for builder in self.roles:
            builder.build(self.iam)
        self.policies = su.scope_execution_role(
            self.update,
            NAMES,
            self.iam,
            su.stack_templates([self.store_stack, self.iam, self.build]),
        )

    def add_role(self, builder: RoleBuilder) -> Exported:
        self.roles.append(builder)
        return role_arn(self.iam, builder)

    def resources(self, stack: ChildStack) -> dict[str, Any]:
        return dict(stack.template.to_dict()["Resources"])


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


def statements(resources: dict[str, Any], *logical_ids: str) -> list[dict[str, Any]]:
    found = []
    for logical_id in logical_ids:
        document = resources[logical_id]["Properties"]["PolicyDocument"]
        found += document["Statement"]
    return found


def sub(value: Any) -> str:
    """The text of a Fn::Sub (its template string), or the value itself."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        return str(inner[0] if isinstance(inner, list) else inner)
    return json.dumps(value, sort_keys=True)


class TestStage:
    def test_one_codebuild_action_after_source(self, built: Built):
        stage = built.update.stage
        assert stage.name == "UpdatePipeline"
        (step,) = stage.steps
        assert (step.category, step.provider, step.name) == (
            "Build",
            "CodeBuild",
            "PublishTemplates",
        )
        assert step.inputs == ("Source",)
        assert step.namespace == "UpdateVariables"
        assert step.role == built.action_role
        assert step.configuration == {"ProjectName": built.update.project}
        assert sub(built.update.project_arn.to_dict()).endswith(":project/demo-self-update")

    def test_buildspec_runs_the_script_and_exports_its_variables(self, built: Built):
        project = built.resources(built.build)["SelfUpdateProject"]["Properties"]
        buildspec = yaml.safe_load(project["Source"]["BuildSpec"])
        assert buildspec["version"] == "0.2"
        assert buildspec["env"]["exported-variables"] == [
            "TEMPLATES_CHANGED",
            "TEMPLATE_PREFIX",
            "TEMPLATE_HASH",
            "CHANGE_SET",
        ]
        command, source = buildspec["phases"]["build"]["commands"]
        assert command.startswith('python3 "$SELF_UPDATE_PATH/scripts/publish_templates.py"')
        for flag in ("--source", "--bucket", "--stack-name", "--region", "--role-arn"):
            assert flag in command
        assert "--pipeline demo" in command
        assert source == ". ./self-update.env"
        assert "${" not in project["Source"]["BuildSpec"]  # no Fn::Sub needed, none implied

    def test_buildspec_command_is_what_the_script_accepts(self):
        import shlex

        (command, _) = yaml.safe_load(su.buildspec(NAMES))["phases"]["build"]["commands"]
        words = shlex.split(command.replace("$", "X_"))  # variables as stand-in values
        assert words[:2] == ["python3", "X_SELF_UPDATE_PATH/scripts/publish_templates.py"]
        parsed = pt.arguments(words[2:])
        assert parsed.pipeline == PIPELINE
        assert parsed.role_arn == "X_CLOUDFORMATION_ROLE_ARN"
        assert parsed.bucket_region == "X_TEMPLATE_BUCKET_REGION"
        assert parsed.prefix is None  # the base comes from the stack's own prefix
        assert not parsed.no_update

    def test_project_is_hardened(self, built: Built):
        resources = built.resources(built.build)
        project = resources["SelfUpdateProject"]["Properties"]
        assert project["Environment"]["PrivilegedMode"] is False
        assert project["EncryptionKey"] == {"Ref": "ArtifactKeyArn"}
        assert project["LogsConfig"]["CloudWatchLogs"] == {
            "Status": "ENABLED",
            "GroupName": "/aws/codebuild/demo-self-update",
        }
        group = resources["SelfUpdateLogGroup"]["Properties"]
        assert group["KmsKeyId"] == {"Ref": "ArtifactKeyArn"}
        assert group["RetentionInDays"] == 365
        variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
        assert variables == {
            "CLOUDFORMATION_ROLE_ARN": {"Ref": "SelfUpdateExecutionRoleArn"},
            "PIPELINE_STACK_NAME": {"Ref": "PipelineStackName"},
            "SELF_UPDATE_PATH": "output/demo",
            "TEMPLATE_BUCKET": {"Ref": "TemplateBucketName"},
            "TEMPLATE_BUCKET_REGION": {"Ref": "TemplateBucketRegion"},
        }

    def test_the_script_ships_beside_the_templates(self, built: Built):
        assert built.update.documents == {
            "scripts/publish_templates.py": Path(pt.__file__).read_text()
        }

    def test_stack_name_parameter(self, built: Built):
        parameter = built.update.stack_name
        assert parameter.name == "PipelineStackName"
        assert parameter.default == "demo-pipeline"
        assert built.iam.inputs["PipelineStackName"] == parameter
        assert built.build.inputs["PipelineStackName"] == parameter


class TestProjectRole:
    def test_updates_only_this_pipelines_stack(self, built: Built):
        found = statements(built.resources(built.iam), "SelfUpdateProjectRolePolicy")
        by_sid = {s["Sid"]: s for s in found}
        stack_arn = (
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${Stack}/*"
        )
        create = by_sid["CreateChangeSetsOfThisPipelinesStack"]
        assert create["Action"] == ["cloudformation:CreateChangeSet"]
        assert [sub(r) for r in create["Resource"]] == [stack_arn]
        assert create["Resource"][0]["Fn::Sub"][1] == {"Stack": {"Ref": "PipelineStackName"}}
        condition = create["Condition"]
        assert condition["Null"] == {"cloudformation:ImportResourceTypes": "true"}
        assert condition["ArnEquals"] == {
            "cloudformation:RoleArn": {"Fn::GetAtt": ["SelfUpdateExecutionRole", "Arn"]}
        }
        assert sub(condition["StringLike"]["cloudformation:TemplateUrl"]).endswith("/*demo/*")
        follow = by_sid["FollowChangeSetsOfThisPipelinesStack"]
        assert sorted(follow["Action"]) == [
            "cloudformation:DeleteChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:DescribeStacks",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:ListChangeSets",
        ]
        assert [sub(r) for r in follow["Resource"]] == [stack_arn]

    def test_publishes_only_content_hashed_prefixes(self, built: Built):
        found = statements(built.resources(built.iam), "SelfUpdateProjectRolePolicy")
        (publish_grant,) = [s for s in found if s["Sid"] == "PublishTemplates"]
        assert publish_grant["Action"] == ["s3:PutObject", "s3:GetObject"]
        segment = "demo/" + "?" * 64 + "/*"
        assert [sub(r) for r in publish_grant["Resource"]] == [
            f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/{segment}",
            f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/*/{segment}",
        ]

    def test_passes_only_the_cloudformation_role_to_cloudformation(self, built: Built):
        found = statements(built.resources(built.iam), "SelfUpdateProjectRolePolicy")
        passing = [s for s in found if "iam:PassRole" in s["Action"]]
        assert passing == [
            {
                "Sid": "PassTheCloudFormationRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [{"Fn::GetAtt": ["SelfUpdateExecutionRole", "Arn"]}],
                "Condition": {
                    "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
                },
            }
        ]

    def test_is_not_admin(self, built: Built):
        resources = built.resources(built.iam)
        found = statements(
            resources, "SelfUpdateProjectRolePolicy", "SelfUpdateProjectRoleWildcardOnlyPolicy"
        )
        actions = {a for s in found for a in s["Action"]}
        assert all("*" not in a for a in actions)
        assert not {a for a in actions if a.startswith(("iam:", "cloudformation:"))} - {
            "iam:PassRole",
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:ListChangeSets",
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplateSummary",
        }
        wildcard = statements(resources, "SelfUpdateProjectRoleWildcardOnlyPolicy")
        assert [s["Action"] for s in wildcard] == [["cloudformation:GetTemplateSummary"]]


class TestExecutionRole:
    def test_cloudformation_assumes_it_for_this_account(self, built: Built):
        role = built.resources(built.iam)["SelfUpdateExecutionRole"]["Properties"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }
        assert role["RoleName"] == "demo-self-update"
        assert role["Path"] == "/pipegen-self-update/demo/"
        assert "Policies" not in role

    def all_statements(self, built: Built) -> list[dict[str, Any]]:
        return statements(built.resources(built.iam), *built.policies)

    def test_policies_are_outside_its_own_reach(self, built: Built):
        resources = built.resources(built.iam)
        for logical_id in built.policies:
            policy = resources[logical_id]["Properties"]
            assert policy["Path"] == "/pipegen-self-update/demo/"
            assert policy["Roles"] == [{"Ref": "SelfUpdateExecutionRole"}]
        for statement in self.all_statements(built):
            for resource in statement["Resource"]:
                text = sub(resource)
                if ":iam::" in text:
                    # IAM only under the pipeline's path; itself only to pass to nested stacks.
                    assert (
                        ":role/pipegen/demo/" in text
                        or ":policy/pipegen/demo/" in text
                        or (
                            statement["Sid"] == "PassItselfToNestedStacks"
                            and text.endswith(":role/pipegen-self-update/demo/demo-self-update")
                        )
                    ), statement

    def test_scope_follows_the_stacks_resource_types(self, built: Built):
        found = self.all_statements(built)
        services = {a.split(":")[0] for s in found for a in s["Action"]}
        # The stacks given hold a key, buckets, roles, projects and log groups; nothing else.
        assert services == {"cloudformation", "codebuild", "iam", "kms", "logs", "s3"}
        text = json.dumps(found)
        assert "SC-" not in text and "sc-" not in text  # Service Catalog's names retargeted
        stacks = [s for s in found if "cloudformation:UpdateStack" in s["Action"]]
        assert [sub(r) for s in stacks for r in s["Resource"]] == [
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:"
            "stack/${PipelineStackName}-*/*"
        ]
        (buckets,) = [s for s in found if "s3:CreateBucket" in s["Action"]]
        assert [sub(r) for r in buckets["Resource"]] == [
            "arn:${AWS::Partition}:s3:::${PipelineStackName}-*"
        ]
        assert "s3:PutObject" not in text  # reads templates; writes no objects

    def test_reads_the_published_templates(self, built: Built):
        (read,) = [s for s in self.all_statements(built) if s["Sid"] == "ReadPublishedTemplates"]
        assert read["Action"] == ["s3:GetObject"]
        assert all("${TemplateBucketName}" in sub(r) for r in read["Resource"])

    def test_wildcard_only_actions_stay_in_their_own_policy(self, built: Built):
        resources = built.resources(built.iam)
        wildcard = statements(resources, "SelfUpdateExecutionRoleWildcardOnlyPolicy")
        assert all(s["Resource"] == ["*"] for s in wildcard)
        actions = {a for s in wildcard for a in s["Action"]}
        assert "cloudformation:ValidateTemplate" not in actions
        assert "kms:CreateKey" in actions
        scoped = [
            s for lid in built.policies if "Wildcard" not in lid for s in statements(resources, lid)
        ]
        assert all("*" not in s["Resource"] for s in scoped)

    def test_scoped_once_and_only_after_the_roles(self, built: Built):
        with pytest.raises(AssemblyError, match="already"):
            su.scope_execution_role(built.update, NAMES, built.iam, {})
        with pytest.raises(AssemblyError, match="after the roles are built"):
            su.execution_statements(NAMES, {"stacks/x.yaml": {"Resources": {}}})

    def test_unknown_resource_types_are_refused(self):
        templates = {
            "stacks/iam.yaml": {"Resources": {"R": {"Type": "AWS::IAM::Role"}}},
            "stacks/x.yaml": {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance"}}},
        }
        with pytest.raises(AssemblyError, match="AWS::RDS::DBInstance"):
            su.execution_statements(NAMES, templates)


@pytest.mark.parametrize("spec_file", sorted((REPO / "pipelines").glob("*.yaml")), ids=str)
def test_every_blueprints_stacks_are_covered(spec_file: Path):
    """The role can be derived for every example pipeline, and fits IAM's quota."""
    loaded = load_spec(spec_file)
    template_set = loaded.blueprint.build(loaded.spec, "yaml")
    templates = {f"stacks/{c.file_name}": c.template.to_dict() for c in template_set.children}
    templates["root.yaml"] = template_set.root.to_dict()
    scoped, _ = su.execution_statements(Names(template_set.pipeline), templates)
    assert len(policy_chunks(scoped, "self-update role")) + 1 <= MAX_MANAGED_POLICIES


def test_stacks_pass_the_lint_gate_with_no_finding(built: Built, tmp_path: Path):
    """Stock rules (errors, warnings, informational) and the guardrails."""
    assert lint_stacks(tmp_path, built.iam) == []
    # The build stack takes the artifact bucket name it does not use for this project alone
    # (the composer's other projects use it): drop that parameter for the lint.
    build = built.build.template.to_dict()
    assert set(build["Parameters"]) >= {"ArtifactKeyArn", "PipelineStackName"}
    findings = lint_template("build", build, tmp_path, (REGION,))
    assert [f for f in findings if "ArtifactBucketName not used" not in f] == []


# -- the spec ----------------------------------------------------------------------------------


def spec(**fields: Any) -> PipelineSpec[Any]:
    return PipelineSpec[Any].model_validate({**spec_data("demo", "dev"), **fields})


class TestSpec:
    def test_defaults(self):
        default = spec()
        assert default.self_update is True
        assert su.template_path(default) == "output/demo"
        assert su.template_path(spec(self_update_path="infra/out/demo")) == "infra/out/demo"

    @pytest.mark.parametrize(
        "path", ["/abs", "../up", "a/../b", "a/", "a//b", "a b", "out/.", "a;rm"]
    )
    def test_bad_paths(self, path: str):
        with pytest.raises(ValidationError, match="self_update_path"):
            spec(self_update_path=path)
