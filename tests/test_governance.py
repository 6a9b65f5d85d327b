"""Governance: separation of duties enforced by IAM, and the release-branch policy.

- A gate's `approver_tag` makes its approver policy allow `codepipeline:PutApprovalResult` only
  under `aws:PrincipalTag/<key> = value`, and the pipeline's SeparationOfDutiesPolicy denies it
  to every principal without the tag (a missing tag included).
- E9005: a role that an AWS service assumes is never allowed to approve (table below, in the
  style of tests/test_guardrail_rules.py).
- Production deploys only runs of `release_branch`: a VariableCheck BeforeEntry condition on
  the production stages (not for s3 sources, which have no branch); E9603 checks such rules.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from troposphere import GetAtt

from generator.assembly.stack import ChildStack
from generator.cli import main
from generator.components import approval
from generator.naming import Names
from generator.spec.model import Approval, ApproverTag
from tests.template_reading import (
    Templates,
    build_set,
    props,
    rendered,
    stages,
    sub_text,
    variant,
)
from tests.test_guardrail_rules import (
    POLICY,
    ROLE_POLICY,
    case,
    document,
    role,
    statement,
)
from tests.test_guardrail_rules import test_rule_table as run_guardrail_case
from tests.test_semantics_rules import lint_dict, pipeline_template, type_id, with_stage

REPO = Path(__file__).resolve().parent.parent
WEB_APP = REPO / "pipelines" / "web-app.yaml"
SPEC: dict[str, Any] = yaml.safe_load(WEB_APP.read_text(encoding="utf-8"))
PIPELINE = SPEC["name"]
APPROVE = "codepipeline:PutApprovalResult"
TEAM_TAG = "aws:PrincipalTag/team"


def action_arn(stage: str, pipeline: str = PIPELINE) -> str:
    return (
        "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:"
        f"{pipeline}/{stage}/Approve"
    )


def branch_gate(branch: str) -> dict[str, Any]:
    """The BeforeEntry block pipegen renders for a release branch."""
    return {
        "Conditions": [
            {
                "Result": "FAIL",
                "Rules": [
                    {
                        "Name": "ReleaseBranchOnly",
                        "RuleTypeId": {
                            "Category": "Rule",
                            "Owner": "AWS",
                            "Provider": "VariableCheck",
                            "Version": "1",
                        },
                        "Configuration": {
                            "Variable": "#{SourceVariables.BranchName}",
                            "Operator": "EQ",
                            "Value": branch,
                        },
                    }
                ],
            }
        ]
    }


def gated_stages(templates: Templates) -> dict[str, Any]:
    return {name: s["BeforeEntry"] for name, s in stages(templates).items() if "BeforeEntry" in s}


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


@pytest.fixture(scope="module")
def web_app() -> Any:
    return build_set(WEB_APP)


@pytest.fixture(scope="module")
def reference(web_app: Any) -> Templates:
    return rendered(web_app)


# -- separation of duties: the approver policy ---------------------------------------------------


class TestApproverPolicy:
    def test_a_tagged_gate_approves_only_under_the_principal_tag(self) -> None:
        stack = ChildStack("iam", "demo")
        tag = ApproverTag(key="team", value="change-managers")
        approval.approver_policy(
            stack, Names("demo"), "prod", Approval(approver_tag=tag), "ApproveProd"
        )
        policy = stack.template.to_dict()["Resources"]["ProdApproverPolicy"]["Properties"]
        approve = by_sid(policy["PolicyDocument"])["ApproveThisGateOnly"]
        assert approve["Action"] == [APPROVE]
        assert approve["Condition"] == {"StringEquals": {TEAM_TAG: "change-managers"}}
        assert policy["Description"].endswith("as a principal tagged team=change-managers")
        # Only the approving statement is conditioned: reading the pipeline needs no tag.
        others = [s for sid, s in by_sid(policy["PolicyDocument"]).items() if sid != approve["Sid"]]
        assert others and all("Condition" not in s for s in others)

    def test_an_untagged_gate_keeps_the_unconditioned_policy(self) -> None:
        stack = ChildStack("iam", "demo")
        approval.approver_policy(stack, Names("demo"), "prod", Approval(), "ApproveProd")
        policy = stack.template.to_dict()["Resources"]["ProdApproverPolicy"]["Properties"]
        assert "Condition" not in by_sid(policy["PolicyDocument"])["ApproveThisGateOnly"]
        assert policy["Description"] == "Approve the prod gate of pipeline demo, and no other"

    def test_web_app_prod_gate_is_for_change_managers(self, reference: Templates) -> None:
        policy = props(reference, "iam", "ProdApproverPolicy")["PolicyDocument"]
        approve = by_sid(policy)["ApproveThisGateOnly"]
        assert [sub_text(r) for r in approve["Resource"]] == [action_arn("ApproveProd")]
        assert approve["Condition"] == {"StringEquals": {TEAM_TAG: "change-managers"}}


# -- separation of duties: the deny policy -------------------------------------------------------


class TestSeparationOfDutiesPolicy:
    def test_denies_each_tagged_gate_to_everyone_without_its_tag(self) -> None:
        stack = ChildStack("iam", "demo")
        gates = [
            ("staging", Approval(approver_tag=ApproverTag(key="team", value="developers")), "S"),
            ("qa", Approval(), "ApproveQa"),  # untagged: not in the deny policy
            ("prod", Approval(approver_tag=ApproverTag(key="team", value="change-managers")), "P"),
        ]
        handle = approval.separation_of_duties_policy(stack, Names("demo"), gates)
        assert handle is not None and handle.name == "SeparationOfDutiesPolicyArn"
        resource = stack.template.to_dict()["Resources"]["SeparationOfDutiesPolicy"]
        assert resource["Type"] == "AWS::IAM::ManagedPolicy"
        properties = resource["Properties"]
        assert properties["Path"] == "/pipegen/demo/"
        assert "Roles" not in properties and "Groups" not in properties  # attached by you
        found = [
            (
                s["Sid"],
                s["Effect"],
                s["Action"],
                [sub_text(r) for r in s["Resource"]],
                s["Condition"],
            )
            for s in properties["PolicyDocument"]["Statement"]
        ]
        assert found == [
            (
                "OnlyTaggedApproversApproveStaging",
                "Deny",
                [APPROVE],
                [action_arn("S", "demo")],
                # A principal without the tag: StringNotEquals on a missing key is true.
                {"StringNotEquals": {TEAM_TAG: "developers"}},
            ),
            (
                "OnlyTaggedApproversApproveProd",
                "Deny",
                [APPROVE],
                [action_arn("P", "demo")],
                {"StringNotEquals": {TEAM_TAG: "change-managers"}},
            ),
        ]

    def test_no_tagged_gate_no_policy(self) -> None:
        stack = ChildStack("iam", "demo")
        gates = [("prod", Approval(), "ApproveProd")]
        assert approval.separation_of_duties_policy(stack, Names("demo"), gates) is None
        assert "SeparationOfDutiesPolicy" not in stack.template.to_dict().get("Resources", {})

    def test_web_app_exports_it_as_a_root_output(self, web_app: Any, reference: Templates) -> None:
        policy = props(reference, "iam", "SeparationOfDutiesPolicy")["PolicyDocument"]
        assert by_sid(policy)["OnlyTaggedApproversApproveProd"]["Condition"] == {
            "StringNotEquals": {TEAM_TAG: "change-managers"}
        }
        outputs = web_app.root.to_dict()["Outputs"]
        assert (
            outputs["SeparationOfDutiesPolicyArn"]["Value"]
            == GetAtt("IamStack", "Outputs.SeparationOfDutiesPolicyArn").to_dict()
        )

    def test_without_tags_nothing_changes(self, tmp_path: Path) -> None:
        def untag(spec: dict[str, Any]) -> None:
            del spec["environments"][2]["approval"]["approver_tag"]

        templates = variant(SPEC, tmp_path, untag)
        assert "SeparationOfDutiesPolicy" not in templates["iam"]["Resources"]
        approve = by_sid(props(templates, "iam", "ProdApproverPolicy")["PolicyDocument"])
        assert "Condition" not in approve["ApproveThisGateOnly"]


# -- E9005: roles that services assume never approve --------------------------------------------

ACTION_ARN = f"arn:aws:codepipeline:us-east-1:123456789012:{PIPELINE}/ApproveProd/Approve"
PIPELINE_TRUST = document(
    statement(Principal={"Service": "codepipeline.amazonaws.com"}, Action="sts:AssumeRole")
)
PEOPLE_TRUST = document(
    statement(
        Principal={"AWS": "arn:aws:iam::123456789012:role/release-managers"},
        Action="sts:AssumeRole",
    )
)
APPROVING = statement(Action=[APPROVE], Resource=[ACTION_ARN])
READING = statement(Action=["codepipeline:GetPipelineState"], Resource=[ACTION_ARN])


def attached(*statements: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """An AWS::IAM::Policy attached to the role `Role` by Ref."""
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "p",
            "Roles": [{"Ref": "Role"}],
            "PolicyDocument": document(*statements),
            **properties,
        },
    }


def with_properties(resource: dict[str, Any], **properties: Any) -> dict[str, Any]:
    result = copy.deepcopy(resource)
    result["Properties"].update(properties)
    return result


SERVICE_ROLE_APPROVAL = [
    case("service-role-reads-the-pipeline", {"Role": role(READING, trust=PIPELINE_TRUST)}),
    case("people-role-approves", {"Role": role(APPROVING, trust=PEOPLE_TRUST)}),
    case(
        "service-role-denied",
        {"Role": role(statement(Effect="Deny", Action=APPROVE, Resource=ACTION_ARN))},
    ),
    case(
        "other-put-pattern",
        {"Role": role(statement(Action="codepipeline:PutJob*", Resource=ACTION_ARN))},
    ),
    case(
        "policy-attached-to-a-people-role",
        {"Role": role(trust=PEOPLE_TRUST), "Policy": attached(APPROVING)},
    ),
    case(
        "managed-policy-nobody-attached",
        {
            "Role": role(),
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": document(APPROVING)},
            },
        },
    ),
    case(
        "approver-managed-policy-on-a-people-role",
        {
            "Role": with_properties(
                role(trust=PEOPLE_TRUST),
                ManagedPolicyArns=["arn:aws:iam::aws:policy/AWSCodePipelineApproverAccess"],
            )
        },
    ),
    case(
        "inline",
        {"Role": role(APPROVING, trust=PIPELINE_TRUST)},
        [("E9005", (*ROLE_POLICY, "Action", 0), "Role (assumed by codepipeline.amazonaws.com)")],
    ),
    case(
        "service-wildcard",
        {"Role": role(statement(Action=["codepipeline:*"], Resource=[ACTION_ARN]))},
        [
            ("E9001", (*ROLE_POLICY, "Action", 0), "'codepipeline:*'"),
            ("E9005", (*ROLE_POLICY, "Action", 0), "through 'codepipeline:*'"),
        ],
    ),
    case(
        "partial-wildcard",
        {"Role": role(statement(Action="codepipeline:Put*", Resource=ACTION_ARN))},
        [("E9005", (*ROLE_POLICY, "Action"), "through 'codepipeline:Put*'")],
    ),
    case(
        "policy-attached-by-ref",
        {"Role": role(), "Policy": attached(APPROVING)},
        [("E9005", (*POLICY, "Action", 0), "Role (assumed by codebuild.amazonaws.com)")],
    ),
    case(
        "role-policy-by-name",
        {
            "Role": with_properties(role(), RoleName="builder"),
            "Policy": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "PolicyName": "p",
                    "RoleName": "builder",
                    "PolicyDocument": document(APPROVING),
                },
            },
        },
        [("E9005", (*POLICY, "Action", 0), "may approve manual approvals")],
    ),
    case(
        "managed-policy-by-ref",
        {
            "Role": with_properties(role(), ManagedPolicyArns=[{"Ref": "Policy"}]),
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": document(APPROVING)},
            },
        },
        [("E9005", (*POLICY, "Action", 0), "may approve manual approvals")],
    ),
    case(
        "aws-managed-policy",
        {
            "Role": with_properties(
                role(trust=PIPELINE_TRUST),
                ManagedPolicyArns=[
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSCodePipeline_FullAccess"}
                ],
            )
        },
        [
            (
                "E9005",
                ("Resources", "Role", "Properties", "ManagedPolicyArns", 0),
                "through the AWS managed AWSCodePipeline_FullAccess",
            )
        ],
    ),
    case(
        "one-policy-two-service-roles",
        {
            "Role": role(),
            "Other": role(trust=PIPELINE_TRUST),
            "Policy": attached(APPROVING, Roles=[{"Ref": "Role"}, {"Ref": "Other"}]),
        },
        [
            (
                "E9005",
                (*POLICY, "Action", 0),
                "Role (assumed by codebuild.amazonaws.com) and Other (assumed by "
                "codepipeline.amazonaws.com) may approve",
            )
        ],
    ),
    case(
        "not-action",
        {"Role": role(statement(NotAction=["s3:*"], Resource=[ACTION_ARN]))},
        [
            ("E9001", (*ROLE_POLICY, "NotAction"), "NotAction"),
            ("E9003", ROLE_POLICY, "iam:PassedToService"),
            ("E9005", (*ROLE_POLICY, "NotAction"), "through NotAction"),
        ],
    ),
]


@pytest.mark.parametrize(("body", "expected"), SERVICE_ROLE_APPROVAL)
def test_service_roles_never_approve(tmp_path: Path, body: dict[str, Any], expected: Any) -> None:
    run_guardrail_case(tmp_path, body, expected)


def test_no_role_of_the_shipped_pipelines_may_approve(reference: Templates) -> None:
    """Only the approver policies (attached to people, never to a role here) approve."""
    for template in reference.values():
        for name, resource in template.get("Resources", {}).items():
            if resource["Type"] == "AWS::IAM::Role":
                assert APPROVE not in str(resource), name


# -- the release-branch policy ---------------------------------------------------------------------


class TestReleaseBranch:
    def test_web_app_prod_enters_only_from_main(self, reference: Templates) -> None:
        # The gate checks before the approvers are asked, the deploy stage before it deploys.
        assert gated_stages(reference) == {
            "ApproveProd": branch_gate("main"),
            "DeployProd": branch_gate("main"),
        }

    def test_another_release_branch_also_triggers_the_pipeline(self, tmp_path: Path) -> None:
        templates = variant(SPEC, tmp_path, lambda s: s.update(release_branch="release"))
        assert gated_stages(templates) == {
            "ApproveProd": branch_gate("release"),
            "DeployProd": branch_gate("release"),
        }
        (trigger,) = props(templates, "pipeline", "Pipeline")["Triggers"]
        (push,) = trigger["GitConfiguration"]["Push"]
        assert push["Branches"] == {"Includes": ["main", "release"]}

    def test_production_true_chooses_the_environment(self, tmp_path: Path) -> None:
        def staging_is_production(spec: dict[str, Any]) -> None:
            spec["environments"][1]["production"] = True
            # Production never runs chaos experiments: the reference's experiment after
            # staging moves to the environment before it.
            assert spec["chaos"]["environment"] == "staging"
            spec["chaos"]["environment"] = "dev"

        templates = variant(SPEC, tmp_path, staging_is_production)
        assert gated_stages(templates) == {"DeployStaging": branch_gate("main")}

    def test_codecommit_sources_are_checked_too(self, tmp_path: Path) -> None:
        def codecommit(spec: dict[str, Any]) -> None:
            spec["source"] = {"provider": "codecommit", "repository": "storefront"}

        templates = variant(SPEC, tmp_path, codecommit)
        assert gated_stages(templates) == {
            "ApproveProd": branch_gate("main"),
            "DeployProd": branch_gate("main"),
        }

    def test_s3_sources_have_no_branch_to_check(self, tmp_path: Path) -> None:
        def s3(spec: dict[str, Any]) -> None:
            spec["source"] = {"provider": "s3", "bucket": "acme-src", "object_key": "app.zip"}

        templates = variant(SPEC, tmp_path, s3)
        assert gated_stages(templates) == {}

    def test_serverless_prod_stage_is_checked(self) -> None:
        templates = rendered(build_set(REPO / "pipelines" / "serverless.yaml"))
        assert gated_stages(templates) == {"DeployProd": branch_gate("main")}


# -- E9603 learns VariableCheck -------------------------------------------------------------------


def variable_rule(**configuration: Any) -> dict[str, Any]:
    return {
        "Name": "ReleaseBranchOnly",
        "RuleTypeId": type_id("Rule", "VariableCheck"),
        "Configuration": configuration,
    }


def entry(*rules: dict[str, Any]) -> dict[str, Any]:
    return with_stage(
        pipeline_template(),
        2,
        BeforeEntry={"Conditions": [{"Result": "FAIL", "Rules": list(rules)}]},
    )


RULE = ("Resources", "Pipeline", "Properties", "Stages", 2, "BeforeEntry", "Conditions", 0)
CHECK = ("Variable", "#{SourceVariables.BranchName}")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            with_stage(pipeline_template(), 2, BeforeEntry=branch_gate("main")), [], id="rendered"
        ),
        pytest.param(
            entry(
                variable_rule(
                    Variable="#{BuildVariables.VERSION}", Operator="MATCHES", Value="^1\\."
                )
            ),
            [],
            id="matches",
        ),
        pytest.param(
            entry(variable_rule(**dict([CHECK]), Operator="GT", Value="main")),
            [
                (
                    (*RULE, "Rules", 0, "Configuration", "Operator"),
                    "VariableCheck Operator 'GT' is not one of EQ, NE, CONTAINS, MATCHES",
                )
            ],
            id="unknown-operator",
        ),
        pytest.param(
            entry(variable_rule(**dict([CHECK]), Operator="EQ")),
            [((*RULE, "Rules", 0, "Configuration"), "a VariableCheck rule needs Value")],
            id="no-value",
        ),
        pytest.param(
            entry(variable_rule(**dict([CHECK]), Operator="EQ", Value="main", Branch="main")),
            [
                (
                    (*RULE, "Rules", 0, "Configuration", "Branch"),
                    "takes Variable, Value, Operator, not 'Branch'",
                )
            ],
            id="unknown-key",
        ),
        pytest.param(
            entry(variable_rule(Variable="main", Operator="EQ", Value="main")),
            [
                (
                    (*RULE, "Rules", 0, "Configuration", "Variable"),
                    "VariableCheck Variable 'main' is not a variable reference",
                )
            ],
            id="constant-variable",
        ),
        pytest.param(
            entry({"Name": "R", "RuleTypeId": type_id("Rule", "VariableCheck")}),
            [((*RULE, "Rules", 0), "a VariableCheck rule without Configuration")],
            id="no-configuration",
        ),
    ],
)
def test_stage_conditions_check_variable_rules(
    tmp_path: Path, body: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]
) -> None:
    found = lint_dict(tmp_path, body)
    assert [(rule, path) for rule, path, _ in found] == [("E9603", path) for path, _ in expected]
    for (_, _, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message, message


# -- spec errors ---------------------------------------------------------------------------------

BAD_SPECS = REPO / "tests" / "bad_specs"
EXPECTED = yaml.safe_load((BAD_SPECS / "expected.yaml").read_text(encoding="utf-8"))
GOVERNANCE_SPECS = {
    "approver-tag-key-aws-prefix.yaml": (
        "environments[1].approval.approver_tag.key: 'aws:team' is not a valid tag key: 1-128 "
        "characters of letters, digits, spaces and _.:/=+-@, not starting with 'aws:'"
    ),
    "approver-tag-value-invalid.yaml": (
        "environments[1].approval.approver_tag.value: 'change-managers!' is not a valid tag "
        "value: use 1-256 letters, digits, spaces and _.:/=+-@ (IAM's tag characters)"
    ),
    "production-marked-twice.yaml": (
        "environments[2].production: environments[1] (staging) is already production; mark one "
        "environment production: true (later environments are reached only through it)"
    ),
    "release-branch-with-s3.yaml": (
        "release_branch: provider s3 has no branch to check, so production cannot be limited "
        "to one; remove release_branch"
    ),
    "release-branch-glob.yaml": (
        "release_branch: 'release/*' is not a branch name: production compares it with the "
        "run's branch exactly, so it takes no spaces or glob characters (* ? [ ])"
    ),
    "release-branch-codecommit-differs.yaml": (
        "release_branch: the CodeCommit source action always checks out source.branch "
        "('develop'), so no run would reach production; set release_branch to 'develop' or "
        "remove it"
    ),
}


@pytest.mark.parametrize("name", sorted(GOVERNANCE_SPECS))
def test_spec_errors(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["validate", f"tests/bad_specs/{name}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.endswith(f": {GOVERNANCE_SPECS[name]}\n"), result.stderr
    # tests/test_spec_errors.py holds every bad spec to the same line in expected.yaml.
    assert EXPECTED[name]["message"] + "\n" == result.stderr
