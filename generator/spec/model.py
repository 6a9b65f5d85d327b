"""The typed pipeline spec every blueprint shares.

Blueprints extend `Environment` with their own `deploy` settings and subclass
`PipelineSpec[TheirEnvironment]`. Structure is checked here by pydantic; rules that span
fields live in `generator.spec.checks`, so that each problem can be reported at its own line.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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


def _repository_folder(value: Any) -> Any:
    """A folder of the source repository: relative, without `.` or `..` parts or a trailing
    slash, in characters that need no quoting in a shell or an S3 key."""
    if not isinstance(value, str):
        return value
    parts = value.split("/")
    if not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", value) or any(
        part in ("", ".", "..") for part in parts
    ):
        raise ValueError(
            f"{value!r} is not a folder of the repository: give a relative path such as "
            "output/my-shop (letters, digits, . _ - and /; no leading or trailing slash, "
            "no . or .. parts)"
        )
    return value


SelfUpdatePath = Annotated[str, BeforeValidator(_repository_folder)]
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


def _tag_value(value: Any) -> str:
    """An IAM tag value that names a group of approvers (not empty: an empty value would
    admit every principal that carries the key)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"the tag value must be text, got {type(value).__name__} {value!r}")
    text = str(value)
    if not re.fullmatch(r"[\w .:/=+\-@]{1,256}", text):
        raise ValueError(
            f"{text!r} is not a valid tag value: use 1-256 letters, digits, spaces and "
            "_.:/=+-@ (IAM's tag characters)"
        )
    return text


TagValue = Annotated[str, BeforeValidator(_tag_value)]


