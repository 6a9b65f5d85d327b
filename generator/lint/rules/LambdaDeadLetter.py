"""W9503: every Lambda function keeps the events it failed to process."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class LambdaDeadLetter(CloudFormationLintRule):  # type: ignore[misc]
    id = "W9503"
    shortdesc = "Lambda functions set DeadLetterConfig.TargetArn"
    description = (
        "Every AWS::Lambda::Function sets DeadLetterConfig.TargetArn (an SQS queue or SNS "
        "topic) for asynchronous invocations that fail every retry."
    )
    source_url = (
        "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"
        "#invocation-dlq"
    )
    tags = ["pipegen", "guardrail", "lambda", "reliability"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        return [
            RuleMatch(path, "Function has no dead-letter queue: set DeadLetterConfig.TargetArn")
            for _, _, properties, base in resources_of(cfn, "AWS::Lambda::Function")
            for value, path in lookup(properties, base, "DeadLetterConfig", "TargetArn")
            if value is MISSING or value == ""
        ]
