"""The pipeline view taken from built templates, and the per-pipeline README drawn from it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from generator.review.docs import readable_resource, readme, statement_words
from generator.review.pipeline_view import PipelineView, StatementView, pipeline_view
from generator.spec.loader import load_spec
from tests.template_reading import rendered, stages

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"
NAMES = sorted(p.stem for p in PIPELINES.glob("*.yaml"))


@cache
def built(name: str) -> tuple[PipelineView, dict[str, dict]]:  # type: ignore[type-arg]
    loaded = load_spec(PIPELINES / f"{name}.yaml")
    template_set = loaded.blueprint.build(loaded.spec, "yaml")
    view = pipeline_view(template_set, loaded.spec.region, loaded.spec.description)
    return view, rendered(template_set)


def document(name: str) -> str:
    view, _ = built(name)
    return readme(view, mermaid="flowchart LR\n", cost_markdown="## Cost estimate\n\nx\n")


class TestPipelineView:
    @pytest.mark.parametrize("name", NAMES)
    def test_stages_and_actions_are_the_templates(self, name: str) -> None:
        view, templates = built(name)
        expected = stages(templates)
        assert [s.name for s in view.stages] == list(expected)
        for stage in view.stages:
            assert [a.name for a in stage.actions] == [
                a["Name"] for a in expected[stage.name]["Actions"]
            ]

    def test_web_app_actions_say_what_runs_and_as_whom(self) -> None:
        view, _ = built("web-app")
        test = next(s for s in view.stages if s.name == "Test")
        assert [(order, [a.name for a in group]) for order, group in test.groups()] == [
            (1, ["UnitTests", "SecurityScan"]),
            (2, ["IntegrationTests"]),
        ]
        unit = test.actions[0]
        assert unit.what == "runs CodeBuild project web-app-unit-tests"
        assert unit.role == "BuildActionRole"
        assert (unit.region, unit.account) == ("us-east-1", "pipeline")
        gate = next(s for s in view.stages if s.name == "ApproveProd")
        assert gate.gated and gate.actions[0].provider == "Manual"
        assert gate.actions[0].role == ""
        deploy = next(s for s in view.stages if s.name == "DeployProd").actions[0]
        assert deploy.what == "deploys with CodeDeploy group web-app-prod"
        assert view.regions == ("us-east-1",) and view.accounts == ()

    def test_multi_region_actions_name_their_region_and_account(self) -> None:
        view, _ = built("multi-region")
        assert view.regions == ("ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1")
        assert view.accounts == ("222222222222", "333333333333", "444444444444")
        europe = next(s for s in view.stages if s.name == "DeployEurope")
        first = europe.actions[0]
        assert (first.region, first.account) == ("eu-west-1", "333333333333")
        assert first.role == "multi-region-cross-account-deploy"

    def test_roles_follow_policies_across_stacks(self) -> None:
        """The pipeline role's policy is a separate AWS::IAM::Policy; its statements are the
        role's, and the topic it may publish to is named, not left as a parameter."""
        view, _ = built("web-app")
        role = next(r for r in view.roles if r.logical_id == "PipelineRole")
        assert role.assumed_by == ("codepipeline.amazonaws.com",)
        assert role.template == "stacks/iam.yaml"
        publish = next(s for s in role.statements if s.actions == ("sns:Publish",))
        assert publish.resources == ("ProdApprovalTopic",)

    def test_parameters_keep_their_console_group(self) -> None:
        view, _ = built("web-app")
        by_name = {p.name: p for p in view.parameters}
        assert by_name["ConnectionArn"].group == "Source"
        assert by_name["ConnectionArn"].default is None
        assert by_name["TemplateBucketRegion"].default == "us-east-1"


