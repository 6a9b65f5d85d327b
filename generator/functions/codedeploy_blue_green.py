"""Custom::CodeDeployBlueGreenGroup: an EC2 blue/green deployment group that copies its Auto
Scaling group. CloudFormation cannot create one (cloudformation-coverage-roadmap#2071)."""

import boto3
import cfnresponse

codedeploy = boto3.client("codedeploy")
GONE = ("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException")


def group_settings(props: dict, groups: list) -> dict:
    return {
        "applicationName": props["ApplicationName"],
        "serviceRoleArn": props["ServiceRoleArn"],
        "deploymentConfigName": props["DeploymentConfigName"],
        "autoScalingGroups": groups,
        "deploymentStyle": {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"},
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": int(props["TerminationWaitTimeInMinutes"]),
            },
        },
        "loadBalancerInfo": {"targetGroupInfoList": [{"name": props["TargetGroupName"]}]},
        "autoRollbackConfiguration": {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        },
        "alarmConfiguration": {
            "enabled": True,
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": name} for name in props.get("Alarms", [])],
        },
        "outdatedInstancesStrategy": "UPDATE",
    }


def live_groups(app: str, name: str) -> list:
    info = codedeploy.get_deployment_group(applicationName=app, deploymentGroupName=name)
    return [group["name"] for group in info["deploymentGroupInfo"].get("autoScalingGroups", [])]


def apply(event: dict) -> str:
    props = event["ResourceProperties"]
    name = props["DeploymentGroupName"]
    kind = event["RequestType"]
    if kind == "Delete":
        try:
            codedeploy.delete_deployment_group(
                applicationName=props["ApplicationName"], deploymentGroupName=name
            )
        except codedeploy.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in GONE:
                raise
        return name
    if kind == "Create":
        settings = group_settings(props, [props["AutoScalingGroup"]])
        codedeploy.create_deployment_group(deploymentGroupName=name, **settings)
        return name
    old = event["OldResourceProperties"]
    groups = [props["AutoScalingGroup"]]
    if props["AutoScalingGroup"] == old["AutoScalingGroup"]:
        # Each deployment moves the group to a green copy under a new name; an update that
        # does not name a new group keeps that live copy rather than the retired original.
        groups = live_groups(old["ApplicationName"], old["DeploymentGroupName"]) or groups
    settings = group_settings(props, groups)
    del settings["applicationName"]
    codedeploy.update_deployment_group(
        applicationName=old["ApplicationName"],
        currentDeploymentGroupName=old["DeploymentGroupName"],
        newDeploymentGroupName=name,
        **settings,
    )
    return name


def handler(event: dict, context: object) -> None:
    physical = event.get("PhysicalResourceId", "not-created")
    try:
        physical = apply(event)
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {"Name": physical}, physical)
    except Exception as error:
        print(f"{event['RequestType']} failed: {error!r}")
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, physical, reason=str(error)[:200])
