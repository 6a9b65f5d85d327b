"""The serverless spec: the common spec plus the SAM application, change-set deploys, Lambda
traffic shifting and the compliance gate."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from generator.spec.model import Environment, PipelineSpec, StrictModel
from generator.spec.types import EnvironmentName

AppService = Literal[
    "lambda", "apigateway", "dynamodb", "sqs", "sns", "logs", "events", "s3", "states", "cloudwatch"
]
DEFAULT_APP_SERVICES: list[AppService] = [
    "lambda",
    "apigateway",
    "dynamodb",
    "sqs",
    "sns",
    "logs",
    "events",
]
Capability = Literal["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
DEFAULT_CAPABILITIES: list[Capability] = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
Strategy = Literal["canary", "linear", "all-at-once"]
# SAM's predefined Lambda deployment configurations: strategy -> minutes -> type.
TRAFFIC_TYPES: dict[str, dict[int, str]] = {
    "canary": {m: f"Canary10Percent{m}Minutes" for m in (5, 10, 15, 30)},
    "linear": {
        1: "Linear10PercentEvery1Minute",
        2: "Linear10PercentEvery2Minutes",
        3: "Linear10PercentEvery3Minutes",
        10: "Linear10PercentEvery10Minutes",
    },
    "all-at-once": {0: "AllAtOnce"},
}
STACK_NAME_LIMIT = 128
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def _stack_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a stack name must be text, got {type(value).__name__} {value!r}")
    if len(value) > STACK_NAME_LIMIT:
        raise ValueError(
            f"stack name is {len(value)} characters; CloudFormation allows at most "
            f"{STACK_NAME_LIMIT}"
        )
    if not _STACK_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid stack name: use letters, digits and hyphens, starting "
            "with a letter"
        )
    return value


def _regex(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("ticket_pattern must be a non-empty regular expression")
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(
            f"{value!r} is not a valid regular expression ({error}); for example "
            "'[A-Z][A-Z0-9]+-[0-9]+' matches JIRA keys like OPS-42"
        ) from None
    return value


StackName = Annotated[str, BeforeValidator(_stack_name)]
TicketPattern = Annotated[str, BeforeValidator(_regex)]
ResourceType = Annotated[str, Field(pattern=r"^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$")]


class SamApplication(StrictModel):
    """The application the pipeline builds and deploys."""

    template: str = Field(
        default="template.yaml", min_length=1, description="The SAM template in the repository."
    )
    runtime: Literal["python3.12", "python3.13"] = Field(
        default="python3.12", description="Runtime of the starter application and its build."
    )
    sam_cli_version: str = Field(
        default="1.131.0",
        pattern=r"^\d+\.\d+\.\d+$",
        description="The AWS SAM CLI release the build installs (pinned for repeatable builds).",
    )
    app_services: list[AppService] = Field(
        default_factory=lambda: list(DEFAULT_APP_SERVICES),
        min_length=1,
        description="AWS services the application may create (execution role) and use "
        "(permissions boundary). IAM roles under the stack's name and CodeDeploy traffic "
        "shifting are always allowed.",
    )
    capabilities: list[Capability] = Field(
        default_factory=lambda: list(DEFAULT_CAPABILITIES),
        min_length=1,
        description="What the change sets acknowledge; SAM needs CAPABILITY_AUTO_EXPAND.",
    )
    api_url_output: str | None = Field(
        default="ApiUrl",
        pattern=r"^[A-Za-z0-9]{1,255}$",
        description="The stack output the smoke test calls; null: use the environment's url.",
    )


class ComplianceGate(StrictModel):
    """A Lambda action that vets the change set of one environment before it executes."""

    enabled: bool = True
    before: EnvironmentName | None = Field(
        default=None, description="The environment it guards. Default: the last one."
    )
    ticket_pattern: TicketPattern = Field(
        default="[A-Z][A-Z0-9]+-[0-9]+",
        description="The commit message must contain a match (a JIRA key by default).",
    )
    stateful_types: list[ResourceType] = Field(
        default_factory=lambda: [
            "AWS::DynamoDB::Table",
            "AWS::S3::Bucket",
            "AWS::Logs::LogGroup",
            "AWS::RDS::DBCluster",
            "AWS::RDS::DBInstance",
            "AWS::EFS::FileSystem",
        ],
        description="Resource types the change set must not replace or remove.",
    )
    forbid_wildcard_actions: bool = Field(
        default=True, description="Fail when the change set adds an IAM statement with * actions."
    )


class ServerlessDeployment(StrictModel):
    """How one environment deploys: its stack, template parameters and traffic shifting."""

    stack_name: StackName | None = Field(
        default=None, description="The application's stack. Default: <pipeline>-<environment>."
    )
    strategy: Strategy | None = Field(
        default=None,
        description="Lambda traffic shifting: canary (10% first), linear (10% a step) or "
        "all-at-once. Default: all-at-once for the first environment, canary after it.",
    )
    interval_minutes: int | None = Field(
        default=None,
        description="canary: 5, 10, 15 or 30 (default 5); linear: 1, 2, 3 or 10 (default 1).",
    )
    parameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,255}$")], str] = Field(
        default_factory=dict, description="Template parameters of this environment's stack."
    )
    alarms: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="Alarm names the stage watches after the deploy. Empty: the starter "
        "template's <stack>-errors and <stack>-throttles.",
    )


class ServerlessEnvironment(Environment):
    deploy: ServerlessDeployment = Field(default_factory=ServerlessDeployment)


class ServerlessSpec(PipelineSpec[ServerlessEnvironment]):
    blueprint: Literal["serverless"]
    application: SamApplication = Field(default_factory=SamApplication)
    compliance: ComplianceGate = Field(default_factory=ComplianceGate)

    def stack_name(self, index: int) -> str:
        env = self.environments[index]
        return env.deploy.stack_name or f"{self.name}-{env.name}"

    def strategy(self, index: int) -> Strategy:
        chosen = self.environments[index].deploy.strategy
        if chosen is not None:
            return chosen
        return "all-at-once" if index == 0 else "canary"

    def deployment_preference(self, index: int) -> str:
        strategy = self.strategy(index)
        minutes = self.environments[index].deploy.interval_minutes
        choices = TRAFFIC_TYPES[strategy]
        return choices[minutes if minutes is not None else min(choices)]

    def compliance_index(self) -> int | None:
        """The environment the compliance gate guards, if any."""
        if not self.compliance.enabled:
            return None
        wanted = self.compliance.before
        if wanted is None:
            return len(self.environments) - 1
        names = [env.name for env in self.environments]
        return names.index(wanted) if wanted in names else None