class ApproverTag(StrictModel):
    """The principal tag that marks who may approve a gate (IAM `aws:PrincipalTag/<key>`)."""

    key: TagKey = Field(description="Tag key on the approvers' IAM roles or users, e.g. team.")
    value: TagValue = Field(description="The value that marks this gate's approvers.")


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
    approver_tag: ApproverTag | None = Field(
        default=None,
        description="{key, value}: only principals tagged key=value may approve this gate. The "
        "approver policy allows it only under that aws:PrincipalTag, and the pipeline's "
        "SeparationOfDutiesPolicy denies it to every principal without the tag.",
    )


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
    production: bool = Field(
        default=False,
        description="This environment is production: it deploys only runs of release_branch. "
        "Default: the last environment.",
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


# -- chat notifications (AWS Chatbot) ------------------------------------------------------------

# AWS managed policies a chat channel's guardrail may name: read-only ones only, so that no
# channel member can change anything, whatever their own role allows.
CHAT_GUARDRAIL_POLICIES = (
    "ReadOnlyAccess",
    "CloudWatchReadOnlyAccess",
    "AWSCodePipeline_ReadOnlyAccess",
    "AWSCodeBuildReadOnlyAccess",
    "AWSCodeDeployReadOnlyAccess",
)
ChatGuardrailPolicy = Literal[
    "ReadOnlyAccess",
    "CloudWatchReadOnlyAccess",
    "AWSCodePipeline_ReadOnlyAccess",
    "AWSCodeBuildReadOnlyAccess",
    "AWSCodeDeployReadOnlyAccess",
]


def _guardrail_shorthand(value: Any) -> Any:
    if value == "read-only":
        return ["ReadOnlyAccess"]
    if isinstance(value, str):
        from difflib import get_close_matches

        hint = ""
        if get_close_matches(value.lower(), ["read-only"], n=1):
            hint = "did you mean 'read-only'? "
        elif close := get_close_matches(value, CHAT_GUARDRAIL_POLICIES, n=1):
            hint = f"did you mean [{close[0]}]? "
        raise ValueError(
            f"{value!r} is not a guardrail: {hint}use read-only, or a list of these AWS managed "
            f"policies: {', '.join(CHAT_GUARDRAIL_POLICIES)}"
        )
    return value


ChatGuardrails = Annotated[
    list[ChatGuardrailPolicy],
    BeforeValidator(
        _guardrail_shorthand,
        json_schema_input_type=Literal["read-only"] | list[ChatGuardrailPolicy],
    ),
]


def _read_only() -> list[ChatGuardrailPolicy]:
    return ["ReadOnlyAccess"]


class Chat(StrictModel):
    """Pipeline events in a Slack or Microsoft Teams channel, through AWS Chatbot."""

    service: Literal["slack", "teams"] = Field(
        description="slack or teams; the workspace (Slack) or team (Teams) must be authorised "
        "in the AWS Chatbot console once per account before the stack is launched."
    )
    logging_level: Literal["ERROR", "INFO", "NONE"] = Field(
        default="ERROR", description="What AWS Chatbot logs to CloudWatch Logs."
    )
    guardrail: ChatGuardrails = Field(
        default_factory=_read_only,
        min_length=1,
        max_length=5,
        description="read-only (the ReadOnlyAccess policy), or a list of read-only AWS "
        "managed policies: the most any channel member can do through the channel.",
    )
    events: list[NoticeKind] | None = Field(
        default=None,
        min_length=1,
        description="Which pipeline events reach the channel. Default: notifications.events.",
    )


# -- custom actions (AWS::CodePipeline::CustomActionType) ------------------------------------------

CustomActionCategory = Literal["Source", "Build", "Test", "Deploy", "Invoke", "Approval"]


def _text_matching(pattern: str, what: str, rule: str) -> Any:
    """A BeforeValidator: text (numbers are read as text) that fully matches `pattern`."""

    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{what} must be text, got {type(value).__name__} {value!r}")
        text = str(value)
        if not re.fullmatch(pattern, text):
            raise ValueError(f"{text!r} is not a valid {what}: {rule}")
        return text

    # Editors validating against `pipegen schema` accept numbers too (`version: 1`).
    return BeforeValidator(check, json_schema_input_type=str | int)


ActionProvider = Annotated[
    str,
    _text_matching(
        r"[0-9A-Za-z_-]{1,35}", "provider", "use 1-35 letters, digits, '_' and '-' (CodePipeline)"
    ),
]
ActionTypeVersion = Annotated[
    str,
    _text_matching(
        r"[0-9A-Za-z_-]{1,9}", "version", "use 1-9 letters, digits, '_' and '-' (CodePipeline)"
    ),
]
ActionName = Annotated[
    str,
    _text_matching(
        r"[A-Za-z0-9.@_-]{1,100}", "action name", "use 1-100 letters, digits and . @ _ -"
    ),
]
ArtifactName = Annotated[
    str,
    _text_matching(r"[A-Za-z0-9_-]{1,100}", "artifact name", "use 1-100 letters, digits, _ and -"),
]
VariableNamespace = Annotated[
    str,
    _text_matching(r"[A-Za-z0-9@_-]{1,100}", "namespace", "use 1-100 letters, digits and @ _ -"),
]
SecretId = Annotated[
    str,
    _text_matching(
        r"(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}",
        "Secrets Manager secret",
        "give the secret's name (letters, digits and /_+=.@-) or its ARN",
    ),
]
JsonKey = Annotated[
    str, _text_matching(r"[^:{}]{1,256}", "JSON key", "use 1-256 characters other than : { }")
]
RoleArn = Annotated[
    str,
    _text_matching(
        r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
        "role ARN",
        "write it like arn:aws:iam::123456789012:role/jenkins",
    ),
]
URL_TEMPLATE_PATTERN = r"^https?://\S+$"


class CustomActionSettings(StrictModel):
    """Links the CodePipeline console shows for the action. `{Config:Name}` is the value of a
    configuration property; `{ExternalExecutionId}` is the id the job worker reports."""

    entity_url_template: str | None = Field(
        default=None,
        max_length=2048,
        pattern=URL_TEMPLATE_PATTERN,
        description="Deep link to the action's resource in the external system (a job, ...).",
    )
    execution_url_template: str | None = Field(
        default=None,
        max_length=2048,
        pattern=URL_TEMPLATE_PATTERN,
        description="Link to one run, shown on the execution (e.g. .../{ExternalExecutionId}).",
    )
    revision_url_template: str | None = Field(
        default=None,
        max_length=2048,
        pattern=URL_TEMPLATE_PATTERN,
        description="Link to where the action's configuration is changed.",
    )
    third_party_configuration_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=URL_TEMPLATE_PATTERN,
        description="Sign-up or first-configuration page of the external system.",
    )


