"""The self-updating pipeline: an UpdatePipeline stage right after Source that publishes the
template set committed beside the spec and updates the pipeline's own stack when it changed.

Design: one CodeBuild action, `PublishTemplates` (namespace `UpdateVariables`), runs
generator/scripts/publish_templates.py from the source (`<self_update_path>/scripts/`). It
hashes the committed set, compares the hash with the one in the running root stack's
TemplateKeyPrefix (`<base><pipeline>/<sha256>/`), and

- when they are equal exports TEMPLATES_CHANGED=false and ends: no upload, no change set;
- otherwise uploads the set under the new content-hashed prefix, creates a change set of the
  root stack with TemplateKeyPrefix set to it and every other parameter at its previous value,
  executes it with the CloudFormation role below, waits for UPDATE_COMPLETE, and exports
  TEMPLATES_CHANGED=true and TEMPLATE_PREFIX.

Why not a CloudFormation action after the build: CodePipeline has no conditional actions (a
stage condition can only skip a whole later stage), and its CloudFormation action has no
UsePreviousValue: every root parameter left out of ParameterOverrides falls back to its default,
and one without a default (TemplateBucketName, ConnectionArn, ...) fails the change set. The
script passes UsePreviousValue for each of them.

The pipeline must restart after its definition changes (RestartExecutionOnUpdate: true): the
execution that updated the pipeline is cancelled by CodePipeline, and the restarted one finds
the hashes equal and goes on. The same commit never updates twice, so there is no loop.

Roles:
- the project's role may create, describe, execute and delete change sets of the pipeline's
  root stack only (stack/<PipelineStackName>/*, no resource imports, only with the CloudFormation
  role below and templates from the template bucket), read its template's parameters
  (GetTemplateSummary, which takes no resource), put and get objects under
  `<any base>/<pipeline>/<64 characters>/` in the template bucket, and pass the CloudFormation
  role to CloudFormation; plus what every project has (its logs, the source artifact, the key).
- the CloudFormation role (`<pipeline>-self-update`, path /pipegen-self-update/<pipeline>/)
  may manage exactly the resource types the root and its nested stacks declare, scoped to the
  pipeline's names: the permission table that scopes Service Catalog launch roles
  (generator/data/launch_role_permissions.yaml), with names CloudFormation generates under the
  stack's name (`<PipelineStackName>-*`). It lives outside /pipegen/<pipeline>/, so it cannot
  change itself: a change that widens its own policies fails the update and is applied once by
  hand with the operator's credentials (the same command as the first launch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from awacs import cloudformation as cfn
from awacs import iam as iam_actions
from awacs import s3 as s3_actions
from awacs.aws import ArnEquals, Condition, Null, StringEquals, StringLike
from troposphere import Ref, Sub, iam

from generator.assembly.assemble import TEMPLATE_BUCKET, TEMPLATE_REGION
from generator.assembly.stack import ChildStack, Exported, RootParameter, StackValue
from generator.components import codebuild
from generator.components.artifact_store import ArtifactStore
from generator.components.iam import (
    POLICY_VERSION,
    RoleBuilder,
    managed_policy_documents,
    self_update_role_path,
    service,
)
from generator.components.source import SOURCE_ARTIFACT
from generator.errors import AssemblyError
from generator.naming import Names
from generator.pipeline_plan import Stage, Step
from generator.service_catalog import PROVISIONED, ProductTemplates, launch_policy

STAGE = "UpdatePipeline"
ACTION = "PublishTemplates"
NAMESPACE = "UpdateVariables"
PURPOSE = "self-update"
SCRIPT = "scripts/publish_templates.py"  # beside the templates in output/<pipeline>/
IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
TIMEOUT_MINUTES = 60  # the script gives up waiting on the stack after 55
EXPORTED = ("TEMPLATES_CHANGED", "TEMPLATE_PREFIX", "TEMPLATE_HASH", "CHANGE_SET")
SELF_UPDATE_GROUP = "Self-update"
EXECUTION_ROLE = "SelfUpdateExecutionRole"
HASH_SEGMENT = "?" * 64  # a sha256 in hex, one IAM single-character wildcard per digit
# What the Service Catalog table grants for Service Catalog itself, which a stack update with
# the role does not do: reading the published set at the catalogue's prefix and Service
# Catalog's copy of the template (the set's own location is granted below), and validating a
# template before launch.
SERVICE_CATALOG_ONLY_SIDS = ("PublishedTemplates", "ServiceCatalogCopy", "SelfUpdateRole")
SERVICE_CATALOG_ONLY_ACTIONS = (
    "cloudformation:GetTemplateSummary",
    "cloudformation:ValidateTemplate",
)


def template_path(spec: Any) -> str:
    """Where the source repository holds the pipeline's templates."""
    return str(spec.self_update_path or f"output/{spec.name}")


