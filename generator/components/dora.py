"""DORA metrics: a hardened Lambda that EventBridge invokes when an execution of the pipeline
ends, publishing deployment frequency, lead time for changes, change failure rate and time to
restore as CloudWatch metrics; and the dashboard widgets that chart them.

Its code is `generator/functions/dora_metrics.py`, tested on its own. Metrics go to the
pipeline's namespace `pipegen/<pipeline>` (the monitoring component's), with dimension
`Pipeline`; the role may put metrics into that namespace only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs import cloudwatch as cw
from awacs import codepipeline as cp
from awacs.aws import Condition, StringEquals
from troposphere import GetAtt, awslambda, events

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.iam import RoleBuilder
from generator.components.lambda_function import FunctionSpec, function_role, hardened_function
from generator.components.notifications import PIPELINE_EXECUTION
from generator.naming import Names

DAY = 86400
DIMENSION = "Pipeline"
# What dora_metrics.py publishes: name -> unit.
METRICS = {
    "Deployments": "Count",
    "DeploymentFailures": "Count",
    "LeadTimeForChanges": "Seconds",
    "TimeToRestore": "Seconds",
}


def metric_namespace(names: Names) -> str:
    """The pipeline's own namespace, as the monitoring component's metric filters use."""
    return f"pipegen/{names.pipeline}"


def dora_function(names: Names, production_stage: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id="DoraMetrics",
        purpose="dora-metrics",
        description=f"Publishes the DORA metrics of pipeline {names.pipeline} as executions end",
        module="dora_metrics.py",
        variables={
            "PIPELINE_NAME": names.pipeline,
            "PRODUCTION_STAGE": production_stage,
            "METRIC_NAMESPACE": metric_namespace(names),
        },
    )


def dora_role(names: Names, function: FunctionSpec, key_arn: Any) -> RoleBuilder:
    """Reads this pipeline's executions only; puts metrics into its namespace only."""
    role = function_role(names, function, key_arn)
    role.allow(
        "ReadThisPipelinesExecutions",
        [cp.GetPipelineExecution, cp.ListPipelineExecutions, cp.ListActionExecutions],
        [names.pipeline_arn()],
    )
    role.allow(
        "PublishDoraMetrics",
        [cw.PutMetricData],
        ["*"],
        Condition(StringEquals({"cloudwatch:namespace": metric_namespace(names)})),
    )
    return role


@dataclass(frozen=True)
class DoraResources:
    function_arn: Any  # inside the stack given to dora_metrics
    rule_arn: Any


def dora_metrics(
    stack: ChildStack,
    names: Names,
    *,
    key_arn: StackValue,
    production_stage: str,
    log_retention_days: int,
    role_arn: Exported | None = None,
) -> DoraResources:
    """The function, its log group and dead-letter queue, the rule on this pipeline's finished
    executions and the permission that lets that rule invoke it.

    `production_stage`: the last deploy stage's name. `role_arn`: the function's role, built
    elsewhere from `dora_role` (for example in the IAM stack); None builds it in `stack`.
    """
    function = dora_function(names, production_stage)
    key = stack.use(key_arn)
    if role_arn is None:
        built = dora_role(names, function, key).build(stack)
        role_arn = stack.export(
            "DoraMetricsRoleArn", built, f"Role of the DORA metrics function of {names.pipeline}"
        )
    function_arn = hardened_function(stack, names, function, role_arn, key, log_retention_days)
    rule = stack.add(
        events.Rule(
            "DoraMetricsRule",
            # No Name: CloudFormation names it after the stack, as Service Catalog launch roles
            # require (rule/SC-...); the permission below refers to it by ARN.
            Description=f"Finished executions of pipeline {names.pipeline} to its DORA metrics",
            State="ENABLED",
            EventPattern={
                "source": ["aws.codepipeline"],
                "detail-type": [PIPELINE_EXECUTION],
                "detail": {"pipeline": [names.pipeline], "state": ["SUCCEEDED", "FAILED"]},
            },
            Targets=[events.Target(Id="DoraMetricsFunction", Arn=function_arn)],
        )
    )
    stack.add(
        awslambda.Permission(
            "DoraMetricsInvokePermission",
            Action="lambda:InvokeFunction",
            FunctionName=function_arn,
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
        )
    )
    return DoraResources(function_arn=function_arn, rule_arn=GetAtt(rule, "Arn"))


# -- dashboard widgets -----------------------------------------------------------------------


def _metric(names: Names, metric: str, **options: Any) -> list[Any]:
    return [metric_namespace(names), metric, DIMENSION, names.pipeline, options]


def _widget(title: str, region: Any, metrics: list[Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": region,
            "metrics": metrics,
            "period": DAY,
            "view": "timeSeries",
            "stacked": False,
            **properties,
        },
    }


def _hours(names: Names, metric: str, label: str) -> list[Any]:
    """Average and 90th percentile of a duration metric in seconds, charted in hours."""
    prefix = metric[0].lower()
    return [
        _metric(names, metric, id=f"{prefix}avg", stat="Average", visible=False),
        _metric(names, metric, id=f"{prefix}p90", stat="p90", visible=False),
        [{"id": f"{prefix}h", "expression": f"{prefix}avg / 3600", "label": f"{label} (avg)"}],
        [{"id": f"{prefix}h90", "expression": f"{prefix}p90 / 3600", "label": f"{label} (p90)"}],
    ]


def change_failure_rate(deployments: str, failures: str) -> str:
    """Percent of the executions that reached production and failed there, from the Sums of the
    two metrics. Every such execution puts a datapoint into both (1 or 0), so a period with any
    has both and a period without has neither: never a division by zero."""
    return f"100 * {failures} / ({deployments} + {failures})"


def dora_widgets(names: Names, *, region: Any) -> list[dict[str, Any]]:
    """Four metric widgets, one a day per point, without positions (a dashboard lays them out).
    `region`: the widgets' region value as the dashboard body encodes it (for the monitoring
    dashboard, its `REGION`)."""
    return [
        _widget(
            "Deployment frequency (production deployments a day)",
            region,
            [_metric(names, "Deployments", stat="Sum", label="Deployments")],
            stat="Sum",
            view="bar",
        ),
        _widget(
            "Lead time for changes (hours, commit to production)",
            region,
            _hours(names, "LeadTimeForChanges", "Lead time"),
            yAxis={"left": {"min": 0}},
        ),
        _widget(
            "Change failure rate (%)",
            region,
            [
                _metric(names, "Deployments", id="deployments", stat="Sum", visible=False),
                _metric(names, "DeploymentFailures", id="failures", stat="Sum", visible=False),
                [
                    {
                        "id": "rate",
                        "expression": change_failure_rate("deployments", "failures"),
                        "label": "Change failure rate",
                    }
                ],
            ],
            yAxis={"left": {"min": 0, "max": 100}},
        ),
        _widget(
            "Time to restore (hours, failed production to next success)",
            region,
            _hours(names, "TimeToRestore", "Time to restore"),
            yAxis={"left": {"min": 0}},
        ),
    ]
