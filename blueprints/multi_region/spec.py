"""The multi-region spec: the common spec, where each environment is a wave of targets
(accounts or AWS Organizations OUs, each with regions), plus the application template and how
the waves deploy it (CloudFormation actions per account and region, or StackSets)."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from blueprints.serverless.spec import DEFAULT_APP_SERVICES, AppService, Capability, StackName
from generator.spec.model import Environment, PipelineSpec, StrictModel
from generator.spec.types import AccountId

IAM_ONLY: list[Capability] = ["CAPABILITY_IAM"]
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")


def _target_region(value: Any) -> str:
    """Any region cfn-lint knows: the pipeline reaches it through a regional artifact store."""
    from cfnlint.helpers import REGIONS

    if not isinstance(value, str):
        raise ValueError(f"a region must be text, got {type(value).__name__} {value!r}")
    if value not in REGIONS:
        close = get_close_matches(value, REGIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (for example 'eu-west-1')"
        raise ValueError(f"{value!r} is not an AWS region{hint}")
    return value


def _ou_id(value: Any) -> str:
    if not isinstance(value, str) or not _OU_ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an AWS Organizations OU id: expected 'ou-' then 4-32 lowercase "
            "letters or digits, '-', and 8-32 more (for example 'ou-ab12-cdef3456')"
        )
    return value


TargetRegion = Annotated[str, BeforeValidator(_target_region)]
OuId = Annotated[str, BeforeValidator(_ou_id)]


class Target(StrictModel):
    """An account, or an OU (StackSets mode only), and the regions it gets the application in."""

    account: AccountId | None = None
    ou: OuId | None = None
    regions: list[TargetRegion] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if (self.account is None) == (self.ou is None):
            raise ValueError("give a target either account or ou, not both and not neither")
        return self

    @property
    def name(self) -> str:
        return self.account or self.ou or ""


class Wave(StrictModel):
    """The targets of one environment, deployed together in one or more stages."""

    targets: list[Target] = Field(min_length=1)
    max_concurrent_percentage: int = Field(
        default=100,
        ge=1,
        le=100,
        description="cloudformation: the share of a wave's deployments that run at once "
        "(run-order batches); stacksets: MaxConcurrentPercentage.",
    )
    failure_tolerance_percentage: int = Field(
        default=0,
        ge=0,
        le=100,
        description="stacksets only: FailureTolerancePercentage. In cloudformation mode any "
        "failed deployment fails the stage.",
    )
    parameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,255}$")], str] = Field(
        default_factory=dict, description="Template parameters in this wave's targets."
    )


class WaveEnvironment(Environment):
    deploy: Wave


class ApplicationTemplate(StrictModel):
    template: str = Field(
        default="template.yaml", min_length=1, description="The CloudFormation template."
    )
    stack_name: StackName | None = Field(
        default=None, description="The application's stack in every target. Default: <pipeline>."
    )
    app_services: list[AppService] = Field(
        default_factory=lambda: list(DEFAULT_APP_SERVICES),
        min_length=1,
        description="What the application may create in a target (execution role) and use "
        "(permissions boundary).",
    )
    capabilities: list[Capability] = Field(
        default_factory=lambda: list(IAM_ONLY),
        min_length=1,
        description="What each deployment acknowledges.",
    )


class MultiRegionSpec(PipelineSpec[WaveEnvironment]):
    blueprint: Literal["multi-region"]
    tooling_account: AccountId = Field(
        description="The account that runs the pipeline and holds its artifact stores."
    )
    deploy_mode: Literal["cloudformation", "stacksets"] = Field(
        default="cloudformation",
        description="cloudformation: one CloudFormation action per account and region, run in "
        "that region with the target account's roles; stacksets: the CloudFormationStackSet "
        "and CloudFormationStackInstances actions.",
    )
    application: ApplicationTemplate = Field(default_factory=ApplicationTemplate)
    split_large_waves: bool = Field(
        default=True,
        description="A wave with more than 50 deployments (CodePipeline's actions per stage) "
        "becomes consecutive stages; false: that is an error.",
    )

    def target_regions(self) -> list[str]:
        """Every region the application goes to, in first-use order."""
        seen: dict[str, None] = {}
        for env in self.environments:
            for target in env.deploy.targets:
                seen.update(dict.fromkeys(target.regions))
        return list(seen)
