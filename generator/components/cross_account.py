"""Delivery into other accounts and regions: the roles that target accounts give the pipeline,
the regional artifact stores, and the StackSet roles that create those stores.

Everything other accounts and regions must find is named from the pipeline name, account and
region alone, so no stack needs another's outputs:

- target accounts: `<pipeline>-cross-account-deploy` (the action role) and
  `<pipeline>-cfn-execution` (CloudFormation's role), under the pipeline's role path;
- the tooling account: the pipeline role `<pipeline>-pipeline`, regional buckets
  `<pipeline>-<account>-<region>` and keys aliased `alias/pipegen/<pipeline>/artifacts`;
- the StackSet roles `<pipeline>-stackset-admin` and `<pipeline>-stackset-execution`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from awacs import cloudformation as cfn
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import sts
from awacs.aws import ArnEquals, Condition, ForAnyValueStringEquals, Principal, StringEquals
from troposphere import Ref, Sub, cloudformation

from generator.assembly.stack import ChildStack
from generator.components import cloudformation_deploy as deploy
from generator.components.grants import ConditionalGrant, Grant
from generator.components.iam import RoleBuilder, named_role_arn, service
from generator.naming import Names

DEPLOY_ROLE = "cross-account-deploy"
EXECUTION_ROLE = "cfn-execution"
PIPELINE_ROLE = "pipeline"
STACKSET_ADMIN = "stackset-admin"
STACKSET_EXECUTION = "stackset-execution"
REGIONAL_STORE_STACKSET = "regional-artifact-stores"


def role_name(names: Names, purpose: str) -> str:
    return f"{names.pipeline}-{purpose}"


@dataclass(frozen=True)
class Tooling:
    """The account and region that run the pipeline."""

    account: str
    region: str


def regional_bucket(names: Names, account: str, region: str) -> str:
    return f"{names.pipeline}-{account}-{region}"


def regional_log_bucket(names: Names, account: str, region: str) -> str:
    return f"{regional_bucket(names, account, region)}-logs"


def target_role_arns(names: Names, account: str) -> list[Sub]:
    """The deploy and execution roles of one target account: they read artifacts."""
    return [
        named_role_arn(names.pipeline, role_name(names, purpose), account)
        for purpose in (DEPLOY_ROLE, EXECUTION_ROLE)
    ]


def trusted_pipeline_role(names: Names, tooling: Tooling) -> tuple[Principal, Condition]:
    """Trust the tooling account only through the pipeline role's exact ARN: the role does
    not exist yet when target accounts create their roles, and IAM refuses a principal that
    does not exist, so the account is the principal and the role ARN the condition."""
    pipeline_role = named_role_arn(names.pipeline, role_name(names, PIPELINE_ROLE), tooling.account)
    return (
        Principal("AWS", [Sub(f"arn:${{AWS::Partition}}:iam::{tooling.account}:root")]),
        Condition(ArnEquals({"aws:PrincipalArn": pipeline_role})),
    )


def artifact_read_grants(
    names: Names, tooling: Tooling, regions: Sequence[str]
) -> list[Grant | ConditionalGrant]:
    """Get and decrypt the pipeline's artifacts in every regional store, nothing else."""
    buckets = [tooling_bucket(names, tooling, region) for region in regions]
    return [
        (
            "GetPipelineArtifacts",
            [s3_actions.GetObject, s3_actions.GetObjectVersion],
            [Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/*") for bucket in buckets],
        ),
        (
            "DecryptPipelineArtifacts",
            [kms_actions.Decrypt],
            [
                Sub(f"arn:${{AWS::Partition}}:kms:{region}:{tooling.account}:key/*")
                for region in regions
            ],
            Condition(ForAnyValueStringEquals({"kms:ResourceAliases": names.key_alias})),
        ),
    ]


def tooling_bucket(names: Names, tooling: Tooling, region: str) -> str:
    """The artifact bucket of `region`. The pipeline region's store is the main one, which
    has the same fixed name for this purpose."""
    return regional_bucket(names, tooling.account, region)


def target_roles(
    stack: ChildStack,
    names: Names,
    tooling: Tooling,
    regions: Sequence[str],
    apps: Sequence[deploy.AppStack],
) -> None:
    """The target-account template (for a service-managed StackSet on the OUs): the deploy
    role the pipeline assumes, CloudFormation's execution role and its boundary."""
    principal, condition = trusted_pipeline_role(names, tooling)
    reads = artifact_read_grants(names, tooling, regions)
    deployer = RoleBuilder(
        logical_id="CrossAccountDeployRole",
        description=f"Pipeline {names.pipeline} deploys its application stacks in this account",
        trust=principal,
        trust_condition=condition,
        pipeline=names.pipeline,
        role_name=role_name(names, DEPLOY_ROLE),
    )
    deployer.allow(
        "DeployTheApplicationStacks",
        [
            cfn.CreateStack,
            cfn.UpdateStack,
            cfn.DescribeStacks,
            cfn.DescribeStackEvents,
            cfn.GetTemplate,
            cfn.CreateChangeSet,
            cfn.DescribeChangeSet,
            cfn.ExecuteChangeSet,
            cfn.DeleteChangeSet,
        ],
        sorted({app.stack_arn() for app in apps}, key=str),
    )
    execution_arn = named_role_arn(names.pipeline, role_name(names, EXECUTION_ROLE))
    deployer.allow(
        "PassTheExecutionRole",
        [iam_actions.PassRole],
        [execution_arn],
        Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
    )
    for grant in reads:
        deployer.allow(*grant)
    deployer.build(stack)
    # One execution role serves every wave's stack in this account: all their grants.
    merged = replace(apps[0], environment="target")
    deploy.permissions_boundary(stack, names, merged)
    deploy.execution_role(
        names, merged, artifact_grants=reads, role_name=role_name(names, EXECUTION_ROLE)
    ).build(stack)


def stackset_roles(stack: ChildStack, names: Names, tooling: Tooling) -> None:
    """The self-managed StackSet roles that create the regional artifact stores in the
    tooling account (AWS's documented pair, named for this pipeline and scoped to it)."""
    execution_arn = Sub(
        f"arn:${{AWS::Partition}}:iam::{tooling.account}:role/"
        f"{role_name(names, STACKSET_EXECUTION)}"
    )
    admin = RoleBuilder(
        logical_id="StackSetAdministrationRole",
        description=f"CloudFormation StackSets administers {names.pipeline}'s regional stores",
        trust=service("cloudformation"),
        trust_condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
        pipeline=names.pipeline,
        role_name=role_name(names, STACKSET_ADMIN),
        path="/",
    )
    admin.allow("AssumeTheExecutionRole", [sts.AssumeRole], [execution_arn])
    admin_arn = admin.build(stack)
    execution = RoleBuilder(
        logical_id="StackSetExecutionRole",
        description=f"Creates the regional artifact stores of {names.pipeline}",
        trust=Principal("AWS", [admin_arn]),
        pipeline=names.pipeline,
        role_name=role_name(names, STACKSET_EXECUTION),
        path="/",
    )
    instance_stacks = Sub(
        "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:"
        f"stack/StackSet-{names.pipeline}-{REGIONAL_STORE_STACKSET}-*"
    )
    execution.allow(
        "RunTheStoreStacks",
        [
            cfn.CreateStack,
            cfn.UpdateStack,
            cfn.DeleteStack,
            cfn.DescribeStacks,
            cfn.DescribeStackEvents,
            cfn.GetTemplate,
        ],
        [instance_stacks],
    )
    execution.allow("CreateKeys", [kms_actions.CreateKey], ["*"])
    keys = Sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*")
    execution.allow(
        "ConfigureTheKeys",
        [
            kms_actions.DescribeKey,
            kms_actions.EnableKeyRotation,
            kms_actions.GetKeyRotationStatus,
            kms_actions.PutKeyPolicy,
            kms_actions.GetKeyPolicy,
            kms_actions.TagResource,
            kms_actions.UntagResource,
            kms_actions.ListResourceTags,
            kms_actions.UpdateKeyDescription,
            kms_actions.ReplicateKey,
        ],
        [keys],
    )
    execution.allow(
        "AliasTheKeys",
        [kms_actions.CreateAlias, kms_actions.DeleteAlias, kms_actions.UpdateAlias],
        [Sub(f"arn:${{AWS::Partition}}:kms:*:${{AWS::AccountId}}:{names.key_alias}"), keys],
    )
    execution.allow(
        "CreateTheBuckets",
        [
            s3_actions.CreateBucket,
            s3_actions.DeleteBucket,
            s3_actions.PutBucketPolicy,
            s3_actions.GetBucketPolicy,
            s3_actions.DeleteBucketPolicy,
            s3_actions.PutEncryptionConfiguration,
            s3_actions.PutBucketVersioning,
            s3_actions.PutBucketPublicAccessBlock,
            s3_actions.PutBucketOwnershipControls,
            s3_actions.PutBucketLogging,
            s3_actions.PutLifecycleConfiguration,
            s3_actions.PutBucketTagging,
            s3_actions.GetBucketLocation,
        ],
        [Sub(f"arn:${{AWS::Partition}}:s3:::{names.pipeline}-{tooling.account}-*")],
    )
    execution.build(stack)


def regional_stores_stackset(
    stack: ChildStack,
    names: Names,
    tooling: Tooling,
    regions: Sequence[str],
    template_url: Any,
    primary_key_arn: Any,
) -> cloudformation.StackSet:
    """One regional store in the tooling account per region other than the pipeline's."""
    return stack.add(
        cloudformation.StackSet(
            "RegionalArtifactStores",
            StackSetName=f"{names.pipeline}-{REGIONAL_STORE_STACKSET}",
            Description=f"Artifact bucket and KMS key of pipeline {names.pipeline} per region",
            PermissionModel="SELF_MANAGED",
            AdministrationRoleARN=Sub(
                f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/"
                f"{role_name(names, STACKSET_ADMIN)}"
            ),
            ExecutionRoleName=role_name(names, STACKSET_EXECUTION),
            TemplateURL=template_url,
            Parameters=[
                cloudformation.Parameter(
                    ParameterKey="PrimaryKeyArn", ParameterValue=primary_key_arn
                )
            ],
            OperationPreferences=cloudformation.OperationPreferences(
                RegionConcurrencyType="PARALLEL",
                MaxConcurrentPercentage=100,
                FailureToleranceCount=0,
            ),
            StackInstancesGroup=[
                cloudformation.StackInstances(
                    DeploymentTargets=cloudformation.DeploymentTargets(
                        Accounts=[Ref("AWS::AccountId")]
                    ),
                    Regions=list(regions),
                )
            ],
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )
