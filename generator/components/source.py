"""The Source stage: connection or repository, its action role, and what starts the pipeline."""

from __future__ import annotations

from typing import Any

from awacs import codecommit, codeconnections, codestar_connections
from awacs import codepipeline as cp
from awacs import s3 as s3_actions
from troposphere import Ref, Sub, codestarconnections, events

from generator.assembly.stack import ChildStack, Exported, RootParameter, StackValue
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import Grant, artifact_read, artifact_write, key_use
from generator.components.iam import RoleBuilder, action_role, service
from generator.naming import Names, arn, literal
from generator.pipeline_plan import EntryCondition, GitTrigger, Step, VariableCheck
from generator.spec.model import GIT_CONNECTION_PROVIDERS, Source

SOURCE_ARTIFACT = "Source"
SOURCE_NAMESPACE = "SourceVariables"
SOURCE_GROUP = "Source"

CONNECTION_PROVIDER_TYPES = {"github": "GitHub", "bitbucket": "Bitbucket", "gitlab": "GitLab"}

CONNECTION_ARN = RootParameter(
    name="ConnectionArn",
    description="ARN of an AVAILABLE CodeConnections (CodeStar Connections) connection to the "
    "repository host.",
    label="Repository connection ARN",
    group=SOURCE_GROUP,
    allowed_pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:"
    r"connection/[0-9a-f-]{36}$",
    constraint_description="A connection ARN such as arn:aws:codeconnections:us-east-1:"
    "123456789012:connection/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d.",
)


def uses_connection(source: Source) -> bool:
    return source.provider in GIT_CONNECTION_PROVIDERS


def connection(stack: ChildStack | None, source: Source, names: Names) -> StackValue:
    """The connection ARN: a launch parameter, or a connection this stack creates (pending until
    someone completes the handshake once in the console)."""
    if source.connection == "parameter" or stack is None:
        return CONNECTION_ARN
    created = stack.add(
        codestarconnections.Connection(
            "RepositoryConnection",
            ConnectionName=names.pipeline[:32],
            ProviderType=CONNECTION_PROVIDER_TYPES[source.provider],
        )
    )
    return stack.export(
        "ConnectionArn", Ref(created), "Connection to complete once in the console (PENDING)"
    )


def repository_arn(source: Source) -> Any:
    return arn("codecommit", str(source.repository))


def source_bucket_arn(source: Source) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:s3:::{source.bucket}")


def connection_grants(connection_arn: Any) -> list[Grant]:
    """Split by prefix: an ARN matches only the actions of its own service prefix (I3510)."""
    return [
        ("UseCodeStarConnection", [codestar_connections.UseConnection], [connection_arn]),
        ("UseCodeConnection", [codeconnections.UseConnection], [connection_arn]),
    ]


def source_role(
    names: Names,
    source: Source,
    stack: ChildStack,
    store: ArtifactStore,
    connection_arn: StackValue | None,
    pipeline_role: Any,
) -> RoleBuilder:
    role = action_role(
        "SourceActionRole",
        f"Source action of {names.pipeline}",
        names.pipeline,
        pipeline_role,
    )
    bucket_arn = stack.use(store.bucket_arn)
    role.allow(*artifact_read(bucket_arn))
    role.allow(*artifact_write(bucket_arn))
    role.allow(*key_use(stack.use(store.key_arn)))
    if uses_connection(source) and connection_arn is not None:
        for grant in connection_grants(stack.use(connection_arn)):
            role.allow(*grant)
    elif source.provider == "codecommit":
        role.allow(
            "ReadRepository",
            [
                codecommit.GetBranch,
                codecommit.GetCommit,
                codecommit.GetRepository,
                codecommit.UploadArchive,
                codecommit.GetUploadArchiveStatus,
                codecommit.CancelUploadArchive,
            ],
            [repository_arn(source)],
        )
    else:
        bucket = source_bucket_arn(source)
        role.allow(
            "ReadSourceBucket",
            [s3_actions.GetBucketVersioning, s3_actions.GetBucketLocation],
            [bucket],
        )
        role.allow(
            "ReadSourceObject",
            [s3_actions.GetObject, s3_actions.GetObjectVersion],
            [
                Sub(
                    f"arn:${{AWS::Partition}}:s3:::{source.bucket}/"
                    + literal(source.object_key or "")
                )
            ],
        )
    return role


