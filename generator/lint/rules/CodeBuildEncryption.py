"""E9401: every CodeBuild project encrypts its artifacts with a customer managed key."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class CodeBuildEncryption(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9401"
    shortdesc = "CodeBuild projects set EncryptionKey"
    description = (
        "Every AWS::CodeBuild::Project sets EncryptionKey; without it CodeBuild encrypts build "
        "output with the AWS managed key for S3, which no key policy of ours governs."
    )
    source_url = "https://docs.aws.amazon.com/codebuild/latest/userguide/security-encryption.html"
    tags = ["pipegen", "guardrail", "codebuild", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::CodeBuild::Project"):
            for value, path in lookup(properties, base, "EncryptionKey"):
                if value is MISSING or value == "":
                    matches.append(
                        RuleMatch(
                            path,
                            "Project sets no EncryptionKey; set the KMS "
                            "key that encrypts its artifacts",
                        )
                    )
        return matches
