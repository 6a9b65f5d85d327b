"""E9603: stage conditions use the results, rules and rollbacks CodePipeline allows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    MISSING,
    UNKNOWN,
    PathT,
    alternatives,
    is_intrinsic,
    items,
    lookup,
)
from generator.lint.rules._pipeline import Pipeline, Stage, literal, pipelines, where

# The results each kind of condition takes (CodePipeline user guide, "Configure conditions for a
# stage", and stage retry for OnFailure).
RESULTS = {
    "BeforeEntry": ("FAIL", "SKIP"),
    "OnFailure": ("ROLLBACK", "RETRY"),
    "OnSuccess": ("ROLLBACK",),
}
ARTICLE = {"BeforeEntry": "a", "OnFailure": "an", "OnSuccess": "an"}
FAILURE_RESULTS = RESULTS["OnFailure"]  # the OnFailure block's own Result
MAX_RULES = 5
ALARM_RULE_KEYS = ("AlarmName", "AlarmStates", "WaitTime")
# The VariableCheck rule reference: all three keys are required.
VARIABLE_CHECK_KEYS = ("Variable", "Value", "Operator")
VARIABLE_CHECK_OPERATORS = ("EQ", "NE", "CONTAINS", "MATCHES")


class PipelineStageConditions(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9603"
    shortdesc = "Stage conditions use valid results, rules and rollbacks"
    description = (
        "Stage conditions of an AWS::CodePipeline::Pipeline: BeforeEntry conditions result in "
        "FAIL or SKIP, OnFailure in ROLLBACK or RETRY (its own Result RETRY with a "
        "RetryConfiguration) and OnSuccess in ROLLBACK; a condition has at most 5 rules, each "
        "with RuleTypeId Category 'Rule'; a CloudWatchAlarm rule names its AlarmName, and a "
        "VariableCheck rule has a Variable reference (#{Namespace.Name}), a Value and an "
        "Operator of EQ, NE, CONTAINS or MATCHES; the Source stage cannot roll back, and "
        "neither can a PARALLEL pipeline."
    )
    source_url = "https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-conditions.html"
    tags = ["pipegen", "semantics", "codepipeline", "stage-conditions"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for pipeline in pipelines(cfn):
            for stage in pipeline.stages:
                for kind in RESULTS:
                    if kind not in stage.body:
                        continue
                    for block, at in alternatives(stage.body[kind], [*stage.path, kind]):
                        if isinstance(block, Mapping) and "Fn::If" not in block:
                            self._block(pipeline, stage, kind, block, at, matches)
        return matches

    def _rollback(
        self, pipeline: Pipeline, stage: Stage, at: PathT, matches: list[RuleMatch]
    ) -> None:
        if stage.is_source:
            matches.append(
                RuleMatch(
                    at,
                    f"{where(at)}: {stage.label} holds the source action and cannot roll back "
                    "(there is nothing earlier to roll back to); remove the rollback from it",
                )
            )
        if "PARALLEL" in pipeline.execution_modes():
            matches.append(
                RuleMatch(
                    at,
                    f"{where(at)}: ROLLBACK in a pipeline with ExecutionMode PARALLEL, which "
                    "cannot roll back; use QUEUED or SUPERSEDED, or drop the rollback",
                )
            )

    def _block(
        self,
        pipeline: Pipeline,
        stage: Stage,
        kind: str,
        block: Mapping[str, Any],
        at: PathT,
        matches: list[RuleMatch],
    ) -> None:
        if kind == "OnFailure":
            for result, spot in lookup(block, at, "Result"):
                result = literal(result)
                if not isinstance(result, str):
                    continue
                if result not in FAILURE_RESULTS:
                    matches.append(
                        RuleMatch(
                            spot,
                            f"{where(spot)}: OnFailure Result {result!r} is not one CodePipeline "
                            "takes; set ROLLBACK or RETRY",
                        )
                    )
                elif result == "ROLLBACK":
                    self._rollback(pipeline, stage, spot, matches)
                elif result == "RETRY" and "RetryConfiguration" not in block:
                    matches.append(
                        RuleMatch(
                            spot,
                            f"{where(spot)}: OnFailure Result RETRY without a "
                            "RetryConfiguration; add RetryConfiguration: {RetryMode: "
                            "FAILED_ACTIONS or ALL_ACTIONS}",
                        )
                    )
        allowed = RESULTS[kind]
        for condition, spot in items(block.get("Conditions", MISSING), [*at, "Conditions"]):
            if not isinstance(condition, Mapping):
                continue
            for result, place in lookup(condition, spot, "Result"):
                result = literal(result)
                if result is MISSING or not isinstance(result, str):
                    continue
                if result not in allowed:
                    matches.append(
                        RuleMatch(
                            place,
                            f"{where(place)}: {ARTICLE[kind]} {kind} condition takes Result "
                            f"{' or '.join(allowed)}, not {result!r}; set Result: {allowed[0]}",
                        )
                    )
                elif result == "ROLLBACK":
                    self._rollback(pipeline, stage, place, matches)
            rules = condition.get("Rules", MISSING)
            if rules is MISSING:
                continue
            entries = list(items(rules, [*spot, "Rules"]))
            if len(entries) > MAX_RULES:
                matches.append(
                    RuleMatch(
                        [*spot, "Rules"],
                        f"{where([*spot, 'Rules'])}: {len(entries)} rules in one condition; "
                        f"a condition takes at most {MAX_RULES}: split them over conditions "
                        "or combine alarms into a composite alarm",
                    )
                )
            for rule, place in entries:
                if isinstance(rule, Mapping):
                    self._rule(rule, place, matches)

    def _rule(self, rule: Mapping[str, Any], at: PathT, matches: list[RuleMatch]) -> None:
        provider: Any = UNKNOWN
        for category, spot in lookup(rule, at, "RuleTypeId", "Category"):
            category = literal(category)
            if isinstance(category, str) and category != "Rule":
                matches.append(
                    RuleMatch(
                        spot,
                        f"{where(spot)}: RuleTypeId Category is {category!r}; the category of "
                        "every condition rule is 'Rule'",
                    )
                )
        for value, _ in lookup(rule, at, "RuleTypeId", "Provider"):
            provider = literal(value)
        if provider == "VariableCheck":
            self._variable_check(rule, at, matches)
        if provider != "CloudWatchAlarm":
            return
        configuration = rule.get("Configuration", MISSING)
        if not isinstance(configuration, Mapping):
            if configuration is MISSING:
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: a CloudWatchAlarm rule without Configuration; set "
                        "Configuration: {AlarmName: <alarm>}",
                    )
                )
            return
        config_path = [*at, "Configuration"]
        if "AlarmName" not in configuration and "Fn::If" not in configuration:
            matches.append(
                RuleMatch(
                    config_path,
                    f"{where(config_path)}: a CloudWatchAlarm rule without AlarmName; set "
                    "AlarmName to the alarm the rule watches",
                )
            )
        for key in configuration:
            if key not in ALARM_RULE_KEYS and key != "Fn::If":
                matches.append(
                    RuleMatch(
                        [*config_path, key],
                        f"{where([*config_path, key])}: a CloudWatchAlarm rule takes "
                        f"{', '.join(ALARM_RULE_KEYS)}, not {key!r}; remove it",
                    )
                )

    def _variable_check(self, rule: Mapping[str, Any], at: PathT, matches: list[RuleMatch]) -> None:
        configuration = rule.get("Configuration", MISSING)
        if not isinstance(configuration, Mapping) or is_intrinsic(configuration):
            if configuration is MISSING:
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: a VariableCheck rule without Configuration; set "
                        "Configuration: {Variable: '#{Namespace.Name}', Operator: EQ, Value: ...}",
                    )
                )
            return
        config_path = [*at, "Configuration"]
        missing = [key for key in VARIABLE_CHECK_KEYS if key not in configuration]
        if missing:
            matches.append(
                RuleMatch(
                    config_path,
                    f"{where(config_path)}: a VariableCheck rule needs {', '.join(missing)}; "
                    "set Variable (the #{Namespace.Name} to check), Operator and Value",
                )
            )
        for key in configuration:
            if key not in VARIABLE_CHECK_KEYS:
                matches.append(
                    RuleMatch(
                        [*config_path, key],
                        f"{where([*config_path, key])}: a VariableCheck rule takes "
                        f"{', '.join(VARIABLE_CHECK_KEYS)}, not {key!r}; remove it",
                    )
                )
        for value, spot in lookup(configuration, config_path, "Operator"):
            operator = literal(value)
            if isinstance(operator, str) and operator not in VARIABLE_CHECK_OPERATORS:
                matches.append(
                    RuleMatch(
                        spot,
                        f"{where(spot)}: VariableCheck Operator {operator!r} is not one of "
                        f"{', '.join(VARIABLE_CHECK_OPERATORS)}",
                    )
                )
        for value, spot in lookup(configuration, config_path, "Variable"):
            variable = literal(value)
            if isinstance(variable, str) and not re.fullmatch(r"#\{[^{}]+\.[^{}]+\}", variable):
                matches.append(
                    RuleMatch(
                        spot,
                        f"{where(spot)}: VariableCheck Variable {variable!r} is not a variable "
                        "reference, so the check compares two constants; write it as "
                        "#{Namespace.Name}, e.g. #{SourceVariables.BranchName}",
                    )
                )
