"""RUNBOOK.md: built from the reference pipelines' views, its commands name this pipeline's own
stages, actions, projects, deployment groups, stacks and regions; every fenced shell block
parses with `bash -n`; nothing is left unrendered. Also the action fields the view gained for it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from generator.review.pipeline_view import PipelineView, pipeline_view
from generator.review.runbook import TRANSITION_REASON, Shell, runbook, variable_name
from generator.spec.loader import load_spec

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"
NAMES = sorted(p.stem for p in PIPELINES.glob("*.yaml"))


@cache
def view(name: str) -> PipelineView:
    loaded = load_spec(PIPELINES / f"{name}.yaml")
    template_set = loaded.blueprint.build(loaded.spec, "yaml")
    return pipeline_view(template_set, loaded.spec.region, loaded.spec.description)


@cache
def document(name: str) -> str:
    return runbook(view(name))


def blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)


class Command:
    """One `aws` call of a block: service, operation and its options."""

    def __init__(self, argv: list[str]) -> None:
        assert argv[0] == "aws", argv
        self.service, self.operation = argv[1], argv[2]
        self.positional: list[str] = []
        self.options: dict[str, list[str]] = {}
        flag = ""
        for word in argv[3:]:
            if word.startswith("--"):
                flag = word
                self.options.setdefault(flag, [])
            elif flag:
                self.options[flag].append(word)
            else:
                self.positional.append(word)

    def __getitem__(self, option: str) -> str:
        return " ".join(self.options[option])

    def __contains__(self, option: str) -> bool:
        return option in self.options

    def __repr__(self) -> str:
        return f"aws {self.service} {self.operation} {self.options}"


def commands(text: str, operation: str | None = None) -> list[Command]:
    """Every `aws` call in the shell blocks, also inside `VAR=$(...)`; variables stay as
    written (`"$EXECUTION_ID"` reads `$EXECUTION_ID`)."""
    found = []
    for block in blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("#") or "aws " not in line:
                continue
            start = line.index("aws ")
            call = line[start:]
            if line[:start].endswith("$("):
                call = call.removesuffix(")")
            argv = shlex.split(call)
            found.append(Command(argv))
    return [c for c in found if operation is None or f"{c.service} {c.operation}" == operation]


def queried_actions(text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"stageName=='([^']+)' && actionName=='([^']+)'", text))


# -- every reference pipeline -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_left_unrendered(name: str) -> None:
    text = document(name)
    for marker in ("{{", "}}", "{%", "%}", "{#", "#}"):
        assert marker not in text
    assert text.startswith(f"# Runbook: {name}\n") and text.endswith("```\n")
    assert not re.search(r"\n{3,}", text)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", NAMES)
def test_every_shell_block_parses_with_bash(name: str) -> None:
    found = blocks(document(name))
    assert len(found) > 10
    for block in found:
        assert block.strip()
        checked = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert checked.returncode == 0, f"{checked.stderr}\n{block}"


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_stage_and_action_names_are_this_pipelines(name: str) -> None:
    pipeline = view(name)
    text = document(name)
    stage_names = {s.name for s in pipeline.stages}
    calls = commands(text)
    assert calls
    for call in calls:
        assert call["--region"] in pipeline.regions, call
        if call.service == "codepipeline":
            assert call["--name" if "--name" in call else "--pipeline-name"] == name, call
        if "--stage-name" in call:
            assert call["--stage-name"] in stage_names | {"$STAGE"}, call
    pairs = {(s.name, a.name) for s in pipeline.stages for a in s.actions}
    targeted = {
        (s.name, a.name)
        for s in pipeline.stages
        for a in s.actions
        if a.project or a.deployment_group
    }
    assert queried_actions(text) == targeted and targeted <= pairs


@pytest.mark.parametrize("name", NAMES)
def test_manual_deploys_start_this_pipeline_with_its_source_action(name: str) -> None:
    pipeline = view(name)
    source = next(a for s in pipeline.stages for a in s.actions if a.category == "Source")
    starts = commands(document(name), "codepipeline start-pipeline-execution")
    assert starts[0].options == {"--name": [name], "--region": [pipeline.region]}
    overrides = {c["--source-revisions"] for c in starts if "--source-revisions" in c}
    assert overrides == {f"actionName={source.name},revisionType=COMMIT_ID,revisionValue=$REVISION"}


@pytest.mark.parametrize("name", NAMES)
def test_each_gate_can_be_approved_and_rejected(name: str) -> None:
    pipeline = view(name)
    gates = {
        (s.name, a.name) for s in pipeline.stages for a in s.actions if a.category == "Approval"
    }
    results = commands(document(name), "codepipeline put-approval-result")
    assert gates
    for status in ("Approved", "Rejected"):
        assert {
            (c["--stage-name"], c["--action-name"])
            for c in results
            if f'"status": "{status}"' in c["--result"]
        } == gates
    assert {c["--token"] for c in results} == {"$TOKEN"}
    token = r"stageName=='([^']+)'\] \| \[0\]\.actionStates\[\?actionName=='([^']+)'"
    assert set(re.findall(token, document(name))) == gates


@pytest.mark.parametrize("name", NAMES)
def test_stage_rollback_for_every_deploy_stage(name: str) -> None:
    pipeline = view(name)
    deploys = [s.name for s in pipeline.stages if any(a.category == "Deploy" for a in s.actions)]
    rollbacks = commands(document(name), "codepipeline rollback-stage")
    assert [c["--stage-name"] for c in rollbacks] == list(reversed(deploys))
    assert {c["--target-pipeline-execution-id"] for c in rollbacks} == {"$TARGET_EXECUTION_ID"}
    listed = commands(document(name), "codepipeline list-pipeline-executions")
    filters = {c["--filter"] for c in listed if "--filter" in c}
    assert filters == {f"succeededInStage={{stageName={stage}}}" for stage in deploys}


@pytest.mark.parametrize("name", NAMES)
def test_pause_and_resume_production_by_its_inbound_transition(name: str) -> None:
    pipeline = view(name)
    production = [s for s in pipeline.stages if any(a.category == "Deploy" for a in s.actions)][-1]
    text = document(name)
    paused = commands(text, "codepipeline disable-stage-transition")
    resumed = commands(text, "codepipeline enable-stage-transition")
    assert [c["--stage-name"] for c in paused] == [production.name, "$STAGE"]
    assert [c["--stage-name"] for c in resumed] == [production.name, "$STAGE"]
    for call in paused + resumed:
        assert call["--transition-type"] == "Inbound"
    for call in paused:
        assert TRANSITION_REASON.fullmatch(call["--reason"]), call["--reason"]
    assert f"STAGE={pipeline.stages[-2].name}\n" in text  # the stage before production


# -- per blueprint ---------------------------------------------------------------------------


def test_web_app_codedeploy_and_codebuild_names() -> None:
    text = document("web-app")
    groups = {
        (c["--application-name"], c["--deployment-group-name"])
        for c in commands(text, "deploy list-deployments")
    }
    assert groups == {("web-app", f"web-app-{env}") for env in ("dev", "staging", "prod")}
    stops = commands(text, "deploy stop-deployment")
    assert len(stops) == 3
    assert all(
        "--auto-rollback-enabled" in c and c["--deployment-id"] == "$DEPLOYMENT_ID" for c in stops
    )
    assert len(commands(text, "deploy get-deployment")) == 3
    tails = commands(text, "logs tail")
    assert {c.positional[0] for c in tails} == {
        f"/aws/codebuild/web-app-{project}"
        for project in (
            "self-update",  # the UpdatePipeline stage
            "build",
            "unit-tests",
            "security-scan",
            "integration-tests",
            "smoke-test",
            "load-test",  # after staging's smoke test
            "chaos-staging",  # after the load test
        )
    }
    assert {c["--log-stream-name-prefix"] for c in tails} == {"${BUILD_ID#*:}"}
    assert ("DeployProd", "Deploy") in queried_actions(text)
    assert not commands(text, "cloudformation describe-stack-events")
    assert "Before you start" in text and "ROOT_STACK" not in text


def test_serverless_change_sets_stacks_and_gate_function() -> None:
    text = document("serverless")
    change_sets = {
        (c["--stack-name"], c["--change-set-name"])
        for c in commands(text, "cloudformation describe-change-set")
    }
    stacks = {"dev": "serverless-dev", "staging": "serverless-staging", "prod": "payments-api-prod"}
    assert change_sets == {(stack, f"pipegen-{env}") for env, stack in stacks.items()}
    events = [c["--stack-name"] for c in commands(text, "cloudformation describe-stack-events")]
    assert events == list(stacks.values())  # the ExecuteChangeSet action of each stage
    resumed = [c["--stack-name"] for c in commands(text, "cloudformation continue-update-rollback")]
    assert resumed == list(stacks.values())
    assert "aws logs tail /aws/lambda/serverless-compliance-gate --region us-east-1" in text
    assert not commands(text, "deploy stop-deployment")  # no CodeDeploy action
    approvals = commands(text, "codepipeline put-approval-result")
    assert {(c["--stage-name"], c["--action-name"]) for c in approvals} == {
        ("DeployProd", "Approve")
    }


def test_microservice_ecs_names_come_from_the_launched_stack() -> None:
    text = document("microservice")
    (service,) = commands(text, "ecs describe-services")
    assert service["--cluster"] == "${DEV_CLUSTER_NAME}"
    assert service["--services"] == "${DEV_SERVICE_NAME}"
    setup = blocks(text)[0]
    assert setup.startswith("ROOT_STACK=microservice-pipeline\n")
    assert "ParameterKey=='DevClusterName'" in setup and "ParameterKey=='DevServiceName'" in setup
    assert setup.index("DEV_CLUSTER_NAME=") < text.index("ecs describe-services")
    groups = {
        (c["--application-name"], c["--deployment-group-name"])
        for c in commands(text, "deploy list-deployments")
    }
    assert groups == {
        ("microservice", "microservice-staging"),
        ("microservice", "microservice-prod"),
    }
    assert {("DeployStaging", "Deploy"), ("DeployProd", "Deploy")} <= queried_actions(text)


def test_multi_region_commands_name_the_region_and_account_of_each_stack() -> None:
    text = document("multi-region")
    events = commands(text, "cloudformation describe-stack-events")
    assert {c["--region"] for c in events} == {
        "us-east-1",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-2",
    }
    assert {c["--stack-name"] for c in events} == {"storefront-api"}
    for account in ("222222222222", "333333333333", "444444444444"):
        assert f"# In account {account}: run this with credentials for that account." in text


# -- the view's new action fields ------------------------------------------------------------


def test_actions_name_what_they_work_on() -> None:
    web = {(s.name, a.name): a for s in view("web-app").stages for a in s.actions}
    deploy = web["DeployProd", "Deploy"]
    assert (deploy.application, deploy.deployment_group) == ("web-app", "web-app-prod")
    assert deploy.project == deploy.log_group == deploy.stack_name == ""
    unit = web["Test", "UnitTests"]
    assert (unit.project, unit.log_group) == (
        "web-app-unit-tests",
        "/aws/codebuild/web-app-unit-tests",
    )
    serverless = {(s.name, a.name): a for s in view("serverless").stages for a in s.actions}
    create = serverless["DeployProd", "CreateChangeSet"]
    assert (create.stack_name, create.change_set, create.action_mode) == (
        "payments-api-prod",
        "pipegen-prod",
        "CHANGE_SET_REPLACE",
    )
    gate = serverless["DeployProd", "ComplianceCheck"]
    assert (gate.function, gate.log_group) == (
        "serverless-compliance-gate",
        "/aws/lambda/serverless-compliance-gate",
    )
    micro = {(s.name, a.name): a for s in view("microservice").stages for a in s.actions}
    ecs = micro["DeployDev", "Deploy"]
    assert (ecs.cluster, ecs.service) == ("${DevClusterName}", "${DevServiceName}")
    ecs_blue_green = micro["DeployProd", "Deploy"]
    assert ecs_blue_green.deployment_group == "microservice-prod"


# -- shell words ---------------------------------------------------------------------------------


@pytest.fixture
def shell() -> Iterator[Shell]:
    yield Shell("eu-west-1")


def test_literal_names_stay_bare_unless_they_need_quotes(shell: Shell) -> None:
    assert shell.word("web-app-prod") == "web-app-prod"
    assert shell.word("/aws/codebuild/web-app-build") == "/aws/codebuild/web-app-build"
    assert shell.word("it's") == "'it'\"'\"'s'"
    assert shell.parameters == {}


def test_parameters_become_variables_and_pseudo_parameters_values(shell: Shell) -> None:
    assert shell.word("${DevClusterName}") == '"${DEV_CLUSTER_NAME}"'
    assert shell.word("app-${AWS::Region}-${AWS::AccountId}") == '"app-eu-west-1-${ACCOUNT_ID}"'
    assert shell.parameters == {
        "DevClusterName": "DEV_CLUSTER_NAME",
        "AWS::AccountId": "ACCOUNT_ID",
    }
    assert variable_name("ProdECSClusterName") == "PROD_ECSCLUSTER_NAME"