def stack_name_parameter(names: Names) -> RootParameter:
    """The root stack's own name, which the roles are scoped to. Lower case: S3 lower-cases
    the bucket names CloudFormation generates from it, and the roles name those buckets."""
    return RootParameter(
        name="PipelineStackName",
        description="Name of this stack (the root), which the pipeline updates itself in: keep "
        "the default, or give the name you launch the stack with.",
        label="Pipeline stack name",
        group=SELF_UPDATE_GROUP,
        default=f"{names.pipeline}-pipeline",
        allowed_pattern=r"^[a-z][a-z0-9-]{0,127}$",
        constraint_description="A stack name in lower case: letters, digits and hyphens, "
        "starting with a letter.",
        min_length=1,
        max_length=128,
    )


def execution_role_name(names: Names) -> str:
    return f"{names.pipeline}-{PURPOSE}"


def execution_role_path(names: Names) -> str:
    """Outside /pipegen/<pipeline>/, which the role may manage: it cannot change itself."""
    return self_update_role_path(names.pipeline)


def buildspec(names: Names) -> str:
    """Inline, without Fn::Sub: only `$NAME` forms, never `${`."""
    script = f"$SELF_UPDATE_PATH/{SCRIPT}"
    publish = " ".join(
        [
            "python3",
            f'"{script}"',
            '--source "$SELF_UPDATE_PATH"',
            '--bucket "$TEMPLATE_BUCKET"',
            '--bucket-region "$TEMPLATE_BUCKET_REGION"',
            '--stack-name "$PIPELINE_STACK_NAME"',
            '--region "$AWS_REGION"',
            f"--pipeline {names.pipeline}",
            '--role-arn "$CLOUDFORMATION_ROLE_ARN"',
            "--env-file self-update.env",
        ]
    )
    document = {
        "version": "0.2",
        "env": {"shell": "bash", "exported-variables": list(EXPORTED)},
        "phases": {
            "install": {
                "commands": [
                    "python3 -c 'import boto3' 2>/dev/null "
                    "|| python3 -m pip install --quiet 'boto3>=1.34,<2'"
                ]
            },
            "build": {"commands": [publish, ". ./self-update.env"]},
        },
    }
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def project_spec(
    names: Names, path: str, stack_name: RootParameter, execution_role: Exported
) -> codebuild.ProjectSpec:
    return codebuild.ProjectSpec(
        purpose=PURPOSE,
        description=f"Publishes {path} and updates the stack of pipeline {names.pipeline}",
        image=IMAGE,
        compute_type="BUILD_GENERAL1_SMALL",
        timeout_minutes=TIMEOUT_MINUTES,
        buildspec=buildspec(names),
        inline=True,
        reports=False,
        writes_artifacts=False,
        cache="none",
        variables={
            "SELF_UPDATE_PATH": path,
            "TEMPLATE_BUCKET": TEMPLATE_BUCKET,
            "TEMPLATE_BUCKET_REGION": TEMPLATE_REGION,
            "PIPELINE_STACK_NAME": stack_name,
            "CLOUDFORMATION_ROLE_ARN": execution_role,
        },
    )