class CustomActionProperty(StrictModel):
    """One configuration property of the action type (CodePipeline: at most 10)."""

    name: str = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, min_length=1, max_length=160)
    type: Literal["String", "Number", "Boolean"] = "String"
    required: bool = False
    key: bool = False
    secret: bool = Field(
        default=False,
        description="Hidden from every API but the job worker's; its value comes from secrets.",
    )
    queryable: bool = Field(
        default=False,
        description="Workers poll for jobs by this property's value; at most one per action "
        "type, required and not secret; values of 1-20 letters, digits, _ and -.",
    )


class ArtifactCount(StrictModel):
    minimum: int = Field(default=0, ge=0, le=5)
    maximum: int = Field(default=5, ge=0, le=5)


class ActionSecret(StrictModel):
    """A secret configuration value, resolved by CloudFormation from Secrets Manager when the
    stack is deployed (a dynamic reference): it never enters the template."""

    secret: SecretId = Field(description="Secret name or ARN.")
    json_key: JsonKey | None = Field(
        default=None, description="The key in a JSON secret; none: the whole secret string."
    )


def _plain_value(value: Any) -> Any:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    shown = type(value).__name__ if value is not None else "nothing"
    raise ValueError(
        f"expected text, a number or true/false, got {shown} {value!r}; give the values of "
        "secret properties under secrets"
    )


ConfigurationValue = Annotated[str | bool | int | float, BeforeValidator(_plain_value)]


class CustomActionWorker(StrictModel):
    """Who runs the action's job worker, and what it runs (generator/workers/job_worker.py)."""

    assumed_by: Literal["ec2", "ecs-task", "role"] = Field(
        default="ec2",
        description="ec2: an instance profile; ecs-task: an ECS task role; role: an existing "
        "IAM role (a launch parameter) that assumes the worker role.",
    )
    principal_arn: RoleArn | None = Field(
        default=None, description="assumed_by role: default of the worker principal parameter."
    )
    command: str | None = Field(
        default=None,
        min_length=1,
        description="The command job_worker.py runs for each job; none: you run your own job "
        "worker (such as the Jenkins CodePipeline plugin).",
    )


class CustomAction(StrictModel):
    """A custom action type, its job worker's role, and the pipeline action that uses it."""

    category: CustomActionCategory
    provider: ActionProvider
    version: ActionTypeVersion = "1"
    name: ActionName | None = Field(
        default=None, description="The action's name in its stage. Default: the provider."
    )
    stage: str = Field(default="Test", min_length=1, max_length=100)
    settings: CustomActionSettings = Field(default_factory=CustomActionSettings)
    configuration_properties: list[CustomActionProperty] = Field(
        default_factory=list, max_length=10
    )
    inputs: list[ArtifactName] = Field(
        default_factory=list, max_length=5, description="Artifacts the action reads."
    )
    outputs: list[ArtifactName] = Field(
        default_factory=list, max_length=5, description="Artifacts the action writes."
    )
    input_artifacts: ArtifactCount | None = Field(
        default=None, description="How many inputs the action type takes. Default: len(inputs)."
    )
    output_artifacts: ArtifactCount | None = Field(
        default=None, description="How many outputs the action type makes. Default: len(outputs)."
    )
    configuration: dict[str, ConfigurationValue] = Field(
        default_factory=dict, description="Values of the non-secret configuration properties."
    )
    secrets: dict[str, ActionSecret] = Field(
        default_factory=dict, description="Values of the secret configuration properties."
    )
    namespace: VariableNamespace | None = Field(
        default=None, description="Namespace of the output variables the job worker reports."
    )
    register_type: bool = Field(
        default=True,
        description="false: the action type exists in the account and region already (another "
        "stack registered it); only the pipeline action is added, no type and no worker role.",
    )
    worker: CustomActionWorker = Field(default_factory=CustomActionWorker)

    def input_counts(self) -> ArtifactCount:
        """The InputArtifactDetails: as declared, or exactly as many as `inputs`."""
        if self.input_artifacts is not None:
            return self.input_artifacts
        return ArtifactCount(minimum=len(self.inputs), maximum=len(self.inputs))

    def output_counts(self) -> ArtifactCount:
        if self.output_artifacts is not None:
            return self.output_artifacts
        return ArtifactCount(minimum=len(self.outputs), maximum=len(self.outputs))