class TestReadme:
    @pytest.mark.parametrize("name", NAMES)
    def test_names_every_stage_action_parameter_output_and_role(self, name: str) -> None:
        view, _ = built(name)
        text = document(name)
        for stage in view.stages:
            assert f"| {stage.name} |" in text
            for action in stage.actions:
                assert f"| {action.name} |" in text
        for parameter in view.parameters:
            assert f"| `{parameter.name}` |" in text
        for output in view.outputs:
            assert f"| `{output.name}` |" in text
        for role in view.roles:
            assert f"### `{role.name}`" in text
        assert "{{" not in text and "{%" not in text

    @pytest.mark.parametrize("name", NAMES)
    def test_every_table_row_has_its_header_columns(self, name: str) -> None:
        columns = None
        for line in document(name).splitlines():
            if not line.startswith("|"):
                columns = None
                continue
            cells = len(re.findall(r"(?<!\\)\|", line)) - 1
            if columns is None:
                columns = cells
            assert cells == columns, line

    @pytest.mark.parametrize("name", NAMES)
    def test_the_deploy_command_gives_every_required_parameter(self, name: str) -> None:
        view, _ = built(name)
        text = document(name)
        command = text.split("aws cloudformation deploy", 1)[1].split("```", 1)[0]
        for parameter in view.parameters:
            if parameter.default is None:
                assert f"{parameter.name}=" in command
        assert f"TemplateKeyPrefix=pipegen/{name}/" in command

    def test_named_roles_need_the_named_iam_capability(self) -> None:
        assert "--capabilities CAPABILITY_NAMED_IAM" in document("multi-region")
        view, _ = built("web-app")
        unnamed = replace(view, roles=tuple(replace(r, named=False) for r in view.roles))
        text = readme(unnamed, mermaid="", cost_markdown="")
        assert "--capabilities CAPABILITY_IAM " in text

    def test_two_sentence_summary(self) -> None:
        first = document("web-app").split("\n\n")[2]
        assert first == (
            "`web-app` is a CodePipeline V2 pipeline in us-east-1 (QUEUED executions) that "
            "pulls acme/storefront at branch main, builds with CodeBuild, runs 3 test action(s) "
            "and deploys to Dev, Staging and Prod. 1 manual approval gate(s) guard promotion; "
            "on failure 2 stage(s) roll back, 1 retry."
        )

    def test_launch_notes_are_linked_first(self) -> None:
        view, _ = built("multi-region")
        text = readme(view, mermaid="", cost_markdown="", launch_notes="LAUNCH.md")
        launch = text.split("## How to launch", 1)[1]
        assert launch.index("[LAUNCH.md](LAUNCH.md)") < launch.index("aws s3 sync")


@pytest.mark.parametrize(
    ("arn", "words"),
    [
        (
            "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/x",
            "codebuild project/x",
        ),
        (
            "arn:${AWS::Partition}:iam::222222222222:role/pipegen/p/deploy",
            "iam role/pipegen/p/deploy (222222222222)",
        ),
        (
            "arn:${AWS::Partition}:logs:eu-west-1:${AWS::AccountId}:log-group:/a:log-stream:*",
            "logs log-group:/a:log-stream:* (eu-west-1)",
        ),
        ("ArtifactBucket/*", "ArtifactBucket/*"),
        ("*", "*"),
    ],
)
def test_readable_resource(arn: str, words: str) -> None:
    assert readable_resource(arn) == words


def test_statement_words_name_the_conditions() -> None:
    statement = StatementView(
        "Allow",
        ("iam:PassRole",),
        ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/pipegen/p/*",),
        ("StringEquals iam:PassedToService codebuild.amazonaws.com",),
    )
    assert statement_words(statement) == (
        "May `iam:PassRole` on `iam role/pipegen/p/*`, only when "
        "`StringEquals iam:PassedToService codebuild.amazonaws.com`"
    )


class TestGovernanceSection:
    def test_release_branch_rules_are_read_from_the_stage_conditions(self) -> None:
        view, _ = built("web-app")
        rules = {s.name: s.entry_rules for s in view.stages if s.entry_rules}
        rule = "ReleaseBranchOnly (VariableCheck): #{SourceVariables.BranchName} EQ main, else FAIL"
        assert rules == {"ApproveProd": (rule,), "DeployProd": (rule,)}

    def test_policies_for_people_carry_their_real_json(self) -> None:
        view, _ = built("web-app")
        by_id = {p.logical_id: p for p in view.policies}
        assert set(by_id) == {
            "ProdApproverPolicy",
            "InstanceArtifactReadPolicy",
            "SeparationOfDutiesPolicy",
        }
        deny = json.loads(by_id["SeparationOfDutiesPolicy"].document)
        assert deny["Statement"][0]["Effect"] == "Deny"
        assert deny["Statement"][0]["Condition"] == {
            "StringNotEquals": {"aws:PrincipalTag/team": "change-managers"}
        }
        text = document("web-app")
        governance = text.split("## Governance", 1)[1].split("## How to launch", 1)[0]
        assert by_id["ProdApproverPolicy"].document in governance
        assert "`DeployProd`: ReleaseBranchOnly" in governance
        assert "**Self-update.**" in governance and "**Audit trail.**" in governance

    def test_a_pipeline_without_audit_says_nothing_of_it(self) -> None:
        text = document("serverless")
        assert "**Audit trail.**" not in text
