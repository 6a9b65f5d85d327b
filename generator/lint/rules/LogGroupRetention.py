"""E9303: every log group keeps its events at least a configurable number of days."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, is_known, lookup, resources_of

DEFAULT_MINIMUM = 365


class LogGroupRetention(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9303"
    shortdesc = "Log groups set RetentionInDays to at least the configured minimum"
    description = (
        "Every AWS::Logs::LogGroup sets RetentionInDays to at least min_retention_days "
        f"(default {DEFAULT_MINIMUM}; configure with "
        "--configure-rule E9303:min_retention_days=<days>). A value from a parameter or "
        "another intrinsic function cannot be known and is accepted."
    )
    source_url = (
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/"
        "Working-with-log-groups-and-streams.html#SettingLogRetention"
    )
    tags = ["pipegen", "guardrail", "logs", "retention"]

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {
            "min_retention_days": {"default": DEFAULT_MINIMUM, "type": "integer"},
        }
        self.configure()

    def match(self, cfn: Any) -> list[RuleMatch]:
        minimum = int(self.config["min_retention_days"])
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::Logs::LogGroup"):
            for value, path in lookup(properties, base, "RetentionInDays"):
                if value is MISSING:
                    matches.append(
                        RuleMatch(
                            path, f"Log group sets no RetentionInDays; set at least {minimum} days"
                        )
                    )
                    continue
                if not is_known(value) or isinstance(value, bool):
                    continue
                try:
                    days = int(value)
                except (TypeError, ValueError):
                    continue
                if days < minimum:
                    matches.append(
                        RuleMatch(
                            path,
                            f"RetentionInDays is {days}; keep log events at least {minimum} days",
                        )
                    )
        return matches
