"""W9502: every Lambda function reserves (and so caps) its concurrency."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class LambdaReservedConcurrency(CloudFormationLintRule):  # type: ignore[misc]
    id = "W9502"
    shortdesc = "Lambda functions set ReservedConcurrentExecutions"
    description = (
        "Every AWS::Lambda::Function sets ReservedConcurrentExecutions, so that it can neither "
        "starve the account's other functions nor be starved by them."
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
    tags = ["pipegen", "guardrail", "lambda", "reliability"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        return [
            RuleMatch(path, "Function sets no ReservedConcurrentExecutions")
            for _, _, properties, base in resources_of(cfn, "AWS::Lambda::Function")
            for value, path in lookup(properties, base, "ReservedConcurrentExecutions")
            if value is MISSING
        ]
