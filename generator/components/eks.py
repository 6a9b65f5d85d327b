"""Kubernetes on EKS through CodePipeline's native EKS deploy action (V2 pipelines only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs import ec2
from awacs import eks as eks_actions
from troposphere import Sub, eks

from generator.assembly.stack import ChildStack, Exported
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import artifact_read, key_decrypt, managed_compute_logs
from generator.components.iam import RoleBuilder, action_role
from generator.naming import Names
from generator.pipeline_plan import Step

EDIT_POLICY = "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"


@dataclass(frozen=True)
class EksTarget:
    environment: str
    cluster: str
    namespace: str
    manifests: tuple[str, ...]  # paths in the source artifact


def cluster_arn(cluster: str) -> Sub:
    return Sub(
        f"arn:${{AWS::Partition}}:eks:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{cluster}"
    )


def deploy_role(
    stack: ChildStack, names: Names, target: EksTarget, store: ArtifactStore, pipeline_role: Any
) -> RoleBuilder:
    role = action_role(
        f"{target.environment.capitalize()}DeployActionRole",
        f"EKS deploy action of {names.pipeline} into {target.environment}",
        names.pipeline,
        pipeline_role,
    )
    role.allow("DescribeThisCluster", [eks_actions.DescribeCluster], [cluster_arn(target.cluster)])
    role.allow(
        "DescribeClusterNetwork",
        [
            ec2.DescribeDhcpOptions,
            ec2.DescribeNetworkInterfaces,
            ec2.DescribeRouteTables,
            ec2.DescribeSubnets,
            ec2.DescribeSecurityGroups,
            ec2.DescribeVpcs,
        ],
        ["*"],
    )
    for grant in managed_compute_logs(names):
        role.allow(*grant)
    role.allow(*artifact_read(stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    return role


def namespace_access(stack: ChildStack, target: EksTarget, role_arn: Exported) -> None:
    """Let the action role edit this namespace only (cluster access entries, API auth mode)."""
    stack.add(
        eks.AccessEntry(
            f"{target.environment.capitalize()}ClusterAccess",
            ClusterName=target.cluster,
            PrincipalArn=stack.use(role_arn),
            Type="STANDARD",
            AccessPolicies=[
                eks.AccessPolicy(
                    PolicyArn=Sub(EDIT_POLICY),
                    AccessScope=eks.AccessScope(Type="namespace", Namespaces=[target.namespace]),
                )
            ],
        )
    )


def deploy_step(target: EksTarget, role: Exported, artifact: str, image_uri: str) -> Step:
    return Step(
        name="Deploy",
        category="Deploy",
        provider="EKS",
        configuration={
            "ClusterName": target.cluster,
            "Namespace": target.namespace,
            "ManifestFiles": ",".join(target.manifests),
        },
        role=role,
        inputs=(artifact,),
        environment=(("IMAGE_URI", image_uri),),
    )
