"""W9501: every Lambda function is traced with X-Ray."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, is_known, lookup, resources_of


class LambdaTracing(CloudFormationLintRule):  # type: ignore[misc]
    id = "W9501"
    shortdesc = "Lambda functions set TracingConfig.Mode: Active"
    description = "Every AWS::Lambda::Function sets TracingConfig.Mode to Active (X-Ray)."
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html"
    tags = ["pipegen", "guardrail", "lambda", "observability"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::Lambda::Function"):
            for mode, path in lookup(properties, base, "TracingConfig", "Mode"):
                if mode is MISSING:
                    matches.append(
                        RuleMatch(path, "Function is not traced: set TracingConfig.Mode to Active")
                    )
                elif is_known(mode) and mode != "Active":
                    matches.append(RuleMatch(path, f"TracingConfig.Mode is {mode!r}; set Active"))
        return matches
