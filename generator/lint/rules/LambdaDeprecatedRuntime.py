"""E9504: no Lambda function uses a runtime past its deprecation date."""

from __future__ import annotations

from datetime import date
from typing import Any

from cfnlint.data import AdditionalSpecs
from cfnlint.helpers import load_resource
from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import lookup, resources_of


class LambdaDeprecatedRuntime(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9504"
    shortdesc = "Lambda functions use a runtime that is not deprecated"
    description = (
        "No AWS::Lambda::Function uses a Runtime whose deprecation date has passed, by the "
        "runtime lifecycle data cfn-lint ships for its own E2531/W2531 rules "
        "(AdditionalSpecs/LmbdRuntimeLifecycle.json). Those rules start at a later phase; "
        "this one fails from the deprecation date, before creates and updates are blocked."
    )
    source_url = (
        "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtimes-deprecated"
    )
    tags = ["pipegen", "guardrail", "lambda", "runtime"]

    def __init__(self) -> None:
        super().__init__()
        self.lifecycle: dict[str, dict[str, Any]] = load_resource(
            AdditionalSpecs, "LmbdRuntimeLifecycle.json"
        )

    def match(self, cfn: Any) -> list[RuleMatch]:
        today = date.today().isoformat()
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::Lambda::Function"):
            for runtime, path in lookup(properties, base, "Runtime"):
                data = self.lifecycle.get(runtime) if isinstance(runtime, str) else None
                deprecated = data.get("deprecated") if data else None
                if isinstance(deprecated, str) and deprecated <= today:
                    successor = data.get("successor") if data else None
                    instead = f"; move to {successor}" if successor else ""
                    matches.append(
                        RuleMatch(
                            path, f"Runtime {runtime!r} was deprecated on {deprecated}{instead}"
                        )
                    )
        return matches
