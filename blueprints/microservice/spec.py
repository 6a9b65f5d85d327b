"""The microservice spec: the common spec plus the image, contract tests and container deploys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from generator.spec.model import (
    Environment,
    PipelineSpec,
    RollbackAlarmSettings,
    StrictModel,
)

Strategy = Literal["rolling", "canary", "linear", "all-at-once"]


class ImageScan(StrictModel):
    using: Literal["ecr-findings", "inspector"] = Field(
        default="ecr-findings",
        description="ecr-findings: a CodeBuild action waits for ECR's scan-on-push findings; "
        "inspector: CodePipeline's InspectorScan action.",
    )
    fail_on: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"] = Field(
        default="HIGH", description="Fail on findings of this severity or worse."
    )


class ContainerImage(StrictModel):
    dockerfile: str = "Dockerfile"
    context: str = "."
    container_name: str = Field(
        default="app",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$",
        description="The container in the task definition that runs the image.",
    )
    container_port: int = Field(default=8080, ge=1, le=65535)
    layer_cache: Literal["local", "registry", "none"] = Field(
        default="local",
        description="local: CodeBuild's docker layer cache; registry: a buildcache tag in the "
        "repository (buildx); none.",
    )
    keep_images: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="Images to keep. Every commit pushes one, and rollbacks redeploy older "
        "ones, so keep more than the commits between two production releases.",
    )
    scan: ImageScan = Field(default_factory=ImageScan)


class ContractTests(StrictModel):
    """Consumer-driven contract verification against a Pact broker."""

    broker_url: str = Field(pattern=r"^https?://\S+$")
    token: str = Field(min_length=1, description="Secrets Manager reference of the broker token.")
    provider: str = Field(min_length=1, description="The provider name in the broker.")
    start: list[str] = Field(
        default_factory=lambda: ["make run"],
        description="Commands that start the provider locally for verification.",
    )


class ContainerDeployment(RollbackAlarmSettings):
    """How one environment deploys: ECS rolling or blue/green traffic shifting, or EKS."""

    latency_percentile: Literal["p90", "p95", "p99"] = Field(
        default="p99", description="Created latency alarm: the percentile it watches."
    )
    strategy: Strategy | None = Field(
        default=None,
        description="rolling: the ECS deploy action; canary, linear, all-at-once: CodeDeploy "
        "blue/green. Default: rolling for the first environment, canary for the others (ECS).",
    )
    percentage: int = Field(default=10, ge=1, le=99, description="Traffic shifted per step.")
    interval_minutes: int = Field(
        default=5, ge=1, le=2880, description="Minutes between traffic steps."
    )
    termination_wait_minutes: int = Field(
        default=5, ge=0, le=2880, description="Blue/green: minutes the old task set stays."
    )
    cluster: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$",
        description="ECS: parameter default; EKS: required, the cluster name.",
    )
    service: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$",
        description="ECS service (parameter default).",
    )
    namespace: str = Field(
        default="default",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="EKS: the Kubernetes namespace the manifests go to.",
    )
    manifests: list[str] = Field(
        default_factory=lambda: ["k8s/deployment.yaml"],
        description="EKS: manifest files in the repository; $IMAGE_URI is substituted.",
    )


class MicroserviceEnvironment(Environment):
    deploy: ContainerDeployment = Field(default_factory=ContainerDeployment)


class MicroserviceSpec(PipelineSpec[MicroserviceEnvironment]):
    blueprint: Literal["microservice"]
    target: Literal["ecs", "eks"] = "ecs"
    image: ContainerImage = Field(default_factory=ContainerImage)
    contract_tests: ContractTests | None = None

    def strategy(self, index: int) -> Strategy:
        chosen = self.environments[index].deploy.strategy
        if chosen is not None:
            return chosen
        return "rolling" if index == 0 or self.target == "eks" else "canary"
