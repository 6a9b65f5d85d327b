"""The multi-region blueprint: the reference spec (and variants) built in-process, with partial
assertions on the templates. The committed output/ is the snapshot; these tests pin the
contracts: an artifact store in every region an action runs in, created by a StackSet the
pipeline stack waits for; target-account roles that trust the pipeline role alone; keys and
buckets that give target roles read access only; waves split at CodePipeline's 50 actions per
stage; batches from max_concurrent_percentage; the StackSet actions; the README's three steps;
and builds that stay lint-clean and quick."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import build, writer
from generator.assembly.assemble import TemplateSet
from generator.cli import main
from tests.template_reading import (
    Templates,
    actions,
    as_list,
    build_set,
    deploy_stages,
    props,
    rendered,
    role_policies,
    stages,
    sub_text,
    variant,
    write_variant,
)

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "pipelines" / "multi-region.yaml"
SPEC: dict[str, Any] = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
PIPELINE = SPEC["name"]
TOOLING = SPEC["tooling_account"]
HOME = SPEC["region"]
TARGET_ACCOUNTS = ["222222222222", "333333333333", "444444444444"]
TARGET_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]  # first-use order
OTHER_REGIONS = [r for r in TARGET_REGIONS if r != HOME]
ROLE_PATH = f"/pipegen/{PIPELINE}/"
PIPELINE_ROLE_ARN = f"arn:${{AWS::Partition}}:iam::{TOOLING}:role{ROLE_PATH}{PIPELINE}-pipeline"
ALIAS = f"alias/pipegen/{PIPELINE}/artifacts"
OU_A, OU_B = "ou-ab12-cdef3456", "ou-ab12-fedc6543"
Mutate = Callable[[dict[str, Any]], None]


def target_role_arn(account: str, purpose: str, pipeline: str = PIPELINE) -> str:
    return f"arn:${{AWS::Partition}}:iam::{account}:role/pipegen/{pipeline}/{pipeline}-{purpose}"


TARGET_ROLES = {
    target_role_arn(account, purpose)
    for account in TARGET_ACCOUNTS
    for purpose in ("cross-account-deploy", "cfn-execution")
}


# -- specs -----------------------------------------------------------------------------------


def wave(name: str, targets: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"name": name, "deploy": {"targets": targets, **options}}


def account_targets(first: int, count: int, regions: list[str]) -> list[dict[str, Any]]:
    return [{"account": str(first + i), "regions": regions} for i in range(count)]


def waves(name: str, environments: list[dict[str, Any]], **top: Any) -> Mutate:
    """A mutation that replaces the reference's name, waves and any top-level keys."""

    def mutate(data: dict[str, Any]) -> None:
        data["name"] = name
        data["environments"] = environments
        data.update(top)

    return mutate


# 3 waves, 2 OUs, 4 regions; each wave gives all its OUs the same regions.
STACKSETS = waves(
    "mr-stacksets",
    [
        wave(
            "canary",
            [{"ou": OU_A, "regions": ["us-east-1", "eu-west-1"]}],
            max_concurrent_percentage=50,
            failure_tolerance_percentage=0,
            parameters={"Stage": "canary"},
        ),
        wave(
            "europe",
            [{"ou": OU_B, "regions": ["us-east-1", "eu-west-1"]}],
            max_concurrent_percentage=25,
            failure_tolerance_percentage=10,
        ),
        {
            **wave(
                "global",
                [
                    {"ou": OU_A, "regions": ["eu-central-1", "ap-southeast-2"]},
                    {"ou": OU_B, "regions": ["eu-central-1", "ap-southeast-2"]},
                ],
                max_concurrent_percentage=100,
                failure_tolerance_percentage=20,
            ),
            "approval": {"approvers_email": "release-managers@acme.example.com"},
        },
    ],
    deploy_mode="stacksets",
)
# 3 waves, 4 regions, 21 accounts; the last wave (15 accounts x 4 regions) splits in two stages.
CLOUDFORMATION = waves(
    "mr-cloudformation",
    [
        wave("canary", account_targets(500000000000, 1, ["us-east-1"])),
        wave(
            "europe",
            account_targets(500000000001, 5, ["eu-west-1", "eu-central-1"]),
            max_concurrent_percentage=40,
        ),
        {
            **wave(
                "global",
                account_targets(500000000006, 15, TARGET_REGIONS),
                max_concurrent_percentage=50,
            ),
            "approval": {"approvers_email": "release-managers@acme.example.com"},
        },
    ],
)


# -- reading ---------------------------------------------------------------------------------


def text(value: Any) -> str:
    """An ARN as written: the text of an Fn::Sub, a literal as is, anything else as JSON."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return sub_text(value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def extras(template_set: TemplateSet) -> Templates:
    return {path: t.to_dict() for path, t in template_set.extra_templates.items()}


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The statements of every inline policy of `role` in one template."""
    return [
        statement
        for res in template["Resources"].values()
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role} in res["Properties"]["Roles"]
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
    ]


