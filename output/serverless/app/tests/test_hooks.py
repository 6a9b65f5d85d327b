"""Unit tests of src/hooks.py with fake Lambda and CodeDeploy clients."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import hooks

EVENT = {"DeploymentId": "d-TEST", "LifecycleEventHookExecutionId": "hook-1"}


class FakeLambda:
    def __init__(self, status: int = 200, error: str | None = None):
        self.status, self.error, self.calls = status, error, []

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        reply = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps({"statusCode": self.status}).encode()),
        }
        if self.error:
            reply["FunctionError"] = self.error
        return reply


class FakeCodeDeploy:
    def __init__(self):
        self.reports = []

    def put_lifecycle_event_hook_execution_status(self, **kwargs):
        self.reports.append(kwargs)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch):
    def install(**lambda_reply):
        function, codedeploy = FakeLambda(**lambda_reply), FakeCodeDeploy()
        monkeypatch.setattr(hooks, "clients", {"lambda": function, "codedeploy": codedeploy})
        monkeypatch.setenv("CurrentVersion", "arn:aws:lambda:us-east-1:111111111111:function:x:7")
        monkeypatch.setenv("LiveAlias", "arn:aws:lambda:us-east-1:111111111111:function:x:live")
        return function, codedeploy

    return install


def test_pre_traffic_checks_the_new_version(fakes):
    function, codedeploy = fakes()
    assert hooks.pre_traffic(EVENT, None) == {"status": "Succeeded"}
    assert function.calls[0]["FunctionName"].endswith(":7")
    assert json.loads(function.calls[0]["Payload"])["rawPath"] == "/health"
    assert codedeploy.reports == [
        {"deploymentId": "d-TEST", "lifecycleEventHookExecutionId": "hook-1", "status": "Succeeded"}
    ]


def test_post_traffic_checks_the_live_alias(fakes):
    function, codedeploy = fakes()
    assert hooks.post_traffic(EVENT, None) == {"status": "Succeeded"}
    assert function.calls[0]["FunctionName"].endswith(":live")
    assert codedeploy.reports[0]["status"] == "Succeeded"


@pytest.mark.parametrize("reply", [{"status": 500}, {"error": "Unhandled"}])
def test_an_unhealthy_version_fails_the_deployment(fakes, reply):
    _, codedeploy = fakes(**reply)
    assert hooks.pre_traffic(EVENT, None) == {"status": "Failed"}
    assert codedeploy.reports[0]["status"] == "Failed"
