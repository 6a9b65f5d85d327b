"""E9404: privileged mode only with a justification recorded in Metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import exemption, is_true, lookup, resources_of

CHECK = "privileged"


def justification(resource: Mapping[str, Any]) -> str | None:
    """`pipegen.exempt.privileged`, or `pipegen.privileged-mode` as
    generator/components/codebuild.py records a ProjectSpec's privileged_reason."""
    reason = exemption(resource, CHECK)
    if reason:
        return reason
    metadata = resource.get("Metadata")
    pipegen = metadata.get("pipegen") if isinstance(metadata, Mapping) else None
    recorded = pipegen.get("privileged-mode") if isinstance(pipegen, Mapping) else None
    return recorded.strip() if isinstance(recorded, str) and recorded.strip() else None


class CodeBuildPrivileged(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9404"
    shortdesc = "CodeBuild PrivilegedMode only with a recorded justification"
    description = (
        "An AWS::CodeBuild::Project with Environment.PrivilegedMode true records why in its "
        "Metadata: pipegen.exempt.privileged: <reason>, or pipegen.privileged-mode: <reason> "
        "(what the codebuild component writes for a privileged_reason). An empty reason does "
        "not count."
    )
    source_url = (
        "https://docs.aws.amazon.com/codebuild/latest/userguide/"
        "change-project-console.html#change-project-console-environment"
    )
    tags = ["pipegen", "guardrail", "codebuild", "privileged"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, resource, properties, base in resources_of(cfn, "AWS::CodeBuild::Project"):
            if justification(resource):
                continue
            for value, path in lookup(properties, base, "Environment", "PrivilegedMode"):
                if is_true(value):
                    matches.append(
                        RuleMatch(
                            path,
                            "PrivilegedMode is true without a justification; record it in "
                            "Metadata pipegen.exempt.privileged (or pipegen.privileged-mode)",
                        )
                    )
        return matches
