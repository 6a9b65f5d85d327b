"""The typed pipeline spec every blueprint shares.

Blueprints extend `Environment` with their own `deploy` settings and subclass
`PipelineSpec[TheirEnvironment]`. Structure is checked here by pydantic; rules that span
fields live in `generator.spec.checks`, so that each problem can be reported at its own line.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from generator.spec.types import (
    AccountId,
    EnvironmentName,
    EnvVarName,
    PipelineName,
    Region,
    TagKey,
)

GIT_CONNECTION_PROVIDERS = ("github", "github-enterprise", "bitbucket", "gitlab")
SourceProvider = Literal["github", "github-enterprise", "bitbucket", "gitlab", "codecommit", "s3"]
ComputeType = Literal[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
]
# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathFilter(StrictModel):
    include: list[str] = Field(default_factory=list, max_length=8)
    exclude: list[str] = Field(default_factory=list, max_length=8)


class Source(StrictModel):
    """Where the pipeline's code comes from."""

    provider: SourceProvider = Field(
        description="github | github-enterprise | bitbucket | gitlab go through a CodeConnections "
        "connection; codecommit and s3 start the pipeline through EventBridge."
    )
    repository: str | None = Field(
        default=None,
        description="owner/name for connection providers, the repository name for codecommit.",
    )
    branch: str = Field(default="main", min_length=1, max_length=255)
    bucket: str | None = Field(default=None, description="s3 provider: the source bucket name.")
    object_key: str | None = Field(default=None, description="s3 provider: the zip's object key.")
    connection: Literal["parameter", "create"] = Field(
        default="parameter",
        description="parameter: the stack takes an existing connection ARN; create: the stack "
        "creates a connection, which you then authorise once in the console.",
    )
    file_paths: PathFilter = Field(
        default_factory=PathFilter,
        description="Trigger only when these paths change (git connection providers only).",
    )


class SecretReference(StrictModel):
    """A secret handed to CodeBuild by reference; its value never enters the template."""

    name: EnvVarName = Field(description="The environment variable the build sees.")
    source: Literal["secrets-manager", "parameter-store"]
    ref: str = Field(
        min_length=1,
        description="secrets-manager: secret name or ARN, optionally ':json-key'; "
        "parameter-store: the parameter name.",
    )


class Build(StrictModel):
    image: str = Field(default="aws/codebuild/amazonlinux-x86_64-standard:5.0", min_length=1)
    compute_type: ComputeType = "BUILD_GENERAL1_SMALL"
    timeout_minutes: int = Field(default=30, ge=5, le=480)
    cache: Literal["s3", "local", "none"] = Field(
        default="s3",
        description="s3: cache in the artifact bucket; local: source and custom cache.",
    )
    cache_paths: list[str] = Field(default_factory=list)
    install: list[str] = Field(default_factory=list, description="Commands of the install phase.")
    commands: list[str] = Field(default_factory=list, description="Commands of the build phase.")
    artifacts: list[str] = Field(default_factory=lambda: ["**/*"])
    variables: dict[EnvVarName, str] = Field(default_factory=dict)
    secrets: list[SecretReference] = Field(default_factory=list)
    buildspec: str = Field(
        default="buildspec.yml",
        description="Path of the build's buildspec in the application repository.",
    )


TestKind = Literal["unit", "contract", "integration", "security-scan"]


class TestStage(StrictModel):
    kind: TestKind
    commands: list[str] = Field(default_factory=list, description="Empty: the kind's default.")
    reports: str = Field(default="reports/**/*.xml", description="JUnit XML files to publish.")
    compute_type: ComputeType | None = None
    timeout_minutes: int = Field(default=20, ge=5, le=480)
    variables: dict[EnvVarName, str] = Field(default_factory=dict)
    secrets: list[SecretReference] = Field(
        default_factory=list, description="Secrets for this test layer only, by reference."
    )


def _default_tests() -> list[TestStage]:
    return [TestStage(kind="unit"), TestStage(kind="integration"), TestStage(kind="security-scan")]


def _approval_shorthand(value: Any) -> Any:
    if value is True:
        return {}
    if value is False:
        return None
    return value


