"""serverless: the HTTP API behind API Gateway (payload format 2.0)."""

from __future__ import annotations

import json
import os
from typing import Any

APP = "serverless"
# Where the application keeps its data (the stack's DynamoDB table); /health never touches it.
TABLE_NAME = os.environ.get("TABLE_NAME", "")


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    path = event.get("rawPath", "/")
    if method != "GET":
        return response(405, {"message": f"{method} is not allowed"})
    if path == "/health":
        return response(200, {"status": "ok"})
    if path == "/":
        return response(
            200,
            {
                "app": APP,
                "environment": os.environ.get("ENVIRONMENT", "unknown"),
            },
        )
    return response(404, {"message": f"{path} not found"})
