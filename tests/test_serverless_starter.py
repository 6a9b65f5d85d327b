"""The serverless blueprint's starter application: the SAM template lints clean and keeps its
contract with the pipeline (parameters, alarm names, hooks, permissions boundary), the buildspec
produces what the deploy stages read, and the starter's own code and tests work."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from generator.templating import render_template
from tests.cfn_yaml import parse

PACKAGE, FOLDER = "blueprints.serverless", "starter"
PARAMETERS = {
    "Environment",
    "PermissionsBoundaryArn",
    "CodeDeployRoleArn",
    "DeploymentPreferenceType",
}
TRAFFIC_TYPES = [
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
]
# Lambda function names have at most 64 characters; "CodeDeployHook_<stack>-post" is the longest.
LONGEST_STACK_NAME = 44
FUNCTION_NAME_LIMIT = 64
# Every file of the starter, by its path in the application repository.
STARTER = {
    "template.yaml": "template.yaml.j2",
    "buildspec.yml": "buildspec.yml.j2",
    "requirements-dev.txt": "requirements-dev.txt.j2",
    "src/app.py": "src/app.py.j2",
    "src/hooks.py": "src/hooks.py.j2",
    "src/requirements.txt": "src/requirements.txt.j2",
    "tests/test_app.py": "tests/test_app.py.j2",
    "tests/test_hooks.py": "tests/test_hooks.py.j2",
}
ACCOUNT = "111111111111"


@dataclass(frozen=True)
class Env:
    name: str
    stack_name: str
    deployment_preference: str
    configuration_json: str


def environment(name: str, preference: str) -> Env:
    """As the blueprint makes it; PermissionsBoundaryArn and CodeDeployRoleArn come as
    parameter overrides of the deploy action instead."""
    configuration = {
        "Parameters": {"Environment": name, "DeploymentPreferenceType": preference},
        "Tags": {
            "Team": "payments",
            # Nothing on the way (YAML, CloudFormation's Sub, bash) may change these.
            "Note": 'it\'s $HOME `id` ${AWS::Region} "quoted" back\\slash 100% naïve',
            "pipegen:environment": name,
        },
    }
    return Env(name, f"orders-api-{name}", preference, json.dumps(configuration, indent=2))


ENVIRONMENTS = [
    environment("dev", "AllAtOnce"),
    environment("staging", "Canary10Percent5Minutes"),
    environment("prod", "Linear10PercentEvery10Minutes"),
]
CONTEXT: dict[str, Any] = {
    "app": "orders-api",
    "runtime": "python3.12",
    "sam_cli_version": "1.131.0",
    "log_retention_days": 365,
    "environments": ENVIRONMENTS,
}


def render(template: str, **extra: Any) -> str:
    return render_template(PACKAGE, FOLDER, template, **CONTEXT, **extra)


def write_starter(root: Path) -> Path:
    """The starter as the blueprint writes it."""
    for path, template in STARTER.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def template_text() -> str:
    return render("template.yaml.j2")


@pytest.fixture(scope="module")
def template(template_text: str) -> dict[str, Any]:
    return parse(template_text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    return yaml.safe_load(render("buildspec.yml.j2"))  # type: ignore[no-any-return]


def sub_text(value: Any) -> str:
    """The format string of a `!Sub`."""
    assert isinstance(value, dict) and set(value) == {"Fn::Sub"}, value
    text = value["Fn::Sub"]
    return text if isinstance(text, str) else text[0]


# -- the SAM template ----------------------------------------------------------------------


def test_template_lints_clean(template_text: str):
    """Errors, warnings and informational findings alike: the repository's lint gate standard."""
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(
        template_text,
        config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]),
    )
    assert matches == [], "\n".join(str(match) for match in matches)


def test_parameters_are_the_pipeline_contract(template: dict[str, Any]):
    parameters = template["Parameters"]
    assert set(parameters) == PARAMETERS
    for name, parameter in parameters.items():
        assert parameter["Type"] == "String", name
        assert parameter["Description"], name
        assert "AllowedPattern" in parameter or "AllowedValues" in parameter, name
    preference = parameters["DeploymentPreferenceType"]
    assert preference["AllowedValues"] == TRAFFIC_TYPES
    assert preference["Default"] == "Canary10Percent5Minutes"
    # The context's own parameter values satisfy the patterns.
    for env in ENVIRONMENTS:
        values = json.loads(env.configuration_json)["Parameters"]
        assert set(values) <= set(parameters)
        for name, value in values.items():
            if "AllowedPattern" in parameters[name]:
                assert re.fullmatch(parameters[name]["AllowedPattern"], value), (name, value)
            else:
                assert value in parameters[name]["AllowedValues"]


