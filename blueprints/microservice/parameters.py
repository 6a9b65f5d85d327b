"""Launch parameters of a microservice pipeline: one console group per environment."""

from __future__ import annotations

from dataclasses import dataclass

from generator.assembly.stack import RootParameter
from generator.naming import environment_group

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$"
ROLE_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"
TARGET_GROUP_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}"
    r"/[0-9a-f]{16}$"
)
LISTENER_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/[A-Za-z0-9-]{1,32}"
    r"/[0-9a-f]{16}/[0-9a-f]{16}$"
)
LOAD_BALANCER_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/app/"
    r"[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)


@dataclass(frozen=True)
class EcsParameters:
    cluster: RootParameter
    service: RootParameter
    execution_role: RootParameter
    task_role: RootParameter
    blue_target_group: RootParameter | None
    green_target_group: RootParameter | None
    production_listener: RootParameter | None
    test_listener: RootParameter | None
    load_balancer: RootParameter | None


def _parameter(
    environment: str,
    suffix: str,
    label: str,
    description: str,
    pattern: str,
    constraint: str,
    default: str | None = None,
) -> RootParameter:
    return RootParameter(
        name=f"{environment.capitalize()}{suffix}",
        description=description,
        label=f"{environment} {label}",
        group=environment_group(environment),
        default=default,
        allowed_pattern=pattern,
        constraint_description=constraint,
        min_length=1,
    )


def ecs_parameters(
    environment: str,
    *,
    blue_green: bool,
    creates_alarms: bool,
    cluster: str | None,
    service: str | None,
) -> EcsParameters:
    def arn(suffix: str, label: str, description: str, pattern: str, shape: str) -> RootParameter:
        return _parameter(environment, suffix, label, description, pattern, f"An ARN: {shape}.")

    return EcsParameters(
        cluster=_parameter(
            environment,
            "ClusterName",
            "ECS cluster",
            f"Name of the ECS cluster that runs {environment}.",
            NAME_PATTERN,
            "A cluster name: letters, digits, hyphens and underscores.",
            cluster,
        ),
        service=_parameter(
            environment,
            "ServiceName",
            "ECS service",
            f"Name of the ECS service of {environment}"
            + (" (its deployment controller must be CODE_DEPLOY)." if blue_green else "."),
            NAME_PATTERN,
            "A service name: letters, digits, hyphens and underscores.",
            service,
        ),
        execution_role=arn(
            "TaskExecutionRoleArn",
            "task execution role",
            f"The task execution role of {environment}'s task definition; it pulls the image.",
            ROLE_PATTERN,
            "arn:aws:iam::ACCOUNT:role/NAME",
        ),
        task_role=arn(
            "TaskRoleArn",
            "task role",
            f"The task role of {environment}'s task definition.",
            ROLE_PATTERN,
            "arn:aws:iam::ACCOUNT:role/NAME",
        ),
        blue_target_group=arn(
            "BlueTargetGroupArn",
            "blue target group",
            f"Target group that serves {environment} now.",
            TARGET_GROUP_PATTERN,
            "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
        )
        if blue_green
        else None,
        green_target_group=arn(
            "GreenTargetGroupArn",
            "green target group",
            f"Target group that receives {environment}'s new task set.",
            TARGET_GROUP_PATTERN,
            "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
        )
        if blue_green
        else None,
        production_listener=arn(
            "ProductionListenerArn",
            "production listener",
            f"ALB listener that carries {environment}'s production traffic.",
            LISTENER_PATTERN,
            "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB/ID/ID",
        )
        if blue_green
        else None,
        test_listener=arn(
            "TestListenerArn",
            "test listener",
            f"ALB listener that reaches {environment}'s new task set before the shift.",
            LISTENER_PATTERN,
            "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB/ID/ID",
        )
        if blue_green
        else None,
        load_balancer=arn(
            "LoadBalancerArn",
            "load balancer",
            f"The ALB of {environment} (for the 5xx and latency alarms).",
            LOAD_BALANCER_PATTERN,
            "arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID",
        )
        if blue_green and creates_alarms
        else None,
    )


def node_role(environment: str) -> RootParameter:
    return _parameter(
        environment,
        "NodeRoleArn",
        "node role",
        f"IAM role of {environment}'s EKS nodes; it pulls the image.",
        ROLE_PATTERN,
        "An ARN: arn:aws:iam::ACCOUNT:role/NAME.",
    )
