"""E9402: every CodeBuild project states its logging, with CloudWatch Logs not disabled."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class CodeBuildLogs(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9402"
    shortdesc = "CodeBuild projects set LogsConfig with CloudWatch Logs not DISABLED"
    description = (
        "Every AWS::CodeBuild::Project sets LogsConfig, and LogsConfig.CloudWatchLogs.Status is "
        "not DISABLED (ENABLED, or CloudWatchLogs left at its enabled default)."
    )
    source_url = (
        "https://docs.aws.amazon.com/codebuild/latest/userguide/change-project-console.html"
        "#change-project-console-logs"
    )
    tags = ["pipegen", "guardrail", "codebuild", "logging"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::CodeBuild::Project"):
            for config, where in lookup(properties, base, "LogsConfig"):
                if config is MISSING:
                    matches.append(
                        RuleMatch(
                            where, "Project sets no LogsConfig; enable CloudWatchLogs explicitly"
                        )
                    )
                    continue
                for status, path in lookup(config, where, "CloudWatchLogs", "Status"):
                    if status == "DISABLED":
                        matches.append(
                            RuleMatch(
                                path,
                                "CloudWatch Logs are DISABLED for this "
                                "project; set Status to ENABLED",
                            )
                        )
        return matches
