"""CodeDeploy lifecycle hooks of serverless: call /health on the new version before it gets
traffic (pre_traffic) and on the live alias after the shift (post_traffic).

A hook must always report a status: CodeDeploy otherwise waits an hour before it fails the
deployment. A failed check reports Failed, and CodeDeploy rolls the alias back.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

# Created on first use, so importing this module needs neither boto3 nor a region; tests
# put fakes here.
clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in clients:
        import boto3  # part of the Lambda Python runtime

        clients[service] = boto3.client(service)
    return clients[service]


def health_event() -> dict[str, Any]:
    """A synthetic API Gateway HTTP API (payload 2.0) request for GET /health."""
    return {
        "version": "2.0",
        "routeKey": "GET /health",
        "rawPath": "/health",
        "rawQueryString": "",
        "headers": {"user-agent": "codedeploy-hook"},
        "requestContext": {
            "http": {"method": "GET", "path": "/health", "sourceIp": "127.0.0.1"},
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def healthy(target: str) -> bool:
    """True when `target` (a function version or alias ARN) answers /health with 200."""
    reply = client("lambda").invoke(
        FunctionName=target,
        InvocationType="RequestResponse",
        Payload=json.dumps(health_event()).encode(),
    )
    payload = reply["Payload"].read()
    if reply.get("FunctionError"):
        LOGGER.error("%s failed: %s %s", target, reply["FunctionError"], payload[:1000])
        return False
    status = json.loads(payload or b"null")
    status = status.get("statusCode") if isinstance(status, dict) else None
    LOGGER.info("%s answered /health with %s", target, status)
    return status == 200


def check(event: dict[str, Any], target: str | None) -> str:
    """Runs the health check and reports the outcome to CodeDeploy; returns the status."""
    try:
        status = "Succeeded" if target and healthy(target) else "Failed"
    except Exception:
        LOGGER.exception("health check of %s failed", target)
        status = "Failed"
    client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return status


def pre_traffic(event: dict[str, Any], context: Any) -> dict[str, str]:
    """BeforeAllowTraffic: the new version, which has no traffic yet."""
    return {"status": check(event, os.environ.get("CurrentVersion"))}


def post_traffic(event: dict[str, Any], context: Any) -> dict[str, str]:
    """AfterAllowTraffic: the live alias, which now sends all traffic to the new version."""
    return {"status": check(event, os.environ.get("LiveAlias"))}