def published_objects(names: Names, bucket: Any) -> list[Sub]:
    """Objects under `<base><pipeline>/<sha256>/` in the template bucket, for any base (the
    prefix the stack was first launched with; empty, or ending in /)."""
    segment = f"{names.pipeline}/{HASH_SEGMENT}/*"
    return [
        Sub(f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/{segment}", Bucket=bucket),
        Sub(f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/*/{segment}", Bucket=bucket),
    ]


def root_stack_arn(stack_name: Any) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${Stack}/*",
        Stack=stack_name,
    )


def grant_project(
    role: RoleBuilder,
    names: Names,
    iam_stack: ChildStack,
    stack_name: RootParameter,
    execution_role: Exported,
) -> None:
    """What the project does beyond every project's basics (codebuild.project_role)."""
    stack = iam_stack.use(stack_name)
    bucket = iam_stack.use(TEMPLATE_BUCKET)
    region = iam_stack.use(TEMPLATE_REGION)
    cloudformation_role = iam_stack.use(execution_role)
    templates = Sub(
        f"https://${{Bucket}}.s3.${{Region}}.${{AWS::URLSuffix}}/*{names.pipeline}/*",
        Bucket=bucket,
        Region=region,
    )
    role.allow(
        "CreateChangeSetsOfThisPipelinesStack",
        [cfn.CreateChangeSet],
        [root_stack_arn(stack)],
        Condition(
            [
                # No resource imports: an import could adopt resources the stack never created.
                Null({"cloudformation:ImportResourceTypes": "true"}),
                ArnEquals({"cloudformation:RoleArn": cloudformation_role}),
                StringLike({"cloudformation:TemplateUrl": templates}),
            ]
        ),
    )
    role.allow(
        "FollowChangeSetsOfThisPipelinesStack",
        [
            cfn.DescribeChangeSet,
            cfn.ExecuteChangeSet,
            cfn.DeleteChangeSet,
            cfn.ListChangeSets,
            cfn.DescribeStacks,
        ],
        [root_stack_arn(stack)],
    )
    # Names a template URL, not a stack (generator/data/wildcard_only_actions.yaml).
    role.allow("ReadTemplateParameters", [cfn.GetTemplateSummary], ["*"])
    role.allow(
        "PublishTemplates",
        [s3_actions.PutObject, s3_actions.GetObject],
        published_objects(names, bucket),
    )
    role.allow(
        "PassTheCloudFormationRole",
        [iam_actions.PassRole],
        [cloudformation_role],
        Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
    )


def execution_role_builder(names: Names) -> RoleBuilder:
    """The role itself; its managed policies come from `scope_execution_role`."""
    return RoleBuilder(
        logical_id=EXECUTION_ROLE,
        description=f"CloudFormation updates the stacks of pipeline {names.pipeline} (self-update)",
        trust=service("cloudformation"),
        pipeline=names.pipeline,
        trust_condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
        role_name=execution_role_name(names),
        path=execution_role_path(names),
    )


def script_source() -> str:
    return resources.files("generator.scripts").joinpath("publish_templates.py").read_text()


@dataclass
class SelfUpdate:
    """What the composer wires: the stage, the project for the build-action role's
    StartBuild grant, the CloudFormation role to scope before assembly, and the script to
    write beside the templates (TemplateSet.documents)."""

    stage: Stage
    project: Exported
    project_arn: Sub
    execution_role: RoleBuilder
    execution_role_arn: Exported
    stack_name: RootParameter
    template_path: str
    documents: dict[str, str] = field(default_factory=dict)
    scoped: bool = False


def self_update_stage(
    names: Names,
    *,
    path: str,
    build_stack: ChildStack,
    iam_stack: ChildStack,
    store: ArtifactStore,
    action_role: StackValue,
    add_role: Callable[[RoleBuilder], Exported],
    log_retention_days: int,
) -> SelfUpdate:
    """The UpdatePipeline stage and its project, roles and script.

    `add_role` registers a role for the iam stack and returns its exported ARN (the composer's
    `role`); `action_role` is the role the pipeline runs CodeBuild actions as. Call
    `scope_execution_role` once every stack is complete, before assembly."""
    stack_name = stack_name_parameter(names)
    execution_role = execution_role_builder(names)
    execution_arn = add_role(execution_role)
    spec = project_spec(names, path, stack_name, execution_arn)
    project_role = codebuild.project_role(names, spec, store, iam_stack)
    grant_project(project_role, names, iam_stack, stack_name, execution_arn)
    project = codebuild.build_project(
        build_stack,
        names,
        spec,
        role_arn=add_role(project_role),
        store=store,
        log_retention_days=log_retention_days,
    )
    step = Step(
        name=ACTION,
        category="Build",
        provider="CodeBuild",
        configuration={"ProjectName": project},
        role=action_role,
        inputs=(SOURCE_ARTIFACT,),
        namespace=NAMESPACE,
    )
    return SelfUpdate(
        stage=Stage(STAGE, (step,)),
        project=project,
        project_arn=names.project_arn(names.project(PURPOSE)),
        execution_role=execution_role,
        execution_role_arn=execution_arn,
        stack_name=stack_name,
        template_path=path,
        documents={SCRIPT: script_source()},
    )


# -- the CloudFormation role's scope --------------------------------------------------------------


def stack_templates(
    children: Sequence[ChildStack], root_resources: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """What the root stack manages, as template dicts: every child, and the resources the root
    holds besides its nested stacks (multi-region's StackSet)."""
    templates: dict[str, dict[str, Any]] = {
        f"stacks/{child.file_name}": child.template.to_dict() for child in children
    }
    templates["root.yaml"] = {"Resources": dict(root_resources or {})}
    return templates


def _retarget(node: Any) -> Any:
    """Service Catalog's stack-name patterns (`SC-<account>-pp-*`) as this stack's: its nested
    stacks and the names CloudFormation generates in them start with `<PipelineStackName>-`."""
    if isinstance(node, str):
        return node.replace(PROVISIONED, "${PipelineStackName}-").replace(
            PROVISIONED.replace("SC-", "sc-"), "${PipelineStackName}-"
        )
    if isinstance(node, list):
        return [_retarget(item) for item in node]
    if isinstance(node, dict):
        return {key: _retarget(value) for key, value in node.items()}
    return node


def execution_statements(
    names: Names, templates: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(scoped, wildcard-only) statements of the CloudFormation role: what the stacks'
    resource types need, the published templates, and handing itself to the nested stacks."""
    if not any(
        resource.get("Type") == "AWS::IAM::Role"
        for template in templates.values()
        for resource in template.get("Resources", {}).values()
    ):
        raise AssemblyError(
            f"{names.pipeline}: scope the self-update role after the roles are built (no "
            "AWS::IAM::Role in the stacks given)"
        )
    product = ProductTemplates(names.pipeline, {k: dict(v) for k, v in templates.items()})
    policy = launch_policy(product)
    scoped = [_retarget(s) for s in policy.scoped if s["Sid"] not in SERVICE_CATALOG_ONLY_SIDS]
    wildcard_only = []
    for statement in policy.wildcard_only:
        actions = [a for a in statement["Action"] if a not in SERVICE_CATALOG_ONLY_ACTIONS]
        if actions:
            wildcard_only.append({**statement, "Action": actions})
    bucket = "arn:${AWS::Partition}:s3:::${TemplateBucketName}"
    segment = f"{names.pipeline}/{HASH_SEGMENT}/*"
    role_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role"
        f"{execution_role_path(names)}{execution_role_name(names)}"
    }
    scoped += [
        {
            # CloudFormation reads the nested stacks' templates with the stack's role.
            "Sid": "ReadPublishedTemplates",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [{"Fn::Sub": f"{bucket}/{segment}"}, {"Fn::Sub": f"{bucket}/*/{segment}"}],
        },
        {
            # Nested stacks are updated with the root's role.
            "Sid": "PassItselfToNestedStacks",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [role_arn],
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        },
    ]
    return scoped, wildcard_only


def scope_execution_role(
    update: SelfUpdate,
    names: Names,
    iam_stack: ChildStack,
    templates: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Give the CloudFormation role its managed policies, derived from `templates` (see
    `stack_templates`): call it once the stacks are complete, before assembly. Returns the
    policies' logical ids."""
    if update.scoped:
        raise AssemblyError(f"{names.pipeline}: the self-update role is scoped already")
    iam_stack.use(update.stack_name)  # the policies' Fn::Sub strings name both parameters
    iam_stack.use(TEMPLATE_BUCKET)
    scoped, wildcard_only = execution_statements(names, templates)
    documents = managed_policy_documents(
        names.pipeline, "self-update role", EXECUTION_ROLE, scoped, wildcard_only
    )
    for logical_id, statements in documents:
        iam_stack.add(
            iam.ManagedPolicy(
                logical_id,
                Description=f"What CloudFormation may do when pipeline {names.pipeline} updates "
                "its stack"
                + (" (actions that take only Resource '*')" if "Wildcard" in logical_id else ""),
                Path=execution_role_path(names),
                Roles=[Ref(EXECUTION_ROLE)],
                PolicyDocument={"Version": POLICY_VERSION, "Statement": statements},
            )
        )
    update.scoped = True
    return [logical_id for logical_id, _ in documents]