class Usage(StrictModel):
    """Expected use, for the monthly cost estimate (`pipegen cost`); the templates ignore it."""

    runs_per_day: float = Field(
        default=5, ge=0, le=1440, description="Pipeline executions a day (30 days a month)."
    )
    build_minutes: dict[str, Annotated[float, Field(gt=0, le=480)]] = Field(
        default_factory=dict,
        description="Minutes one run of a CodeBuild project takes, by project name (with or "
        "without the pipeline name in front, as `pipegen cost` lists them).",
    )
    default_build_minutes: float = Field(
        default=5, gt=0, le=480, description="Minutes of every project not in build_minutes."
    )
    deploy_minutes: float = Field(
        default=10,
        gt=0,
        le=1440,
        description="Minutes each Deploy action (CodeDeploy, ECS, CloudFormation, ...) takes.",
    )
    artifact_mb: float = Field(
        default=50,
        gt=0,
        le=10240,
        description="MB of artifacts one run stores (source, build output, packaged templates).",
    )
    free_tier: bool = Field(
        default=True,
        description="Subtract the account's monthly free tiers (CodePipeline, CodeBuild), as if "
        "this pipeline were their only user.",
    )


# The approval alarm evaluates approval_wait_hours + 1 hourly periods; CloudWatch allows at
# most 7 days (604,800 s) of Period x EvaluationPeriods for periods of an hour or more.
MAX_APPROVAL_WAIT_HOURS = 604_800 // 3600 - 1


class FailureAlarm(StrictModel):
    """Repeated failed executions: this many within the window notify the pipeline's topic."""

    failures: int = Field(
        default=3, ge=1, le=100, description="Failed executions that raise the alarm."
    )
    window_minutes: int = Field(
        default=60,
        ge=5,
        le=1440,
        description="The window the failures are counted in (the alarm's period), 5-1440.",
    )


class Monitoring(StrictModel):
    """The pipeline's dashboard, event log and alarms."""

    failure_alarm: FailureAlarm = Field(
        default_factory=FailureAlarm,
        description="failures failed executions within window_minutes notify the pipeline topic.",
    )
    approval_wait_hours: int = Field(
        default=12,
        ge=1,
        le=MAX_APPROVAL_WAIT_HOURS,
        description="An approval left waiting longer than this notifies the gate's approvers "
        f"again (1-{MAX_APPROVAL_WAIT_HOURS}; keep it below the gate's timeout_hours).",
    )


# -- advanced delivery: load tests, chaos experiments, feature flags ---------------------------

LoadTestTool = Literal["k6", "jmeter", "gatling"]
# The version of each tool a load test installs when the spec names none. Pinned, so that a run
# measures the application against its baseline, not a new tool against an old one.
LOAD_TEST_TOOL_VERSIONS: dict[str, str] = {"k6": "0.54.0", "jmeter": "5.6.3", "gatling": "3.10.5"}
ToolVersion = Annotated[
    str,
    _text_matching(r"[0-9]+(\.[0-9]+){1,3}", "tool version", "write it like 0.54.0"),
]
RepositoryPath = Annotated[
    str,
    _text_matching(
        r"(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9_.@+/-]{1,255}",
        "path in the repository",
        "a relative path of letters, digits and _ . @ + - /, without '..' (e.g. load/test.js)",
    ),
]
GitBranch = Annotated[
    str,
    _text_matching(
        r"(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}", "branch name", "write it like main or release/2"
    ),
]


class LoadTestTolerance(StrictModel):
    """How much worse than the baseline a run may be before the load test fails."""

    p95_percent: float = Field(
        default=10,
        ge=0,
        le=1000,
        description="The p95 latency may exceed the baseline's by at most this many percent.",
    )
    error_rate_points: float = Field(
        default=1,
        ge=0,
        le=100,
        description="The error rate (in percent) may exceed the baseline's by at most this many "
        "percentage points.",
    )


