"""E9403: no secret-looking CodeBuild environment variable is stored as plain text."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, UNKNOWN, is_known, items, lookup, resources_of

SECRET_MARKERS = (
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "SECRET",
    "PRIVATE_KEY",
    "API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


def looks_secret(name: str) -> str | None:
    upper = name.upper().replace("-", "_")
    return next((marker for marker in SECRET_MARKERS if marker in upper), None)


class CodeBuildPlaintextSecret(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9403"
    shortdesc = "CodeBuild secrets come from Secrets Manager or Parameter Store, not PLAINTEXT"
    description = (
        "No AWS::CodeBuild::Project environment variable whose name contains "
        f"{', '.join(SECRET_MARKERS)} (case-insensitive) has Type PLAINTEXT or no Type "
        "(which means PLAINTEXT): use SECRETS_MANAGER or PARAMETER_STORE."
    )
    source_url = (
        "https://docs.aws.amazon.com/codebuild/latest/userguide/"
        "build-spec-ref.html#build-spec.env.secrets-manager"
    )
    tags = ["pipegen", "guardrail", "codebuild", "secrets"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::CodeBuild::Project"):
            for variables, where in lookup(properties, base, "Environment", "EnvironmentVariables"):
                for variable, at in items(variables, where):
                    if variable is UNKNOWN or not isinstance(variable, dict):
                        continue
                    name = variable.get("Name")
                    marker = looks_secret(name) if isinstance(name, str) else None
                    if marker is None:
                        continue
                    for kind, path in lookup(variable, at, "Type"):
                        if kind is MISSING or (is_known(kind) and kind == "PLAINTEXT"):
                            matches.append(
                                RuleMatch(
                                    path,
                                    f"Environment variable {name!r} looks like a secret "
                                    f"({marker}) but is PLAINTEXT; use SECRETS_MANAGER or "
                                    "PARAMETER_STORE",
                                )
                            )
        return matches
