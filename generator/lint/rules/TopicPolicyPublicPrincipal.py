"""E9802: SNS topic and SQS queue policies never allow every principal."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import RESOURCE, principal_entries, statements
from generator.lint.rules._pipeline import where

TYPES = {"AWS::SNS::TopicPolicy": "topic", "AWS::SQS::QueuePolicy": "queue"}


class TopicPolicyPublicPrincipal(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9802"
    shortdesc = "SNS topic and SQS queue policies allow named principals only"
    description = (
        "An Allow statement of an AWS::SNS::TopicPolicy or AWS::SQS::QueuePolicy with "
        "Principal '*' (or AWS '*') lets any AWS account, and with some actions anyone, "
        "publish to, subscribe to or read the topic or queue; a condition does not make it "
        "safe to review. Name the service principal (events.amazonaws.com, "
        "codestar-notifications.amazonaws.com, ...) or the accounts and roles instead. "
        "NotPrincipal with Allow is flagged too."
    )
    source_url = "https://docs.aws.amazon.com/sns/latest/dg/sns-security-best-practices.html"
    tags = ["pipegen", "semantics", "sns", "sqs", "public"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, RESOURCE):
            kind = TYPES.get(statement.resource_type)
            if kind is None or not statement.is_allow():
                continue
            if "NotPrincipal" in statement.body:
                at = [*statement.path, "NotPrincipal"]
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: Allow with NotPrincipal opens the {kind} to every "
                        "principal it does not name; use Principal with the services or roles "
                        "that need it",
                    )
                )
            for principal, at in principal_entries(statement):
                if principal == "*":
                    matches.append(
                        RuleMatch(
                            at,
                            f"{where(at)}: Principal '*' lets every AWS principal use the "
                            f"{kind}; name the service principal (e.g. events.amazonaws.com) "
                            "or the account roles that need it",
                        )
                    )
        return matches
