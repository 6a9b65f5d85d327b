"""Launch parameters of a web-app pipeline, with the console constraints and labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator.assembly.stack import RootParameter
from generator.naming import environment_group

ASG_PATTERN = r"^[A-Za-z0-9._-]{1,255}$"
TARGET_GROUP_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}"
    r"/[0-9a-f]{16}$"
)
LOAD_BALANCER_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/app/"
    r"[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)
ROLE_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"

PATTERNS = {
    "auto_scaling_group": ASG_PATTERN,
    "target_group_arn": TARGET_GROUP_PATTERN,
    "load_balancer_arn": LOAD_BALANCER_PATTERN,
    "instance_role_arn": ROLE_PATTERN,
}
EXAMPLES = {
    "auto_scaling_group": "web-prod-asg",
    "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"
    "web-prod/0123456789abcdef",
    "load_balancer_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/"
    "app/web-prod/0123456789abcdef",
    "instance_role_arn": "arn:aws:iam::123456789012:role/web-prod-instance",
}


def matches(field: str, value: str) -> bool:
    return re.fullmatch(PATTERNS[field], value) is not None


@dataclass(frozen=True)
class EnvironmentParameters:
    auto_scaling_group: RootParameter
    target_group_arn: RootParameter
    load_balancer_arn: RootParameter | None
    instance_role_arn: RootParameter | None


def environment_parameters(
    environment: str,
    *,
    blue_green: bool,
    creates_alarms: bool,
    defaults: dict[str, str | None],
) -> EnvironmentParameters:
    prefix = environment.capitalize()
    group = environment_group(environment)

    def parameter(
        suffix: str, label: str, description: str, pattern: str, constraint: str, key: str
    ) -> RootParameter:
        return RootParameter(
            name=f"{prefix}{suffix}",
            description=description,
            label=f"{environment} {label}",
            group=group,
            default=defaults.get(key),
            allowed_pattern=pattern,
            constraint_description=constraint,
            min_length=1,
        )

    return EnvironmentParameters(
        auto_scaling_group=parameter(
            "AutoScalingGroupName",
            "Auto Scaling group",
            f"Name of the Auto Scaling group that runs {environment}."
            + (
                " Blue/green deployments replace it with a copy under another name; the stack "
                "keeps following the live copy until you change this value."
                if blue_green
                else ""
            ),
            ASG_PATTERN,
            "An Auto Scaling group name: letters, digits, dots, underscores and hyphens.",
            "auto_scaling_group",
        ),
        target_group_arn=parameter(
            "TargetGroupArn",
            "target group ARN",
            f"ARN of the ALB target group in front of {environment}.",
            TARGET_GROUP_PATTERN,
            "A target group ARN: arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID.",
            "target_group_arn",
        ),
        load_balancer_arn=(
            parameter(
                "LoadBalancerArn",
                "load balancer ARN",
                f"ARN of the Application Load Balancer of {environment} (for the 5xx and "
                "latency alarms).",
                LOAD_BALANCER_PATTERN,
                "An ALB ARN: arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID.",
                "load_balancer_arn",
            )
            if creates_alarms
            else None
        ),
        instance_role_arn=(
            parameter(
                "InstanceRoleArn",
                "instance role ARN",
                f"ARN of the IAM role in the launch template of {environment}'s instances; "
                "CodeDeploy passes it to the green instances it launches.",
                ROLE_PATTERN,
                "An IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME.",
                "instance_role_arn",
            )
            if blue_green
            else None
        ),
    )