def test_template_accepts_every_traffic_type_the_spec_chooses(template: dict[str, Any]):
    spec = pytest.importorskip("blueprints.serverless.spec")
    chosen = {kind for by_minutes in spec.TRAFFIC_TYPES.values() for kind in by_minutes.values()}
    assert chosen <= set(template["Parameters"]["DeploymentPreferenceType"]["AllowedValues"])


def test_every_function_role_carries_the_permissions_boundary(template: dict[str, Any]):
    function_globals = template["Globals"]["Function"]
    assert function_globals["PermissionsBoundary"] == {"Ref": "PermissionsBoundaryArn"}
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Environment"]["Variables"]["ENVIRONMENT"] == {"Ref": "Environment"}
    resources = template["Resources"]
    # A role of our own, or a function with its own Role, would escape the Globals boundary.
    assert not [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == {"ApiFunction", "PreTrafficHook", "PostTrafficHook"}
    for logical_id, function in functions.items():
        assert "Role" not in function["Properties"], logical_id
        assert "PermissionsBoundary" not in function["Properties"], logical_id


def test_api_function_shifts_traffic_with_codedeploy(template: dict[str, Any]):
    function = template["Resources"]["ApiFunction"]["Properties"]
    assert function["Handler"] == "app.handler"
    assert function["CodeUri"] == "src/"
    assert function["AutoPublishAlias"] == "live"
    assert function["ReservedConcurrentExecutions"] > 0
    assert "DeadLetterQueue" not in function  # a synchronous API has nothing to retry
    preference = function["DeploymentPreference"]
    assert preference["Type"] == {"Ref": "DeploymentPreferenceType"}
    # With a Role, SAM creates no CodeDeploy service role (which would lack the boundary).
    assert preference["Role"] == {"Ref": "CodeDeployRoleArn"}
    assert preference["Alarms"] == [{"Ref": "ErrorsAlarm"}, {"Ref": "ThrottlesAlarm"}]
    assert preference["Hooks"] == {
        "PreTraffic": {"Ref": "PreTrafficHook"},
        "PostTraffic": {"Ref": "PostTrafficHook"},
    }
    events = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in function["Events"].values()
        if e["Type"] == "HttpApi"
    }
    assert events == {("GET", "/"), ("GET", "/health")}


@pytest.mark.parametrize(
    ("logical_id", "suffix", "metric"),
    [("ErrorsAlarm", "-errors", "Errors"), ("ThrottlesAlarm", "-throttles", "Throttles")],
)
def test_alarm_names_are_the_pipeline_contract(
    template: dict[str, Any], logical_id: str, suffix: str, metric: str
):
    alarm = template["Resources"][logical_id]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    properties = alarm["Properties"]
    # The pipeline watches "<stack>-errors" and "<stack>-throttles" after each deploy.
    assert properties["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}{suffix}"}
    assert properties["Namespace"] == "AWS/Lambda"
    assert properties["MetricName"] == metric
    dimensions = {d["Name"]: d["Value"] for d in properties["Dimensions"]}
    assert dimensions == {
        "Resource": {"Fn::Sub": "${ApiFunction}:live"},
        "FunctionName": {"Ref": "ApiFunction"},
    }


@pytest.mark.parametrize(
    ("logical_id", "handler", "target"),
    [
        ("PreTrafficHook", "hooks.pre_traffic", {"Ref": "ApiFunction.Version"}),
        ("PostTrafficHook", "hooks.post_traffic", {"Fn::Sub": "${ApiFunction.Arn}:live"}),
    ],
)
def test_traffic_hooks(template: dict[str, Any], logical_id: str, handler: str, target: Any):
    hook = template["Resources"][logical_id]["Properties"]
    assert hook["Handler"] == handler
    assert hook["CodeUri"] == "src/"
    # CodeDeploy may invoke only functions named CodeDeployHook_*.
    assert sub_text(hook["FunctionName"]).startswith("CodeDeployHook_${AWS::StackName}-")
    assert hook["DeploymentPreference"] == {"Enabled": False}
    assert target in hook["Environment"]["Variables"].values()
    statements = {s["Action"]: s for s in hook["Policies"][0]["Statement"]}
    report = statements["codedeploy:PutLifecycleEventHookExecutionStatus"]
    # The Service Authorization Reference lists no resource type for this action.
    assert report["Resource"] == "*"
    assert statements["lambda:InvokeFunction"]["Resource"] == target
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_names_match_what_the_deploy_role_may_create(template: dict[str, Any]):
    """Functions, the table, log groups and alarms are named after the stack; with a stack name
    of up to 44 characters every function name fits Lambda's 64."""
    resources = template["Resources"]
    stack = "s" * LONGEST_STACK_NAME
    for logical_id, resource in resources.items():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::Serverless::Function":
            name = sub_text(properties["FunctionName"]).replace("${AWS::StackName}", stack)
            assert len(name) <= FUNCTION_NAME_LIMIT, logical_id
            assert name.startswith((f"{stack}-", f"CodeDeployHook_{stack}-")), logical_id
            log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
            assert sub_text(resources[log_group]["Properties"]["LogGroupName"]) == (
                "/aws/lambda/" + sub_text(properties["FunctionName"])
            )
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert sub_text(properties["TableName"]).startswith("${AWS::StackName}-")