def allow_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(resource, statement) for every Allow in every policy document of a template."""
    found = []
    for name, res in template["Resources"].items():
        properties = res.get("Properties", {})
        for key in ("PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy"):
            for statement in properties.get(key, {}).get("Statement", []):
                if statement["Effect"] == "Allow":
                    found.append((name, statement))
    return found


def aws_principals(statement: dict[str, Any]) -> set[str]:
    principal = statement.get("Principal", {})
    if not isinstance(principal, dict):
        return {text(principal)}
    return {text(p) for p in as_list(principal.get("AWS", []))}


def pipeline_stack(root: dict[str, Any]) -> dict[str, Any]:
    (stack,) = [
        res
        for res in root["Resources"].values()
        if res["Type"] == "AWS::CloudFormation::Stack"
        and text(res["Properties"]["TemplateURL"]).endswith("stacks/pipeline.yaml")
    ]
    return stack


def action_regions(templates: Templates) -> list[str]:
    """The region of every action of the pipeline (the pipeline's own when it has none)."""
    return [
        action.get("Region", HOME)
        for stage in stages(templates).values()
        for action in stage["Actions"]
    ]


def store_regions(pipeline: dict[str, Any]) -> list[Any]:
    return [store["Region"] for store in pipeline["ArtifactStores"]]


def run_orders(templates: Templates, stage: str) -> list[int]:
    return [a["RunOrder"] for a in stages(templates)[stage]["Actions"]]


def arn_pattern(arn: str, region: str, account: str) -> re.Pattern[str]:
    """An IAM resource pattern, with its pseudo parameters resolved as in `region`/`account`."""
    resolved = (
        arn.replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", region)
        .replace("${AWS::AccountId}", account)
    )
    return re.compile(".*".join(re.escape(part) for part in resolved.split("*")))


def allows(statements: list[dict[str, Any]], action: str, arn: str, region: str, acct: str) -> bool:
    """Whether an Allow grants `action` on `arn` to a role whose template was deployed in
    `region` of account `acct` (conditions aside)."""
    return any(
        s["Effect"] == "Allow"
        and action in as_list(s["Action"])
        and any(arn_pattern(text(r), region, acct).fullmatch(arn) for r in as_list(s["Resource"]))
        for s in statements
    )


def readme_steps(readme: str) -> list[str]:
    """The text of the README's numbered sections, in the order they appear."""
    sections = re.split(r"^## ", readme, flags=re.MULTILINE)[1:]
    return [s for s in sections if re.match(r"\d+\. ", s)]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_set() -> TemplateSet:
    return build_set(REFERENCE)


@pytest.fixture(scope="module")
def reference(reference_set: TemplateSet) -> Templates:
    return rendered(reference_set)


@pytest.fixture(scope="module")
def root(reference_set: TemplateSet) -> dict[str, Any]:
    return reference_set.root.to_dict()


@pytest.fixture(scope="module")
def prerequisites(reference_set: TemplateSet) -> Templates:
    return extras(reference_set)


@pytest.fixture(scope="module")
def stacksets_set(tmp_path_factory: pytest.TempPathFactory) -> TemplateSet:
    return build_set(write_variant(SPEC, tmp_path_factory.mktemp("stacksets"), STACKSETS))


@pytest.fixture(scope="module")
def stacksets(stacksets_set: TemplateSet) -> Templates:
    return rendered(stacksets_set)


# -- artifact stores -------------------------------------------------------------------------


class TestArtifactStores:
    def test_every_region_an_action_runs_in_has_exactly_one_store(self, reference: Templates):
        """CodePipeline replicates an action's input artifacts to the store of the action's
        region; a store no action uses is a bucket for nothing, a missing one fails the
        pipeline's creation."""
        pipeline = props(reference, "pipeline", "Pipeline")
        assert "ArtifactStore" not in pipeline, (
            "ArtifactStore and ArtifactStores exclude each other"
        )
        regions = store_regions(pipeline)
        assert regions[0] == {"Ref": "AWS::Region"}, "the home store comes first, as the region"
        assert regions[1:] == OTHER_REGIONS
        assert set(action_regions(reference)) == {HOME, *OTHER_REGIONS} == set(TARGET_REGIONS)

    def test_actions_in_the_pipeline_region_carry_no_region(self, reference: Templates):
        """The home store is keyed by AWS::Region, not by a literal; an action naming the
        pipeline's region literally would look for a store that the map does not list."""
        deploys = [a for s in deploy_stages(reference) for a in stages(reference)[s]["Actions"]]
        assert {a.get("Region") for a in deploys} == {None, *OTHER_REGIONS}
        for action in deploys:
            account, region = action["Name"].split("-", 1)
            assert action.get("Region") == (None if region == HOME else region), action["Name"]
            assert account in TARGET_ACCOUNTS

    def test_home_store_is_the_artifact_store_stack(self, reference: Templates):
        (home,) = [
            s["ArtifactStore"]
            for s in props(reference, "pipeline", "Pipeline")["ArtifactStores"]
            if s["Region"] == {"Ref": "AWS::Region"}
        ]
        assert home["Location"] == {"Ref": "ArtifactBucketName"}
        assert home["EncryptionKey"] == {"Id": {"Ref": "ArtifactKeyArn"}, "Type": "KMS"}

    def test_regional_stores_are_named_from_pipeline_account_and_region(
        self, reference: Templates, prerequisites: Templates
    ):
        """Target accounts and the pipeline find every store by name, without outputs: the
        bucket is <pipeline>-<account>-<region>, the key aliased alias/pipegen/<pipeline>/
        artifacts in the tooling account and that region."""
        for store in props(reference, "pipeline", "Pipeline")["ArtifactStores"][1:]:
            region = store["Region"]
            assert store["ArtifactStore"]["Type"] == "S3"
            assert store["ArtifactStore"]["Location"] == f"{PIPELINE}-{TOOLING}-{region}"
            key = store["ArtifactStore"]["EncryptionKey"]
            assert key["Type"] == "KMS"
            # The replica of the pipeline's multi-Region key: same key id, by ARN.
            assert text(key["Id"]) == (
                f"arn:${{AWS::Partition}}:kms:{region}:${{AWS::AccountId}}:key/${{KeyId}}"
            ), "that region's key"
        regional = prerequisites["stacks/regional-artifact-store.yaml"]["Resources"]
        assert regional["ArtifactBucket"]["Properties"]["BucketName"] == {
            "Fn::Sub": f"{PIPELINE}-${{AWS::AccountId}}-${{AWS::Region}}"
        }
        assert regional["ArtifactKeyAlias"]["Properties"]["AliasName"] == ALIAS
        home = props(reference, "artifact-store", "ArtifactBucket")["BucketName"]
        assert home == f"{PIPELINE}-{TOOLING}-{HOME}", "the home bucket follows the same rule"
        assert props(reference, "artifact-store", "ArtifactKeyAlias")["AliasName"] == ALIAS

    def test_names_follow_another_pipeline_account_and_region(self, tmp_path: Path):
        """Nothing in the names is left over from the reference: change all three inputs and
        every store, and every grant of the target roles, follows."""
        mutate = waves(
            "mr-other",
            [wave("only", [{"account": "222222222222", "regions": ["eu-west-1", "us-west-2"]}])],
            tooling_account="999999999999",
            region="eu-west-1",
        )
        template_set = build_set(write_variant(SPEC, tmp_path, mutate))
        templates = rendered(template_set)
        pipeline = props(templates, "pipeline", "Pipeline")
        assert store_regions(pipeline) == [{"Ref": "AWS::Region"}, "us-west-2"]
        assert pipeline["ArtifactStores"][1]["ArtifactStore"]["Location"] == (
            "mr-other-999999999999-us-west-2"
        )
        key = pipeline["ArtifactStores"][1]["ArtifactStore"]["EncryptionKey"]["Id"]
        assert ":kms:us-west-2:${AWS::AccountId}:key/${KeyId}" in text(key)
        regional = extras(template_set)["stacks/regional-artifact-store.yaml"]["Resources"]
        assert regional["ArtifactKeyAlias"]["Properties"]["AliasName"] == (
            "alias/pipegen/mr-other/artifacts"
        )
        assert props(templates, "artifact-store", "ArtifactBucket")["BucketName"] == (
            "mr-other-999999999999-eu-west-1"
        )
        target_roles = extras(template_set)["prerequisites/target-roles.yaml"]
        grants = {s["Sid"]: s for s in role_statements(target_roles, "CrossAccountDeployRole")}
        assert [text(r) for r in grants["GetPipelineArtifacts"]["Resource"]] == [
            "arn:${AWS::Partition}:s3:::mr-other-999999999999-eu-west-1/*",
            "arn:${AWS::Partition}:s3:::mr-other-999999999999-us-west-2/*",
        ]
        stack_set = template_set.root.to_dict()["Resources"]["RegionalArtifactStores"]
        assert stack_set["Properties"]["StackInstancesGroup"][0]["Regions"] == ["us-west-2"]

    def test_cross_account_stores_name_their_key_by_key_arn(self, reference: Templates):
        """The actions of a regional store run with target-account roles: an alias would
        resolve in the target account, where it names no key (or the wrong one)."""
        for store in props(reference, "pipeline", "Pipeline")["ArtifactStores"][1:]:
            key = text(store["ArtifactStore"]["EncryptionKey"]["Id"])
            assert ":alias/" not in key, store["Region"]

    def test_no_other_region_no_regional_stores(self, tmp_path: Path):
        """Every target in the pipeline's region: a single ArtifactStore, and no StackSet
        for the pipeline stack to wait for."""
        mutate = waves(
            "mr-home-only",
            [wave("only", account_targets(500000000000, 2, [HOME]))],
        )
        template_set = build_set(write_variant(SPEC, tmp_path, mutate))
        pipeline = props(rendered(template_set), "pipeline", "Pipeline")
        assert "ArtifactStores" not in pipeline
        assert pipeline["ArtifactStore"]["Location"] == {"Ref": "ArtifactBucketName"}
        root = template_set.root.to_dict()
        assert "RegionalArtifactStores" not in root["Resources"]
        assert "RegionalArtifactStores" not in as_list(pipeline_stack(root).get("DependsOn", []))

    def test_pipeline_region_without_targets_still_has_its_store(self, tmp_path: Path):
        """Source and build run at home even when no wave deploys there."""
        mutate = waves("mr-away", [wave("only", account_targets(500000000000, 1, ["eu-west-1"]))])
        template_set = build_set(write_variant(SPEC, tmp_path, mutate))
        templates = rendered(template_set)
        assert store_regions(props(templates, "pipeline", "Pipeline")) == [
            {"Ref": "AWS::Region"},
            "eu-west-1",
        ]
        assert set(action_regions(templates)) == {HOME, "eu-west-1"}
        stack_set = template_set.root.to_dict()["Resources"]["RegionalArtifactStores"]
        assert stack_set["Properties"]["StackInstancesGroup"][0]["Regions"] == ["eu-west-1"]


class TestRegionalStoreStackSet:
    def test_root_creates_the_other_regions_stores_with_the_prerequisite_roles(
        self, root: dict[str, Any], prerequisites: Templates
    ):
        """A self-managed StackSet in the tooling account: its administration role ARN and
        execution role name must be the roles step 1 of the README creates, at the path the
        ARN assumes."""
        roles = prerequisites["prerequisites/stackset-roles.yaml"]["Resources"]
        admin = roles["StackSetAdministrationRole"]["Properties"]
        execution = roles["StackSetExecutionRole"]["Properties"]
        assert (admin["RoleName"], admin["Path"]) == (f"{PIPELINE}-stackset-admin", "/")
        assert (execution["RoleName"], execution["Path"]) == (f"{PIPELINE}-stackset-execution", "/")

        stack_set = root["Resources"]["RegionalArtifactStores"]
        assert stack_set["Type"] == "AWS::CloudFormation::StackSet"
        properties = stack_set["Properties"]
        assert properties["PermissionModel"] == "SELF_MANAGED"
        assert text(properties["AdministrationRoleARN"]) == (
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{admin['RoleName']}"
        )
        assert properties["ExecutionRoleName"] == execution["RoleName"]
        (group,) = properties["StackInstancesGroup"]
        assert group["DeploymentTargets"] == {"Accounts": [{"Ref": "AWS::AccountId"}]}
        assert group["Regions"] == OTHER_REGIONS, "every target region but the pipeline's"
        assert text(properties["TemplateURL"]).endswith(
            "${TemplateKeyPrefix}stacks/regional-artifact-store.yaml"
        )
        assert stack_set["DeletionPolicy"] == "Retain", "buckets outlive a deleted pipeline"

    def test_pipeline_stack_waits_for_the_stores(self, root: dict[str, Any]):
        """CodePipeline checks every artifact store when the pipeline is created."""
        assert "RegionalArtifactStores" in as_list(pipeline_stack(root)["DependsOn"])

    def test_stackset_roles_are_the_documented_pair(self, prerequisites: Templates):
        """The admin role is CloudFormation's, in this account, and may assume only the
        execution role; the execution role trusts only the admin role."""
        template = prerequisites["prerequisites/stackset-roles.yaml"]
        roles = template["Resources"]
        (trust,) = roles["StackSetAdministrationRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        assert trust["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
        (assume,) = role_statements(template, "StackSetAdministrationRole")
        assert assume["Action"] == ["sts:AssumeRole"]
        assert [text(r) for r in assume["Resource"]] == [
            f"arn:${{AWS::Partition}}:iam::{TOOLING}:role/{PIPELINE}-stackset-execution"
        ]
        (trust,) = roles["StackSetExecutionRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        assert trust["Principal"] == {
            "AWS": [{"Fn::GetAtt": ["StackSetAdministrationRole", "Arn"]}]
        }
        buckets = {s["Sid"]: s for s in role_statements(template, "StackSetExecutionRole")}[
            "CreateTheBuckets"
        ]
        assert [text(r) for r in buckets["Resource"]] == [
            f"arn:${{AWS::Partition}}:s3:::{PIPELINE}-{TOOLING}-*"
        ]


# -- cross-account trust ---------------------------------------------------------------------


class TestCrossAccountRoles:
    def test_deploy_role_trusts_only_the_pipeline_role(self, prerequisites: Templates):
        """The tooling account is the principal (the pipeline role does not exist yet when
        target accounts create this role), narrowed by ArnEquals to the pipeline role's ARN."""
        role = prerequisites["prerequisites/target-roles.yaml"]["Resources"][
            "CrossAccountDeployRole"
        ]["Properties"]
        assert role["RoleName"] == f"{PIPELINE}-cross-account-deploy"
        assert role["Path"] == ROLE_PATH
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == ["sts:AssumeRole"]
        assert statement["Principal"] == {
            "AWS": [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::{TOOLING}:root"}]
        }
        assert statement["Condition"] == {
            "ArnEquals": {"aws:PrincipalArn": {"Fn::Sub": PIPELINE_ROLE_ARN}}
        }

    def test_pipeline_role_has_the_name_and_path_the_trust_expects(self, reference: Templates):
        role = props(reference, "iam", "PipelineRole")
        assert role["RoleName"] == f"{PIPELINE}-pipeline"
        assert role["Path"] == ROLE_PATH
        assert PIPELINE_ROLE_ARN.endswith(f":role{role['Path']}{role['RoleName']}")

    def test_pipeline_role_assumes_the_deploy_role_of_each_target_account(
        self, reference: Templates
    ):
        grants = {s["Sid"]: s for p in role_policies(reference, "PipelineRole").values() for s in p}
        cross_account = [text(r) for r in grants["AssumeActionRoles"]["Resource"] if "Fn::Sub" in r]
        assert cross_account == [
            target_role_arn(account, "cross-account-deploy") for account in TARGET_ACCOUNTS
        ]

    def test_execution_role_trusts_cloudformation_only(self, prerequisites: Templates):
        role = prerequisites["prerequisites/target-roles.yaml"]["Resources"]["TargetExecutionRole"][
            "Properties"
        ]
        assert role["RoleName"] == f"{PIPELINE}-cfn-execution"
        assert role["Path"] == ROLE_PATH
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }

    def test_deploy_role_passes_only_the_execution_role_to_cloudformation(
        self, prerequisites: Templates
    ):
        template = prerequisites["prerequisites/target-roles.yaml"]
        passes = [
            s
            for s in role_statements(template, "CrossAccountDeployRole")
            if "iam:PassRole" in s["Action"]
        ]
        assert [text(r) for s in passes for r in s["Resource"]] == [
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{ROLE_PATH}{PIPELINE}-cfn-execution"
        ]
        assert passes[0]["Condition"] == {
            "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
        }

    @pytest.mark.parametrize(
        "path", ["prerequisites/target-roles.yaml", "prerequisites/stackset-roles.yaml"]
    )
    def test_no_wildcard_actions(self, prerequisites: Templates, path: str):
        """Every grant names its actions; a `*` in one is a service's worth of access in
        every target account."""
        for resource, statement in allow_statements(prerequisites[path]):
            for action in as_list(statement["Action"]):
                assert "*" not in action, (resource, statement.get("Sid"), action)

    def test_execution_role_creates_roles_only_with_the_boundary(self, prerequisites: Templates):
        """Creating a role, or giving one permissions, needs the boundary condition; no
        statement without it may do either, nor lift a boundary."""
        template = prerequisites["prerequisites/target-roles.yaml"]
        boundary = template["Resources"]["TargetAppBoundary"]["Properties"]
        boundary_arn = (
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy"
            f"{boundary['Path']}{boundary['ManagedPolicyName']}"
        )
        escalating = {
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary",
        }
        granted: set[str] = set()
        for statement in role_statements(template, "TargetExecutionRole"):
            found = escalating & set(as_list(statement["Action"]))
            assert "iam:DeleteRolePermissionsBoundary" not in as_list(statement["Action"])
            if not found:
                continue
            granted |= found
            condition = statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
            assert text(condition) == boundary_arn, statement["Sid"]
        assert granted == escalating
        for statement in role_statements(template, "CrossAccountDeployRole"):
            assert not any(
                a.startswith("iam:") and a != "iam:PassRole" for a in statement["Action"]
            )

    def test_target_roles_deploy_in_every_target_region(
        self, prerequisites: Templates, reference_set: TemplateSet
    ):
        """One target-roles stack per account (README step 2) serves every target region:
        the deploy role may create the application stack, and the execution role its
        functions, in each region a wave deploys to."""
        assert f"--regions {HOME}" in reference_set.documents["LAUNCH.md"]
        template = prerequisites["prerequisites/target-roles.yaml"]
        deploy = role_statements(template, "CrossAccountDeployRole")
        execution = role_statements(template, "TargetExecutionRole")
        account = TARGET_ACCOUNTS[0]
        for region in TARGET_REGIONS:
            stack = f"arn:aws:cloudformation:{region}:{account}:stack/storefront-api/1a2b"
            function = f"arn:aws:lambda:{region}:{account}:function:storefront-api-handler"
            assert allows(deploy, "cloudformation:CreateStack", stack, HOME, account), region
            assert allows(execution, "lambda:CreateFunction", function, HOME, account), region


# -- keys and buckets ------------------------------------------------------------------------


STORES = {
    "artifact-store": lambda reference, prerequisites: reference["artifact-store"],
    "regional-artifact-store": lambda reference, prerequisites: prerequisites[
        "stacks/regional-artifact-store.yaml"
    ],
}


@pytest.mark.parametrize("store", sorted(STORES))
class TestStorePolicies:
    def test_key_policy_lets_target_roles_decrypt_and_nothing_else(
        self, reference: Templates, prerequisites: Templates, store: str
    ):
        """Target accounts read artifacts; they never encrypt, re-encrypt or administer the
        pipeline's key. Every deploy and execution role of every target account is named."""
        template = STORES[store](reference, prerequisites)
        policy = template["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]
        named: set[str] = set()
        for statement in policy["Statement"]:
            principals = aws_principals(statement)
            assert "*" not in principals, statement["Sid"]
            targets = principals & TARGET_ROLES
            if not targets:
                assert not any(f"iam::{a}:" in p for p in principals for a in TARGET_ACCOUNTS)
                continue
            named |= targets
            assert principals <= TARGET_ROLES, "no tooling principal rides on a target grant"
            assert statement["Effect"] == "Allow"
            assert as_list(statement["Action"]) == ["kms:Decrypt"], statement["Sid"]
        assert named == TARGET_ROLES

    def test_bucket_policy_lets_target_roles_get_objects_only(
        self, reference: Templates, prerequisites: Templates, store: str
    ):
        template = STORES[store](reference, prerequisites)
        policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
        granting = [s for s in policy["Statement"] if aws_principals(s) & TARGET_ROLES]
        (statement,) = granting
        assert aws_principals(statement) == TARGET_ROLES
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
        assert statement["Resource"] == [{"Fn::Sub": "${ArtifactBucket.Arn}/*"}]
        for other in policy["Statement"]:
            if other is not statement:
                assert other["Effect"] == "Deny" or not aws_principals(other), other["Sid"]
        log_policy = template["Resources"]["AccessLogBucketPolicy"]["Properties"]
        assert not any(
            aws_principals(s) & TARGET_ROLES for s in log_policy["PolicyDocument"]["Statement"]
        )


def test_pipeline_role_writes_to_every_regional_store(reference: Templates):
    """Cross-region actions read their input from their region's store; the pipeline role
    puts it there, encrypted with that region's key."""
    statements = [s for p in role_policies(reference, "PipelineRole").values() for s in p]
    keys = next(s for s in statements if s["Sid"] == "UseRegionalArtifactKeys")
    for region in OTHER_REGIONS:
        artifact = f"arn:aws:s3:::{PIPELINE}-{TOOLING}-{region}/{PIPELINE}/BuildOutput/abc"
        assert allows(statements, "s3:PutObject", artifact, HOME, TOOLING), region
        # The replica of the multi-Region key: the home key's id, in that region.
        replica = f"arn:${{AWS::Partition}}:kms:{region}:${{AWS::AccountId}}:key/${{KeyId}}"
        assert replica in [text(r) for r in keys["Resource"]], region
        assert "kms:GenerateDataKey" in keys["Action"]


# -- large waves and batches -------------------------------------------------------------------


class TestLargeWaves:
    @pytest.mark.parametrize(
        ("accounts", "regions"),
        [(30, ["us-east-1", "eu-west-1"]), (60, ["eu-west-1"])],
        ids=["30-accounts-x-2-regions", "60-accounts-x-1-region"],
    )
    def test_sixty_deployments_become_two_stages(
        self, tmp_path: Path, accounts: int, regions: list[str]
    ):
        """CodePipeline allows 50 actions in a stage: the first 50 deployments, in spec
        order, then the other 10 in DeployFleetPart2, right after; each part starts at
        RunOrder 1."""
        mutate = waves(
            "mr-fleet", [wave("fleet", account_targets(500000000000, accounts, regions))]
        )
        templates = variant(SPEC, tmp_path, mutate)
        assert deploy_stages(templates) == ["DeployFleet", "DeployFleetPart2"]
        first, second = actions(templates, "DeployFleet"), actions(templates, "DeployFleetPart2")
        assert (len(first), len(second)) == (50, 10)
        expected = [f"{500000000000 + i}-{r}" for i in range(accounts) for r in regions]
        assert [*first, *second] == expected, "spec order, every deployment once"
        assert set(run_orders(templates, "DeployFleet")) == {1}
        assert set(run_orders(templates, "DeployFleetPart2")) == {1}
        names = list(stages(templates))
        assert names.index("DeployFleetPart2") == names.index("DeployFleet") + 1

    def test_exactly_fifty_stays_one_stage(self, tmp_path: Path):
        mutate = waves(
            "mr-fifty", [wave("fleet", account_targets(500000000000, 25, TARGET_REGIONS[:2]))]
        )
        templates = variant(SPEC, tmp_path, mutate)
        assert deploy_stages(templates) == ["DeployFleet"]
        assert len(actions(templates, "DeployFleet")) == 50

    def test_unsplit_large_wave_is_a_spec_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """With split_large_waves: false, 60 deployments in one wave is the author's mistake
        to fix, reported at the wave's targets with how to fix it."""
        mutate = waves(
            "mr-unsplit",
            [wave("fleet", account_targets(500000000000, 30, ["us-east-1", "eu-west-1"]))],
            split_large_waves=False,
        )
        path = write_variant(SPEC, tmp_path, mutate)
        line = path.read_text(encoding="utf-8").splitlines().index("    targets:") + 1
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("PIPEGEN_DEBUG", raising=False)
        result = CliRunner().invoke(main, ["validate", path.name])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr == (
            f"{path.name}:{line}: environments[0].deploy.targets: wave fleet has 60 "
            "deployments, more than the 50 actions CodePipeline allows in a stage; set "
            "split_large_waves: true, or move targets to another wave\n"
        )


class TestRunOrderBatches:
    @pytest.mark.parametrize(
        ("percentage", "expected"),
        [
            (100, [1, 1, 1, 1]),
            (75, [1, 1, 1, 2]),
            (50, [1, 1, 2, 2]),
            (25, [1, 2, 3, 4]),
            (10, [1, 2, 3, 4]),
        ],
    )
    def test_percentage_of_the_wave_runs_at_once(
        self, tmp_path: Path, percentage: int, expected: list[int]
    ):
        """max_concurrent_percentage of a wave's deployments share a RunOrder, rounded down
        (never more at once than asked) but at least one, in spec order."""
        mutate = waves(
            f"mr-batch-{percentage}",
            [
                wave(
                    "fleet",
                    account_targets(500000000000, 2, ["us-east-1", "eu-west-1"]),
                    max_concurrent_percentage=percentage,
                )
            ],
        )
        templates = variant(SPEC, tmp_path, mutate)
        assert run_orders(templates, "DeployFleet") == expected

    def test_reference_europe_runs_one_at_a_time(self, reference: Templates):
        """Half of three deployments is one and a half: one at a time."""
        assert run_orders(reference, "DeployEurope") == [1, 2, 3]
        assert set(run_orders(reference, "DeployGlobal")) == {1}

    def test_batches_hold_across_a_split(self, tmp_path: Path):
        """60 deployments at 50 %: batches of 30; the split never runs more than 30 at
        once, and each stage runs its batches in order."""
        mutate = waves(
            "mr-split-batches",
            [
                wave(
                    "fleet",
                    account_targets(500000000000, 30, ["us-east-1", "eu-west-1"]),
                    max_concurrent_percentage=50,
                )
            ],
        )
        templates = variant(SPEC, tmp_path, mutate)
        assert run_orders(templates, "DeployFleet") == [1] * 30 + [2] * 20
        assert run_orders(templates, "DeployFleetPart2") == [1] * 10


# -- StackSets mode --------------------------------------------------------------------------


class TestStackSetsMode:
    def test_first_wave_creates_the_service_managed_stack_set(self, stacksets: Templates):
        (action,) = stages(stacksets)["DeployCanary"]["Actions"]
        assert action["ActionTypeId"]["Provider"] == "CloudFormationStackSet"
        configuration = action["Configuration"]
        assert configuration["PermissionModel"] == "SERVICE_MANAGED"
        assert configuration["OrganizationsAutoDeployment"].startswith("Enabled")
        assert configuration["DeploymentTargets"] == OU_A
        assert configuration["Regions"] == "us-east-1,eu-west-1"
        assert configuration["MaxConcurrentPercentage"] == "50"
        assert configuration["FailureTolerancePercentage"] == "0"
        assert configuration["TemplatePath"] == "BuildOutput::template.yaml"
        assert configuration["Capabilities"] == "CAPABILITY_IAM"
        assert configuration["Parameters"] == "ParameterKey=Stage,ParameterValue=canary"
        assert action["InputArtifacts"] == [{"Name": "BuildOutput"}]
        assert "Region" not in action, "StackSets fans out to the regions itself"

    def test_later_waves_add_instances_with_their_own_preferences(self, stacksets: Templates):
        first = stages(stacksets)["DeployCanary"]["Actions"][0]["Configuration"]
        expected = {
            "DeployEurope": (OU_B, "us-east-1,eu-west-1", "25", "10"),
            "DeployGlobal": (f"{OU_A},{OU_B}", "eu-central-1,ap-southeast-2", "100", "20"),
        }
        for stage, (ous, regions, concurrent, tolerance) in expected.items():
            (action,) = stages(stacksets)[stage]["Actions"]
            assert action["ActionTypeId"]["Provider"] == "CloudFormationStackInstances"
            configuration = action["Configuration"]
            assert configuration["StackSetName"] == first["StackSetName"]
            assert configuration["DeploymentTargets"] == ous
            assert configuration["Regions"] == regions
            assert configuration["MaxConcurrentPercentage"] == concurrent
            assert configuration["FailureTolerancePercentage"] == tolerance
            assert not {"TemplatePath", "PermissionModel"} & set(configuration)
            assert "Region" not in action
        assert deploy_stages(stacksets) == ["DeployCanary", "DeployEurope", "DeployGlobal"]
        assert "ApproveGlobal" in stages(stacksets)

    def test_no_regional_stores(self, stacksets_set: TemplateSet, stacksets: Templates):
        """Every action runs in the pipeline's region: one ArtifactStore, no StackSet of
        stores in the root, nothing for the pipeline stack to wait for."""
        pipeline = props(stacksets, "pipeline", "Pipeline")
        assert "ArtifactStores" not in pipeline
        assert pipeline["ArtifactStore"]["Location"] == {"Ref": "ArtifactBucketName"}
        root = stacksets_set.root.to_dict()
        assert "RegionalArtifactStores" not in root["Resources"]
        assert "RegionalArtifactStores" not in as_list(pipeline_stack(root).get("DependsOn", []))

    def test_action_role_operates_only_the_application_stack_set(self, stacksets: Templates):
        grants = {
            s["Sid"]: s for p in role_policies(stacksets, "StackSetActionRole").values() for s in p
        }
        operate = grants["OperateTheApplicationStackSet"]
        assert not any("*" in a for a in operate["Action"])
        stack_sets = [text(r) for r in operate["Resource"] if ":stackset" in text(r)]
        assert stack_sets and all(
            ":stackset/storefront-api-app:" in r or ":stackset-target/storefront-api-app:" in r
            for r in stack_sets
        )

    def test_each_ou_gets_only_its_regions(self, tmp_path: Path):
        """A target lists the regions it gets the application in; another target of the
        same wave must not widen them."""
        mutate = waves(
            "mr-ou-regions",
            [
                wave(
                    "only",
                    [
                        {"ou": OU_A, "regions": ["us-east-1", "eu-west-1"]},
                        {"ou": OU_B, "regions": ["eu-west-1"]},
                    ],
                )
            ],
            deploy_mode="stacksets",
        )
        templates = variant(SPEC, tmp_path, mutate)
        wanted = {(OU_A, "us-east-1"), (OU_A, "eu-west-1"), (OU_B, "eu-west-1")}
        deployed = {
            (ou, region)
            for action in stages(templates)["DeployOnly"]["Actions"]
            for ou in action["Configuration"]["DeploymentTargets"].split(",")
            for region in action["Configuration"]["Regions"].split(",")
        }
        assert deployed == wanted


# -- README ----------------------------------------------------------------------------------


class TestReadme:
    def test_three_steps_in_order_with_the_commands_filled_in(self, reference_set: TemplateSet):
        """Roles for the stores, roles in the targets, then the pipeline: each later step
        needs the roles of the one before, and every command is ready to paste."""
        readme = reference_set.documents["LAUNCH.md"]
        steps = readme_steps(readme)
        assert [s.split(".", 1)[0] for s in steps] == ["1", "2", "3"]
        stackset_roles, target_roles, pipeline = steps
        assert f"aws cloudformation deploy --region {HOME}" in stackset_roles
        assert f"--stack-name {PIPELINE}-stackset-roles" in stackset_roles
        assert "--template-file prerequisites/stackset-roles.yaml" in stackset_roles
        assert f"`{PIPELINE}-stackset-admin` and `{PIPELINE}-stackset-execution`" in stackset_roles
        assert f"(tooling account {TOOLING})" in stackset_roles

        assert f"aws cloudformation create-stack-set --region {HOME}" in target_roles
        assert f"--stack-set-name {PIPELINE}-target-roles" in target_roles
        assert "file://prerequisites/target-roles.yaml" in target_roles
        assert "CAPABILITY_NAMED_IAM" in target_roles
        assert ", ".join(TARGET_ACCOUNTS) in target_roles
        assert f"`{PIPELINE}-pipeline` of account\n{TOOLING}" in target_roles

        assert f"aws cloudformation create-stack --region {HOME}" in pipeline
        assert f"--stack-name {PIPELINE}-pipeline" in pipeline
        assert f"/{PIPELINE}/root.yaml" in pipeline
        assert f"ParameterKey=TemplateKeyPrefix,ParameterValue={PIPELINE}/" in pipeline
        assert f"ParameterKey=TemplateBucketRegion,ParameterValue={HOME}" in pipeline
        assert "CAPABILITY_NAMED_IAM" in pipeline, "the pipeline role has a name"
        assert "{{" not in readme and "{%" not in readme

    def test_stacksets_readme_names_the_ous(self, stacksets_set: TemplateSet):
        steps = readme_steps(stacksets_set.documents["LAUNCH.md"])
        # StackSets mode needs no regional stores and no target roles: only the pipeline.
        assert [s.split(".", 1)[0] for s in steps] == ["1"]
        readme = stacksets_set.documents["LAUNCH.md"]
        assert f"StackSets uses its own roles in the OUs\n{OU_A}, {OU_B}" in readme
        assert "--stack-name mr-stacksets-pipeline" in steps[0]

    def test_stacksets_readme_describes_only_what_the_root_has(self, stacksets_set: TemplateSet):
        assert "RegionalArtifactStores" not in stacksets_set.root.to_dict()["Resources"]
        assert "RegionalArtifactStores" not in stacksets_set.documents["LAUNCH.md"]


# -- whole builds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "mutate"),
    [
        pytest.param(
            "cloudformation",
            CLOUDFORMATION,
        ),
        ("stacksets", STACKSETS),
    ],
)
def test_both_deploy_modes_build_lint_clean(tmp_path: Path, mode: str, mutate: Mutate):
    """The full build: limits, then cfn-lint on every file (prerequisites and the regional
    store included); build() raises LintFailure on any finding."""
    path = write_variant(SPEC, tmp_path, mutate)
    name = yaml.safe_load(path.read_text(encoding="utf-8"))["name"]
    result = build.build([path], tmp_path / "out", cache_dir=None)
    assert result.pipelines == [name]
    folder = tmp_path / "out" / name
    cross_region = mode == "cloudformation"
    for relative, expected in (
        ("prerequisites/stackset-roles.yaml", cross_region),
        ("prerequisites/target-roles.yaml", cross_region),
        ("stacks/regional-artifact-store.yaml", cross_region),
        ("LAUNCH.md", True),
        ("README.md", True),
    ):
        assert (folder / relative).is_file() == expected, relative
    root = (folder / "root.yaml").read_text(encoding="utf-8")
    assert ("RegionalArtifactStores" in root) == (mode == "cloudformation")


@pytest.mark.parametrize(
    ("mode", "mutate"), [("cloudformation", CLOUDFORMATION), ("stacksets", STACKSETS)]
)
def test_three_waves_four_regions_compose_and_render_quickly(
    tmp_path: Path, mode: str, mutate: Mutate
):
    """Compose and render in-process, without lint: the part that every build pays for
    every spec, whatever the caches hold."""
    path = write_variant(SPEC, tmp_path, mutate)
    started = time.perf_counter()
    template_set = build_set(path)
    files = writer.render_set(template_set, "yaml")
    elapsed = time.perf_counter() - started
    print(f"{mode}: compose+render {elapsed:.3f} s, {len(files)} files")
    assert len(deploy_stages(rendered(template_set))) >= 3
    assert elapsed < 5, f"{mode}: compose+render took {elapsed:.2f} s (limit 5 s)"
