"""Alarms that roll deployments back, and the helpers that point them at a target group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import Join, Select, Split, cloudwatch

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.naming import Names


@dataclass(frozen=True)
class RollbackAlarm:
    """An alarm by its physical name; `handle` is set when a stack of ours creates it, so that
    users of the alarm depend on its creation."""

    name: str
    handle: Exported | None = None

    def value_in(self, stack: ChildStack) -> Any:
        return stack.use(self.handle) if self.handle is not None else self.name


def target_group_name(target_group_arn: Any) -> Any:
    """`arn:...:targetgroup/NAME/ID` -> NAME."""
    return Select(1, Split("/", target_group_arn))


def target_group_dimension(target_group_arn: Any) -> Any:
    """`arn:...:targetgroup/NAME/ID` -> `targetgroup/NAME/ID`, the CloudWatch dimension."""
    return Select(5, Split(":", target_group_arn))


def load_balancer_dimension(load_balancer_arn: Any) -> Any:
    """`arn:...:loadbalancer/app/NAME/ID` -> `app/NAME/ID`, the CloudWatch dimension."""
    parts = Split("/", load_balancer_arn)
    return Join("/", [Select(1, parts), Select(2, parts), Select(3, parts)])


@dataclass(frozen=True)
class AlarmThresholds:
    error_5xx_count: int = 10
    latency_seconds: float = 1.0
    latency_percentile: str = "p95"


def target_group_alarms(
    stack: ChildStack,
    names: Names,
    environment: str,
    *,
    target_group_arn: StackValue,
    load_balancer_arn: StackValue,
    thresholds: AlarmThresholds,
    label: str = "target",
) -> tuple[RollbackAlarm, RollbackAlarm]:
    """5xx and latency-percentile alarms on one target group of the environment; `label`
    tells the groups of a blue/green pair apart."""
    dimensions = [
        cloudwatch.MetricDimension(
            Name="TargetGroup", Value=target_group_dimension(stack.use(target_group_arn))
        ),
        cloudwatch.MetricDimension(
            Name="LoadBalancer", Value=load_balancer_dimension(stack.use(load_balancer_arn))
        ),
    ]
    prefix = environment.capitalize()

    def alarm(logical_id: str, what: str, description: str, **metric: Any) -> RollbackAlarm:
        """A one-minute alarm, 2 of 3 datapoints breaching; missing data is not an incident."""
        name = names.alarm(environment, what)
        created = stack.add(
            cloudwatch.Alarm(
                logical_id,
                AlarmName=name,
                AlarmDescription=f"{environment}: {description}; CodeDeploy rolls back",
                Namespace="AWS/ApplicationELB",
                Dimensions=dimensions,
                Period=60,
                EvaluationPeriods=3,
                DatapointsToAlarm=2,
                TreatMissingData="notBreaching",
                **metric,
            )
        )
        return RollbackAlarm(
            name, stack.export(f"{logical_id}Name", created.ref(), f"{name} alarm")
        )

    return (
        alarm(
            f"{prefix}{label.capitalize()}5xxAlarm",
            f"{label}-5xx",
            "targets answer with 5xx",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Threshold=thresholds.error_5xx_count,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        ),
        alarm(
            f"{prefix}{label.capitalize()}LatencyAlarm",
            f"{label}-latency-{thresholds.latency_percentile}",
            f"{thresholds.latency_percentile} target response time too high",
            MetricName="TargetResponseTime",
            ExtendedStatistic=thresholds.latency_percentile,
            Threshold=thresholds.latency_seconds,
            ComparisonOperator="GreaterThanThreshold",
        ),
    )


def alarm_arns(names: Names, alarms: list[RollbackAlarm]) -> list[Any]:
    return [names.alarm_arn(alarm.name) for alarm in alarms]
