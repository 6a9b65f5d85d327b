"""The image scan gate: ECR's scan findings checked by a CodeBuild action, or Inspector."""

from __future__ import annotations

from typing import Any, Literal

from awacs import ecr as ecr_actions
from awacs import inspector_scan

from generator.assembly.stack import ChildStack, Exported
from generator.components import codebuild
from generator.components.artifact_store import ArtifactStore
from generator.components.ecr import repository_arn, scan_findings_grants
from generator.components.grants import artifact_read, artifact_write, key_use, managed_compute_logs
from generator.components.iam import RoleBuilder, action_role
from generator.naming import Names
from generator.pipeline_plan import Step
from generator.templating import render_template

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]
SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
SBOM_ARTIFACT = "ImageSbom"


def findings_gate_project(names: Names, image: str, fail_on: Severity) -> codebuild.ProjectSpec:
    return codebuild.ProjectSpec(
        purpose="image-scan",
        description=f"Fails {names.pipeline} on ECR scan findings at or above {fail_on}",
        image=image,
        compute_type="BUILD_GENERAL1_SMALL",
        timeout_minutes=30,
        buildspec=render_template("generator", "templates/buildspecs", "image-scan-gate.yml.j2"),
        inline=True,
        reports=False,
        writes_artifacts=False,
        variables={"REPOSITORY": names.pipeline, "FAIL_ON": fail_on},
        extra_grants=scan_findings_grants(names),
    )


def inspector_thresholds(fail_on: Severity) -> dict[str, str]:
    """InspectorScan fails when a severity's count exceeds its threshold: 0 blocks it."""
    keys = {
        "CRITICAL": "CriticalThreshold",
        "HIGH": "HighThreshold",
        "MEDIUM": "MediumThreshold",
        "LOW": "LowThreshold",
    }
    blocking = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    return {keys[level]: "0" for level in blocking}


def inspector_role(
    stack: ChildStack, names: Names, store: ArtifactStore, pipeline_role: Any
) -> RoleBuilder:
    """Pull and scan the image, write the SBOM artifact, and log on managed compute."""
    role = action_role(
        "ImageScanActionRole",
        f"InspectorScan action of {names.pipeline}",
        names.pipeline,
        pipeline_role,
    )
    role.allow("ScanSbom", [inspector_scan.ScanSbom], ["*"])
    role.allow(
        "PullImageToScan",
        [
            ecr_actions.BatchGetImage,
            ecr_actions.GetDownloadUrlForLayer,
            ecr_actions.BatchCheckLayerAvailability,
        ],
        [repository_arn(names)],
    )
    bucket_arn = stack.use(store.bucket_arn)
    role.allow(*artifact_read(bucket_arn))
    role.allow(*artifact_write(bucket_arn))
    role.allow(*key_use(stack.use(store.key_arn)))
    for grant in managed_compute_logs(names):
        role.allow(*grant)
    role.allow("LogInToRegistry", [ecr_actions.GetAuthorizationToken], ["*"])
    return role


def inspector_step(names: Names, fail_on: Severity, role: Exported, image_tag: str) -> Step:
    return Step(
        name="ImageScan",
        category="Invoke",
        provider="InspectorScan",
        configuration={
            "InspectorRunMode": "ECRImageScan",
            "ECRRepositoryName": names.pipeline,
            "ImageTag": image_tag,
            **inspector_thresholds(fail_on),
        },
        role=role,
        outputs=(SBOM_ARTIFACT,),
    )