def test_table_is_protected(template: dict[str, Any]):
    table = template["Resources"]["ItemsTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    # The compliance gate refuses change sets that replace or remove it.
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    function = template["Resources"]["ApiFunction"]["Properties"]
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ItemsTable"}}} in function["Policies"]
    assert function["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "ItemsTable"}


def test_outputs(template: dict[str, Any]):
    outputs = template["Outputs"]
    assert set(outputs) == {"ApiUrl", "FunctionName", "FunctionAliasArn"}
    assert "${ServerlessHttpApi}.execute-api" in sub_text(outputs["ApiUrl"]["Value"])
    assert outputs["FunctionName"]["Value"] == {"Ref": "ApiFunction"}
    assert outputs["FunctionAliasArn"]["Value"] == {"Ref": "ApiFunction.Alias"}


def test_sam_transform_gives_every_role_the_boundary(template: dict[str, Any]):
    """cfn-lint validates the SAM template without running the transform; this runs it, when
    aws-sam-translator is installed (it is not a dependency of the project)."""
    pytest.importorskip("samtranslator")
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    packaged = copy.deepcopy(template)  # what `sam package` uploads: code in S3
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/orders-api/code.zip"
    policies = {
        "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
    }
    translator = Translator(
        {name: f"arn:aws:iam::aws:policy/{path}" for name, path in policies.items()},
        Parser(),
        boto_session=boto3.session.Session(region_name="us-east-1"),
    )
    parameters = {
        **json.loads(ENVIRONMENTS[-1].configuration_json)["Parameters"],
        # The deploy action's parameter overrides.
        "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/orders-api-prod-boundary",
        "CodeDeployRoleArn": f"arn:aws:iam::{ACCOUNT}:role/orders-api-prod-traffic",
    }
    resources = translator.translate(packaged, parameter_values=parameters)["Resources"]
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"ApiFunctionRole", "PreTrafficHookRole", "PostTrafficHookRole"}
    for logical_id, role in roles.items():
        boundary = role["Properties"].get("PermissionsBoundary")
        assert boundary == {"Ref": "PermissionsBoundaryArn"}, logical_id
    group = resources["ApiFunctionDeploymentGroup"]["Properties"]
    assert group["ServiceRoleArn"] == {"Ref": "CodeDeployRoleArn"}
    assert json.dumps(group["DeploymentConfigName"]).count(parameters["DeploymentPreferenceType"])


# -- the buildspec -------------------------------------------------------------------------


def commands(buildspec: dict[str, Any], phase: str) -> list[str]:
    return list(buildspec["phases"][phase]["commands"])


def test_buildspec_builds_and_packages_with_the_artifact_key(buildspec: dict[str, Any]):
    assert str(buildspec["version"]) == "0.2"
    install = buildspec["phases"]["install"]
    assert install["runtime-versions"] == {"python": "3.12"}  # a string: 3.10 is no float
    assert "pip install --quiet aws-sam-cli==1.131.0" in install["commands"]
    build = commands(buildspec, "build")
    assert "sam build --template-file template.yaml" in build
    package = next(c for c in build if c.startswith("sam package"))
    assert '--kms-key-id "$ARTIFACT_KEY_ARN"' in package
    assert '--s3-bucket "$ARTIFACT_BUCKET"' in package
    assert '--s3-prefix "$S3_PREFIX"' in package
    assert "--output-template-file packaged.yaml" in package
    assert build.index("sam build --template-file template.yaml") < build.index(package)


def test_buildspec_ships_the_template_and_one_configuration_per_environment(
    buildspec: dict[str, Any],
):
    expected = ["packaged.yaml", *(f"{env.name}.json" for env in ENVIRONMENTS)]
    assert buildspec["artifacts"]["files"] == expected
    assert buildspec["reports"]["junit"]["file-format"] == "JUNITXML"


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A buildspec command as CodeBuild runs it: bash, with the build's python on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def configuration_commands(buildspec: dict[str, Any]) -> list[str]:
    return [c for c in commands(buildspec, "build") if "json.tool" in c]


def test_build_writes_each_configuration_unchanged(buildspec: dict[str, Any], tmp_path: Path):
    """The build's own commands write <env>.json at the output root, value for value."""
    found = configuration_commands(buildspec)
    assert len(found) == len(ENVIRONMENTS)
    for command in found:
        assert "\n" not in command  # one line each
        result = run(command, tmp_path)
        assert result.returncode == 0, result.stderr
    for env in ENVIRONMENTS:
        produced = json.loads((tmp_path / f"{env.name}.json").read_text())
        assert produced == json.loads(env.configuration_json)


def test_build_fails_on_a_configuration_that_is_not_json(tmp_path: Path):
    broken = Env("dev", "orders-api-dev", "AllAtOnce", '{"Parameters": ')
    text = render_template(
        PACKAGE, FOLDER, "buildspec.yml.j2", **{**CONTEXT, "environments": [broken]}
    )
    [command] = configuration_commands(yaml.safe_load(text))
    assert run(command, tmp_path).returncode != 0


def test_buildspec_survives_the_pipelines_sub_escaping():
    """The pipeline inlines the buildspec in a Fn::Sub, turning every "${" into "${!", which
    CloudFormation turns back: the text must not depend on anything else Sub does."""
    text = render("buildspec.yml.j2")
    assert "${!" not in text
    assert "${AWS::Region}" in text  # from a tag value: it reaches bash inside single quotes


def test_starter_unit_tests_pass_as_the_build_runs_them(buildspec: dict[str, Any], tmp_path):
    root = write_starter(tmp_path)
    test_command = next(c for c in commands(buildspec, "pre_build") if "pytest" in c)
    (root / "reports").mkdir()
    result = run(test_command, root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert (root / "reports" / "unit.xml").is_file()


def test_every_template_renders_with_the_documented_context():
    for template in STARTER.values():
        assert render(template)


# -- the starter's code --------------------------------------------------------------------


def load(tmp_path: Path, relative: str, name: str) -> ModuleType:
    root = write_starter(tmp_path)
    spec = importlib.util.spec_from_file_location(name, root / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_answers_health_and_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    app = load(tmp_path, "src/app.py", "starter_app")
    monkeypatch.setenv("ENVIRONMENT", "staging")

    def get(path: str) -> dict[str, Any]:
        event = {"rawPath": path, "requestContext": {"http": {"method": "GET", "path": path}}}
        return app.handler(event, None)  # type: ignore[no-any-return]

    assert get("/health")["statusCode"] == 200
    assert json.loads(get("/health")["body"]) == {"status": "ok"}
    assert json.loads(get("/")["body"]) == {"app": "orders-api", "environment": "staging"}


class FakeLambda:
    def __init__(self, status: int = 200, error: str | None = None, fail: bool = False):
        self.status, self.error, self.fail = status, error, fail
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("AccessDeniedException")
        body = json.dumps({"statusCode": self.status, "body": "{}"}).encode()
        reply: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(body)}
        if self.error:
            reply["FunctionError"] = self.error
        return reply


class FakeCodeDeploy:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> dict[str, Any]:
        self.reports.append(kwargs)
        return {"lifecycleEventHookExecutionId": kwargs["lifecycleEventHookExecutionId"]}


EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "eyJ-hook"}
VERSION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-api-prod-api:42"
ALIAS_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-api-prod-api:live"


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("CurrentVersion", VERSION_ARN)
    monkeypatch.setenv("LiveAlias", ALIAS_ARN)
    return load(tmp_path, "src/hooks.py", "starter_hooks")


@pytest.mark.parametrize(
    ("hook", "target"), [("pre_traffic", VERSION_ARN), ("post_traffic", ALIAS_ARN)]
)
@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"status": 200}, "Succeeded"),
        ({"status": 500}, "Failed"),
        ({"status": 200, "error": "Unhandled"}, "Failed"),
        ({"fail": True}, "Failed"),
    ],
)
def test_hooks_report_the_health_check_to_codedeploy(
    hooks: ModuleType, hook: str, target: str, reply: dict[str, Any], status: str
):
    function, codedeploy = FakeLambda(**reply), FakeCodeDeploy()
    hooks.clients = {"lambda": function, "codedeploy": codedeploy}
    assert getattr(hooks, hook)(EVENT, None) == {"status": status}
    [call] = function.calls
    assert call["FunctionName"] == target
    assert call["InvocationType"] == "RequestResponse"
    assert json.loads(call["Payload"])["rawPath"] == "/health"
    # Always exactly one report: without it CodeDeploy waits an hour before it gives up.
    assert codedeploy.reports == [
        {
            "deploymentId": "d-ABCDEF123",
            "lifecycleEventHookExecutionId": "eyJ-hook",
            "status": status,
        }
    ]


def test_hook_health_event_is_what_the_app_answers(tmp_path: Path, hooks: ModuleType):
    """The synthetic request really gets a 200 from the starter handler."""
    app = load(tmp_path / "app", "src/app.py", "starter_app_for_hooks")
    reply = app.handler(hooks.health_event(), None)
    assert reply["statusCode"] == 200
