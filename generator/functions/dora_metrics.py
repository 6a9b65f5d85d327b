"""DORA metrics of one pipeline, published to CloudWatch as its executions end.

EventBridge invokes it with the pipeline's "CodePipeline Pipeline Execution State Change" events
(SUCCEEDED, FAILED). An execution reached production when an action of PRODUCTION_STAGE (the
last deploy stage) ran in it. Environment: PIPELINE_NAME, PRODUCTION_STAGE, METRIC_NAMESPACE.

Metrics, each with dimension Pipeline, timestamped when the execution ended:
- Deployments (Count): 1 for a standard execution that reached production and succeeded, 0 for
  one that failed there. Its Sum is the deployment frequency.
- DeploymentFailures (Count): 1 for a standard execution that reached production and failed, 0
  for one that succeeded. Change failure rate: DeploymentFailures / (the two Sums added).
- LeadTimeForChanges (Seconds): from the newest source revision's commit (`created` of the
  execution's artifact revisions) to the end of its successful production deployment.
- TimeToRestore (Seconds): from the end of the first production failure after the last success
  to the success (a standard or a rollback execution) that ends the streak.
An execution that never reached production, or a failed rollback, publishes nothing.
"""

import json
import os
from datetime import datetime
from typing import Any

import boto3

clients: dict = {}  # made on first use, kept while the container is warm; tests inject theirs
PAGE_SIZE = 100
MAX_PAGES = 20  # how far back ListPipelineExecutions is read for the previous failure


def client(service: str) -> Any:
    if service not in clients:
        clients[service] = boto3.client(service)
    return clients[service]


def settings() -> dict:
    return {
        "pipeline": os.environ["PIPELINE_NAME"],
        "production": os.environ["PRODUCTION_STAGE"],
        "namespace": os.environ["METRIC_NAMESPACE"],
    }


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reached_production(pipeline: str, execution_id: str, production: str) -> bool:
    """Did any action of the production stage run in this execution?"""
    kwargs: dict = {
        "pipelineName": pipeline,
        "filter": {"pipelineExecutionId": execution_id},
        "maxResults": PAGE_SIZE,
    }
    while True:
        page = client("codepipeline").list_action_executions(**kwargs)
        details = page.get("actionExecutionDetails", [])
        if any(detail.get("stageName") == production for detail in details):
            return True
        if not page.get("nextToken"):
            return False
        kwargs["nextToken"] = page["nextToken"]


def lead_time(execution: dict, ended: datetime) -> Any:
    """Seconds from the newest commit among the source revisions to `ended`; None if no
    revision says when it was made. The newest: an unchanged second source is not this change."""
    created = [r["created"] for r in execution.get("artifactRevisions", []) if r.get("created")]
    if not created:
        return None
    seconds = (ended - max(created)).total_seconds()
    return seconds if seconds >= 0 else None


def outage_start(config: dict, execution_id: str) -> Any:
    """When production broke before `execution_id` succeeded: the end of the earliest production
    failure since the last earlier success. None when the last production outcome was a success,
    or no earlier success is within reach (production never worked: nothing to restore)."""
    kwargs: dict = {"pipelineName": config["pipeline"], "maxResults": PAGE_SIZE}
    found, start = False, None
    for _ in range(MAX_PAGES):
        page = client("codepipeline").list_pipeline_executions(**kwargs)
        # Newest first. Executions listed before this one started after it: not its past.
        for summary in page.get("pipelineExecutionSummaries", []):
            if not found:
                found = summary.get("pipelineExecutionId") == execution_id
                continue
            status = summary.get("status")
            if status == "Succeeded":
                return start
            if (
                status == "Failed"
                and summary.get("executionType", "STANDARD") == "STANDARD"
                and reached_production(
                    config["pipeline"], summary["pipelineExecutionId"], config["production"]
                )
            ):
                start = summary["lastUpdateTime"]
            # Stopped, Superseded, Cancelled, InProgress: production kept its state.
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]
    return None


def measure(event: dict, config: dict) -> tuple:
    """(metrics as (name, value, unit), what happened) for one execution event."""
    detail = event["detail"]
    execution_id, state = detail["execution-id"], detail["state"]
    ended = timestamp(event["time"])
    execution = client("codepipeline").get_pipeline_execution(
        pipelineName=config["pipeline"], pipelineExecutionId=execution_id
    )["pipelineExecution"]
    rollback = execution.get("executionType") == "ROLLBACK"
    metrics: list = []
    if state == "FAILED":
        if rollback:
            return metrics, "rollback failed"
        if not reached_production(config["pipeline"], execution_id, config["production"]):
            return metrics, "failed before production"
        metrics += [("Deployments", 0, "Count"), ("DeploymentFailures", 1, "Count")]
        return metrics, "failed in production"
    if not rollback:
        metrics += [("Deployments", 1, "Count"), ("DeploymentFailures", 0, "Count")]
        lead = lead_time(execution, ended)
        if lead is not None:
            metrics.append(("LeadTimeForChanges", lead, "Seconds"))
    start = outage_start(config, execution_id)
    if start is not None:
        metrics.append(("TimeToRestore", max(0.0, (ended - start).total_seconds()), "Seconds"))
    return metrics, "rollback succeeded" if rollback else "deployed"


def handler(event: dict, context: object) -> None:
    config = settings()
    detail = event.get("detail", {})
    if detail.get("pipeline") != config["pipeline"] or detail.get("state") not in (
        "SUCCEEDED",
        "FAILED",
    ):
        print(json.dumps({"ignored": detail.get("pipeline"), "state": detail.get("state")}))
        return
    # An error raises before anything is published, so that Lambda's retry cannot count twice.
    metrics, outcome = measure(event, config)
    if metrics:
        dimensions = [{"Name": "Pipeline", "Value": config["pipeline"]}]
        client("cloudwatch").put_metric_data(
            Namespace=config["namespace"],
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": dimensions,
                    "Timestamp": timestamp(event["time"]),
                    "Value": float(value),
                    "Unit": unit,
                }
                for name, value, unit in metrics
            ],
        )
    print(
        json.dumps(
            {
                "executionId": detail["execution-id"],
                "outcome": outcome,
                "metrics": {name: value for name, value, _ in metrics},
            }
        )
    )