class Approval(StrictModel):
    """A manual gate in front of an environment, notified through its own SNS topic."""

    approvers_email: str | None = Field(
        default=None,
        description="Default of the gate's approver e-mail parameter.",
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    )
    instructions: str = Field(default="", max_length=400)
    approver_roles: list[str] = Field(
        default_factory=list,
        description="IAM role names that receive the policy to approve this gate only.",
    )
    approver_groups: list[str] = Field(default_factory=list)
    timeout_hours: int = Field(default=24, ge=1, le=168)


ApprovalField = Annotated[Approval | None, BeforeValidator(_approval_shorthand)]


class Environment(StrictModel):
    """One deployment target in promotion order. Blueprints add `deploy`."""

    name: EnvironmentName
    account: AccountId | None = Field(default=None, description="Defaults to the pipeline's.")
    region: Region | None = Field(default=None, description="Defaults to the pipeline's.")
    approval: ApprovalField = Field(
        default=None,
        description="true, or an approval block: a manual gate before this environment. "
        "Default: the last of two or more environments is gated.",
    )
    url: str | None = Field(
        default=None,
        pattern=r'^https?://[^\s"\\]+$',
        description="Default of the smoke-test URL parameter.",
    )
    on_failure: Literal["rollback", "retry"] = Field(
        default="rollback",
        description="rollback: redeploy the last good revision; retry: retry transient failures.",
    )
    retry_mode: Literal["failed-actions", "all-actions"] = "failed-actions"
    bake_minutes: int = Field(
        default=10,
        ge=1,
        le=60,
        description="After a successful deploy, watch the rollback alarms this long and roll the "
        "stage back if one fires (stage OnSuccess condition).",
    )


class RollbackAlarmSettings(StrictModel):
    """Alarms that stop and roll back a deployment: existing ones, or ones pipegen creates."""

    alarms: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="Existing CloudWatch alarm names that roll a deployment back. Empty: the "
        "blueprint creates a 5xx alarm and a latency alarm on the target group.",
    )
    error_5xx_threshold: int = Field(
        default=10, ge=1, le=100000, description="Created 5xx alarm: target 5xx responses a minute."
    )
    latency_threshold_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Created latency alarm: response time in seconds."
    )
    latency_percentile: Literal["p90", "p95", "p99"] = Field(
        default="p95", description="Created latency alarm: the percentile it watches."
    )


NoticeKind = Literal["failed", "succeeded", "approval-needed", "stage-failed"]
NOTICE_KINDS: tuple[NoticeKind, ...] = ("failed", "succeeded", "approval-needed", "stage-failed")


class Notifications(StrictModel):
    email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Default of the NotificationEmail parameter.",
    )
    events: list[NoticeKind] = Field(
        default_factory=lambda: list(NOTICE_KINDS),
        description="Which pipeline events reach the notification topic.",
    )


EnvT = TypeVar("EnvT", bound=Environment)


class PipelineSpec(StrictModel, Generic[EnvT]):
    name: PipelineName
    blueprint: str
    description: str = Field(default="", max_length=400)
    region: Region = "us-east-1"
    execution_mode: Literal["SUPERSEDED", "QUEUED", "PARALLEL"] = "QUEUED"
    source: Source
    build: Build = Field(default_factory=Build)
    tests: list[TestStage] = Field(default_factory=_default_tests, max_length=10)
    environments: list[EnvT] = Field(min_length=1, max_length=10)
    notifications: Notifications = Field(default_factory=Notifications)
    tags: dict[TagKey, str] = Field(default_factory=dict, max_length=40)
    smoke_test: list[str] = Field(
        default_factory=list,
        description="Commands of the post-deploy smoke test, run after every deployment with "
        "$TARGET_URL set to the environment's URL. Empty: the blueprint's default.",
    )
    artifact_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Artifacts and their old versions expire after this many days. Stage "
        "rollback redeploys the last good execution's artifacts, so keep them at least as long "
        "as the longest gap between releases.",
    )
    log_retention_days: int = Field(
        default=365, description="One of CloudWatch Logs' retention values."
    )

    def approval_for(self, index: int) -> Approval | None:
        """The gate in front of environments[index], with the default applied."""
        env = self.environments[index]
        if env.approval is not None:
            return env.approval
        is_last = index == len(self.environments) - 1
        if is_last and index > 0 and "approval" not in env.model_fields_set:
            return Approval()
        return None