class LoadTest(StrictModel):
    """A load test after the deployment to one environment, compared with a stored baseline."""

    tool: LoadTestTool = Field(default="k6", description="k6, jmeter or gatling.")
    version: ToolVersion | None = Field(
        default=None,
        description="The tool version to install. Default: k6 "
        f"{LOAD_TEST_TOOL_VERSIONS['k6']}, JMeter {LOAD_TEST_TOOL_VERSIONS['jmeter']}, Gatling "
        f"{LOAD_TEST_TOOL_VERSIONS['gatling']}.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the tool's download; the build stops when it differs.",
    )
    script: RepositoryPath = Field(
        description="k6: the script; jmeter: the test plan (.jmx); gatling: the simulations "
        "folder. A path in the repository."
    )
    simulation: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="gatling only: the simulation class to run (e.g. app.BasicSimulation).",
    )
    environment: EnvironmentName = Field(
        default="staging", description="The environment the load test runs against."
    )
    tolerance: LoadTestTolerance = Field(default_factory=LoadTestTolerance)
    release_branch: GitBranch | None = Field(
        default=None,
        description="A passing run on this branch becomes the new baseline. Default: "
        "source.branch.",
    )
    compute_type: ComputeType = "BUILD_GENERAL1_MEDIUM"
    timeout_minutes: int = Field(default=30, ge=5, le=480)

    def tool_version(self) -> str:
        return self.version or LOAD_TEST_TOOL_VERSIONS[self.tool]


ChaosName = Annotated[
    str,
    _text_matching(r"[A-Za-z0-9_-]{1,64}", "name", "use 1-64 letters, digits, _ and -"),
]
FisActionParameter = Annotated[
    str,
    _text_matching(r"[^\x00-\x1f]{1,1024}", "FIS action parameter", "use 1-1024 characters"),
]


class ChaosTarget(StrictModel):
    """The resources an experiment acts on: those of one type carrying one tag."""

    resource_type: str = Field(
        description="The FIS target type, such as aws:ec2:instance or aws:ecs:task "
        "(generator/data/fis_actions.yaml lists the ones pipegen supports)."
    )
    tag_key: TagKey = Field(description="The targets carry this tag ...")
    tag_value: str = Field(min_length=1, max_length=256, description="... with this value.")
    selection_mode: str = Field(
        default="COUNT(1)",
        pattern=r"^(ALL|COUNT\([1-9][0-9]{0,5}\)|PERCENT\(([1-9][0-9]?|100)\))$",
        description="ALL, COUNT(n) or PERCENT(n): how many of the tagged resources FIS picks.",
    )


class ChaosAction(StrictModel):
    """One fault of the experiment."""

    action: str = Field(
        description="The FIS action, such as aws:ec2:stop-instances or aws:ecs:task-cpu-stress."
    )
    name: ChaosName | None = Field(
        default=None, description="The action's name in the template. Default: from the action."
    )
    target: ChaosName | None = Field(
        default=None, description="A key of chaos.targets. Default: the only target."
    )
    parameters: dict[str, FisActionParameter] = Field(
        default_factory=dict, description="The action's parameters (text), e.g. duration: PT5M."
    )
    start_after: list[ChaosName] = Field(
        default_factory=list, description="Names of actions that must finish first."
    )


class Chaos(StrictModel):
    """A fault-injection experiment (AWS FIS) after the deployment to one environment."""

    environment: EnvironmentName = Field(
        default="staging",
        description="The environment the experiment runs in; never the last (production).",
    )
    targets: dict[ChaosName, ChaosTarget] = Field(min_length=1, max_length=5)
    actions: list[ChaosAction] = Field(min_length=1, max_length=10)
    timeout_minutes: int = Field(
        default=60,
        ge=5,
        le=480,
        description="How long the pipeline waits for the experiment; then it stops it and fails.",
    )


class FlagRollout(StrictModel):
    """The AppConfig deployment strategy the flag file rolls out with."""

    type: Literal["linear", "canary"] = Field(
        default="linear",
        description="linear: growth_factor percent more targets each step; canary: "
        "exponential growth from growth_factor percent.",
    )
    growth_factor: float = Field(default=20, ge=1, le=100)
    deployment_minutes: int = Field(
        default=10, ge=0, le=1440, description="The rollout to all targets takes this long."
    )
    bake_minutes: int = Field(
        default=10,
        ge=0,
        le=1440,
        description="After the rollout AppConfig watches the environment's alarms this long "
        "and rolls the flags back if one fires.",
    )


