"""The Lambda behind Custom::CodeDeployBlueGreenGroup, run against a fake CodeDeploy client."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest

from generator.components.codedeploy import BLUE_GREEN_PROVIDER
from generator.components.lambda_function import INLINE_SOURCE_LIMIT


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeCodeDeploy:
    def __init__(self, live_groups: list[str] | None = None, delete_error: str | None = None):
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.live = live_groups or []
        self.delete_error = delete_error
        self.exceptions = types.SimpleNamespace(ClientError=ClientError)

    def create_deployment_group(self, **kwargs: Any) -> None:
        self.calls.append(("create", kwargs))

    def update_deployment_group(self, **kwargs: Any) -> None:
        self.calls.append(("update", kwargs))

    def delete_deployment_group(self, **kwargs: Any) -> None:
        self.calls.append(("delete", kwargs))
        if self.delete_error:
            raise ClientError(self.delete_error)

    def get_deployment_group(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get", kwargs))
        return {"deploymentGroupInfo": {"autoScalingGroups": [{"name": n} for n in self.live]}}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Any:
    sent: list[dict[str, Any]] = []
    cfnresponse = types.ModuleType("cfnresponse")
    cfnresponse.SUCCESS, cfnresponse.FAILED = "SUCCESS", "FAILED"  # type: ignore[attr-defined]

    def send(
        event: Any, context: Any, status: str, data: Any, physical: Any, reason: Any = None
    ) -> None:
        sent.append({"status": status, "data": data, "physical": physical, "reason": reason})

    cfnresponse.send = send  # type: ignore[attr-defined]
    boto3 = types.ModuleType("boto3")
    boto3.client = lambda name: FakeCodeDeploy()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cfnresponse", cfnresponse)
    monkeypatch.setitem(sys.modules, "boto3", boto3)
    module = importlib.import_module("generator.functions.codedeploy_blue_green")
    module = importlib.reload(module)
    module.sent = sent
    return module


PROPS = {
    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:shop-codedeploy-bluegreen",
    "ApplicationName": "shop",
    "DeploymentGroupName": "shop-prod",
    "ServiceRoleArn": "arn:aws:iam::123456789012:role/pipegen/shop/CodeDeploy",
    "DeploymentConfigName": "CodeDeployDefault.HalfAtATime",
    "AutoScalingGroup": "shop-prod-asg",
    "TargetGroupName": "shop-prod",
    "Alarms": ["shop-prod-target-5xx"],
    "TerminationWaitTimeInMinutes": "60",
}


def test_source_fits_inline_lambda_limit() -> None:
    assert len(BLUE_GREEN_PROVIDER.source().encode()) <= INLINE_SOURCE_LIMIT


def test_create_makes_a_copying_blue_green_group(provider: Any) -> None:
    fake = FakeCodeDeploy()
    provider.codedeploy = fake
    provider.handler({"RequestType": "Create", "ResourceProperties": PROPS}, None)
    ((call, kwargs),) = fake.calls
    assert call == "create"
    assert kwargs["deploymentGroupName"] == "shop-prod"
    assert kwargs["autoScalingGroups"] == ["shop-prod-asg"]
    assert kwargs["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    config = kwargs["blueGreenDeploymentConfiguration"]
    assert config["greenFleetProvisioningOption"] == {"action": "COPY_AUTO_SCALING_GROUP"}
    assert config["terminateBlueInstancesOnDeploymentSuccess"]["terminationWaitTimeInMinutes"] == 60
    assert kwargs["alarmConfiguration"]["alarms"] == [{"name": "shop-prod-target-5xx"}]
    assert kwargs["loadBalancerInfo"] == {"targetGroupInfoList": [{"name": "shop-prod"}]}
    assert provider.sent == [
        {
            "status": "SUCCESS",
            "data": {"Name": "shop-prod"},
            "physical": "shop-prod",
            "reason": None,
        }
    ]


def test_update_keeps_the_live_green_copy(provider: Any) -> None:
    fake = FakeCodeDeploy(live_groups=["CodeDeploy_shop-prod_d-ABC123"])
    provider.codedeploy = fake
    changed = {**PROPS, "DeploymentConfigName": "CodeDeployDefault.OneAtATime"}
    provider.handler(
        {
            "RequestType": "Update",
            "ResourceProperties": changed,
            "OldResourceProperties": PROPS,
            "PhysicalResourceId": "shop-prod",
        },
        None,
    )
    update = dict(fake.calls)["update"]
    assert update["autoScalingGroups"] == ["CodeDeploy_shop-prod_d-ABC123"]
    assert update["currentDeploymentGroupName"] == "shop-prod"
    assert update["deploymentConfigName"] == "CodeDeployDefault.OneAtATime"


def test_update_with_a_new_group_name_takes_it(provider: Any) -> None:
    fake = FakeCodeDeploy(live_groups=["CodeDeploy_shop-prod_d-ABC123"])
    provider.codedeploy = fake
    moved = {**PROPS, "AutoScalingGroup": "shop-prod-asg-v2"}
    provider.handler(
        {
            "RequestType": "Update",
            "ResourceProperties": moved,
            "OldResourceProperties": PROPS,
            "PhysicalResourceId": "shop-prod",
        },
        None,
    )
    assert dict(fake.calls)["update"]["autoScalingGroups"] == ["shop-prod-asg-v2"]
    assert "get" not in dict(fake.calls)


def test_delete_of_a_missing_group_succeeds(provider: Any) -> None:
    provider.codedeploy = FakeCodeDeploy(delete_error="DeploymentGroupDoesNotExistException")
    provider.handler(
        {"RequestType": "Delete", "ResourceProperties": PROPS, "PhysicalResourceId": "shop-prod"},
        None,
    )
    assert provider.sent[-1]["status"] == "SUCCESS"


def test_any_other_error_is_reported_as_failed(provider: Any) -> None:
    provider.codedeploy = FakeCodeDeploy(delete_error="AccessDeniedException")
    provider.handler(
        {"RequestType": "Delete", "ResourceProperties": PROPS, "PhysicalResourceId": "shop-prod"},
        None,
    )
    assert provider.sent[-1]["status"] == "FAILED"
    assert provider.sent[-1]["physical"] == "shop-prod"
    assert "AccessDeniedException" in provider.sent[-1]["reason"]
