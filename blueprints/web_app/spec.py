"""The web-app spec: the common spec plus how each environment deploys to EC2."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from generator.spec.model import Environment, PipelineSpec, RollbackAlarmSettings


class Ec2Deployment(RollbackAlarmSettings):
    """CodeDeploy to an Auto Scaling group behind an Application Load Balancer target group."""

    strategy: Literal["in-place", "blue-green"] | None = Field(
        default=None,
        description="in-place rolls through the group; blue-green copies it and shifts traffic. "
        "Default: blue-green for the last environment, in-place for the others.",
    )
    deployment_config: Literal["OneAtATime", "HalfAtATime", "AllAtOnce"] = Field(
        default="OneAtATime", description="How many instances CodeDeploy updates at a time."
    )
    termination_wait_minutes: int = Field(
        default=60, ge=0, le=2880, description="Blue/green: minutes the old fleet stays."
    )
    auto_scaling_group: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]{1,255}$", description="Parameter default."
    )
    target_group_arn: str | None = Field(default=None, description="Parameter default.")
    load_balancer_arn: str | None = Field(default=None, description="Parameter default.")
    instance_role_arn: str | None = Field(
        default=None, description="Parameter default (blue-green only)."
    )


class WebAppEnvironment(Environment):
    deploy: Ec2Deployment = Field(default_factory=Ec2Deployment)


class WebAppSpec(PipelineSpec[WebAppEnvironment]):
    blueprint: Literal["web-app"]

    def strategy(self, index: int) -> Literal["in-place", "blue-green"]:
        chosen = self.environments[index].deploy.strategy
        if chosen is not None:
            return chosen
        return "blue-green" if index == len(self.environments) - 1 else "in-place"