def source_step(source: Source, connection_arn: StackValue | None, role: Exported) -> Step:
    if uses_connection(source):
        configuration: dict[str, Any] = {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": source.repository,
            "BranchName": source.branch,
            "OutputArtifactFormat": "CODE_ZIP",
        }
        provider = "CodeStarSourceConnection"
    elif source.provider == "codecommit":
        configuration = {
            "RepositoryName": source.repository,
            "BranchName": source.branch,
            "PollForSourceChanges": "false",
            "OutputArtifactFormat": "CODE_ZIP",
        }
        provider = "CodeCommit"
    else:
        configuration = {
            "S3Bucket": source.bucket,
            "S3ObjectKey": source.object_key,
            "PollForSourceChanges": "false",
        }
        provider = "S3"
    return Step(
        name="Checkout",
        category="Source",
        provider=provider,
        configuration=configuration,
        role=role,
        outputs=(SOURCE_ARTIFACT,),
        namespace=SOURCE_NAMESPACE,
    )


def git_trigger(source: Source, release_branch: str | None = None) -> GitTrigger | None:
    """Pushes to the source branch start the pipeline, and pushes to the release branch when
    it is another one (their runs carry that branch: the trigger overrides BranchName)."""
    if not uses_connection(source):
        return None
    return GitTrigger(
        source_step="Checkout",
        branch=source.branch,
        include_paths=tuple(source.file_paths.include),
        exclude_paths=tuple(source.file_paths.exclude),
        extra_branches=(release_branch,) if release_branch else (),
    )


def release_branch_check(branch: str) -> EntryCondition:
    """Fail a stage entered by a run of any branch but `branch`. The connection and CodeCommit
    source actions output BranchName (the branch the run checked out); S3 sources have none."""
    return EntryCondition(
        checks=(
            VariableCheck(
                name="ReleaseBranchOnly",
                variable=f"#{{{SOURCE_NAMESPACE}.BranchName}}",
                value=branch,
            ),
        ),
        result="FAIL",
    )


def start_rule_role(names: Names, source: Source) -> RoleBuilder | None:
    """codecommit and s3 sources start the pipeline through EventBridge, as this role."""
    if uses_connection(source):
        return None
    role = RoleBuilder(
        logical_id="StartPipelineRole",
        description=f"EventBridge starts {names.pipeline} on source changes",
        trust=service("events"),
        pipeline=names.pipeline,
    )
    role.allow("StartThisPipeline", [cp.StartPipelineExecution], [names.pipeline_arn()])
    return role


def start_rule(stack: ChildStack, names: Names, source: Source, role: Exported | None) -> None:
    if role is None:
        return
    if source.provider == "codecommit":
        pattern: dict[str, Any] = {
            "source": ["aws.codecommit"],
            "detail-type": ["CodeCommit Repository State Change"],
            "resources": [repository_arn(source)],
            "detail": {
                "event": ["referenceCreated", "referenceUpdated"],
                "referenceType": ["branch"],
                "referenceName": [source.branch],
            },
        }
    else:
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [source.bucket]},
                "object": {"key": [source.object_key]},
            },
        }
    stack.add(
        events.Rule(
            "StartPipelineRule",
            Description=f"Start {names.pipeline} when its source changes",
            State="ENABLED",
            EventPattern=pattern,
            Targets=[
                events.Target(
                    Id="Pipeline",
                    Arn=names.pipeline_arn(),
                    RoleArn=stack.use(role),
                )
            ],
            DependsOn=["Pipeline"],
        )
    )