class FeatureFlags(StrictModel):
    """Feature flags in AWS AppConfig, deployed from a file in the repository."""

    file: RepositoryPath = Field(
        default="flags/flags.json", description="The flag file in the repository (JSON)."
    )
    rollout: FlagRollout = Field(default_factory=FlagRollout)


class Audit(StrictModel):
    """The audit trail: a CloudTrail trail into an Object Lock bucket, and every execution and
    approval of the pipeline in a log group of its own."""

    retention_days: int = Field(
        default=365,
        ge=1,
        le=36500,
        description="Object Lock COMPLIANCE retention of the trail's log files, in days: nobody, "
        "not even the account root, can delete or overwrite them sooner.",
    )
    account: AccountId | None = Field(
        default=None,
        description="A separate audit account that holds the trail's bucket and key "
        "(audit/audit-bucket.yaml, launched there first). Default: the pipeline's account.",
    )
    log_retention_days: int = Field(
        default=365,
        description="Retention of the audit log groups (trail and pipeline events): one of "
        "CloudWatch Logs' retention values, at least 365.",
    )

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, days: int) -> int:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS if d >= 365)
        if days not in LOG_RETENTION_DAYS or days < 365:
            raise ValueError(
                f"{days} is not a CloudWatch Logs retention period of at least the 365 days "
                f"audits expect; use one of {allowed}"
            )
        return days


EnvT = TypeVar("EnvT", bound=Environment)


class PipelineSpec(StrictModel, Generic[EnvT]):
    name: PipelineName
    blueprint: str
    description: str = Field(default="", max_length=400)
    region: Region = "us-east-1"
    execution_mode: Literal["SUPERSEDED", "QUEUED", "PARALLEL"] = "QUEUED"
    source: Source
    release_branch: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Production deploys only runs of this branch: a BeforeEntry condition on the "
        "production stages fails any other run. Default: source.branch. Not for s3 sources.",
    )
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
    chat: Chat | None = Field(
        default=None, description="Pipeline events in a Slack or Microsoft Teams channel."
    )
    custom_actions: list[CustomAction] = Field(
        default_factory=list,
        max_length=50,
        description="Custom action types (external build, test or deploy systems) and the "
        "pipeline actions that use them.",
    )
    monitoring: Monitoring = Field(
        default_factory=Monitoring,
        description="The pipeline's CloudWatch dashboard, event log group and alarms: repeated "
        "failures, and approvals left waiting.",
    )
    dora: bool = Field(
        default=True,
        description="A Lambda function publishes the four DORA metrics (deployment frequency, "
        "lead time for changes, change failure rate, time to restore) as executions end.",
    )
    usage: Usage = Field(
        default_factory=Usage,
        description="Expected runs and durations, for `pipegen cost` only.",
    )
    self_update: bool = Field(
        default=True,
        description="An UpdatePipeline stage right after Source publishes the committed "
        "templates (self_update_path) and updates this pipeline's own stack when they changed.",
    )
    self_update_path: SelfUpdatePath | None = Field(
        default=None,
        description="Where the source repository holds this pipeline's generated templates. "
        "Default: output/<name>.",
    )
    audit: Audit | None = Field(
        default=None,
        description="A CloudTrail trail into an Object Lock bucket, and every execution and "
        "approval of the pipeline in an encrypted log group.",
    )
    load_test: LoadTest | None = Field(
        default=None,
        description="A load test after the deployment to one environment, failing when p95 "
        "latency or the error rate regresses from the stored baseline.",
    )
    chaos: Chaos | None = Field(
        default=None,
        description="An AWS FIS experiment after the deployment to one (non-production) "
        "environment, stopped by the environment's alarms.",
    )
    feature_flags: FeatureFlags | None = Field(
        default=None,
        description="Feature flags in AWS AppConfig, deployed to every environment after its "
        "code, rolled back by its alarms.",
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

    def production_index(self) -> int:
        """The production environment: the one marked `production: true`, else the last."""
        marked = [index for index, env in enumerate(self.environments) if env.production]
        return marked[0] if marked else len(self.environments) - 1

    def release_branch_name(self) -> str | None:
        """The branch production deploys from; None for an s3 source, which has no branch."""
        if self.source.provider == "s3":
            return None
        return self.release_branch or self.source.branch
