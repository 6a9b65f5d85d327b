"""The image repository: scanned on push, immutable tags, KMS, lifecycle, pull by named roles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from awacs import ecr as ecr_actions
from awacs.aws import Allow, PolicyDocument, Principal, Statement
from troposphere import GetAtt, Sub, ecr

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.artifact_store import RETAIN
from generator.components.grants import Grant
from generator.components.iam import POLICY_VERSION
from generator.naming import Names, arn

PULL_ACTIONS = [
    ecr_actions.BatchGetImage,
    ecr_actions.GetDownloadUrlForLayer,
    ecr_actions.BatchCheckLayerAvailability,
]
PUSH_ACTIONS = [
    *PULL_ACTIONS,
    ecr_actions.InitiateLayerUpload,
    ecr_actions.UploadLayerPart,
    ecr_actions.CompleteLayerUpload,
    ecr_actions.PutImage,
]


@dataclass(frozen=True)
class ImageRepository:
    name: str
    uri: Exported


def repository_arn(names: Names) -> Sub:
    return arn("ecr", f"repository/{names.pipeline}")


def lifecycle_policy(keep_images: int) -> str:
    """Untagged layers go after a day; of the tagged images, the newest `keep_images` stay."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "Expire untagged images after one day",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 1,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the newest {keep_images} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def image_repository(
    stack: ChildStack,
    names: Names,
    *,
    key_arn: Any,
    keep_images: int,
    pullers: Sequence[StackValue],
    mutable_tags: Sequence[str] = (),
) -> ImageRepository:
    """`pullers` are the role ARNs that run the images (task execution or node roles);
    `mutable_tags` are wildcard patterns exempt from immutability (a registry build cache)."""
    props: dict[str, Any] = {
        "RepositoryName": names.pipeline,
        "ImageTagMutability": "IMMUTABLE_WITH_EXCLUSION" if mutable_tags else "IMMUTABLE",
        "ImageScanningConfiguration": ecr.ImageScanningConfiguration(ScanOnPush=True),
        "EncryptionConfiguration": ecr.EncryptionConfiguration(
            EncryptionType="KMS", KmsKey=key_arn
        ),
        "LifecyclePolicy": ecr.LifecyclePolicy(LifecyclePolicyText=lifecycle_policy(keep_images)),
    }
    if mutable_tags:
        props["ImageTagMutabilityExclusionFilters"] = [
            ecr.ImageTagMutabilityExclusionFilter(
                ImageTagMutabilityExclusionFilterType="WILDCARD",
                ImageTagMutabilityExclusionFilterValue=pattern,
            )
            for pattern in mutable_tags
        ]
    if pullers:
        props["RepositoryPolicyText"] = PolicyDocument(
            Version=POLICY_VERSION,
            Statement=[
                Statement(
                    Sid="DeploymentRolesPull",
                    Effect=Allow,
                    Principal=Principal("AWS", [stack.use(p) for p in pullers]),
                    Action=PULL_ACTIONS,
                )
            ],
        )
    repository = stack.add(ecr.Repository("ImageRepository", **props, **RETAIN))
    return ImageRepository(
        name=names.pipeline,
        uri=stack.export(
            "ImageRepositoryUri", GetAtt(repository, "RepositoryUri"), "Image repository URI"
        ),
    )


def push_grants(names: Names) -> tuple[Grant, ...]:
    """Push, and look up a tag first: tags are immutable, so a rebuild reuses the image."""
    return (
        ("PushImages", [*PUSH_ACTIONS, ecr_actions.DescribeImages], [repository_arn(names)]),
        ("LogInToRegistry", [ecr_actions.GetAuthorizationToken], ["*"]),
    )


def scan_findings_grants(names: Names) -> tuple[Grant, ...]:
    return (
        (
            "ReadScanFindings",
            [ecr_actions.DescribeImageScanFindings, ecr_actions.DescribeImages],
            [repository_arn(names)],
        ),
    )
