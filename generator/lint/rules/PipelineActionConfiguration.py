"""E9604: every CodePipeline action matches its provider's configuration schema."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import UNKNOWN
from generator.lint.rules._pipeline import (
    Action,
    ActionSchema,
    Bounds,
    did_you_mean,
    pipelines,
    schema_for,
    text,
    where,
    whole_number,
)


class PipelineActionConfiguration(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9604"
    shortdesc = "Pipeline actions match their provider's configuration schema"
    description = (
        "Each action of an AWS::CodePipeline::Pipeline whose provider is in "
        "generator/data/action_configurations.yaml (taken from the CodePipeline action "
        "reference) has a category the provider takes, every required configuration key (also "
        "those a mode requires, such as ChangeSetName for CHANGE_SET_REPLACE), no unknown key, "
        "enumerated values from their lists, numbers in range, artifact keys that name one of "
        "its input artifacts, and as many input and output artifacts as the provider takes. "
        "Actions of other providers are skipped."
    )
    source_url = "https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference.html"
    tags = ["pipegen", "semantics", "codepipeline", "actions"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for pipeline in pipelines(cfn):
            for action in pipeline.actions:
                schema, schemas = schema_for(action)
                if schema is None:
                    if schemas and isinstance(action.category, str):
                        categories = sorted({c for s in schemas for c in s.categories})
                        at = [*action.path, "ActionTypeId", "Category"]
                        matches.append(
                            RuleMatch(
                                at,
                                f"{where(at)}: {action.label}: the {action.provider} action "
                                f"is not a {action.category} action; set Category to "
                                f"{' or '.join(categories)} ({schemas[0].source})",
                            )
                        )
                    continue
                self._check(action, schema, matches)
        return matches

    def _report(self, matches: list[RuleMatch], path: list[Any], problem: str, fix: str) -> None:
        matches.append(RuleMatch(path, f"{where(path)}: {problem}; {fix}"))

    def _check(self, action: Action, schema: ActionSchema, matches: list[RuleMatch]) -> None:
        configuration = action.configuration
        source = f"({schema.source})"
        label = f"{action.label} ({schema.provider})"
        inputs = action.artifacts("InputArtifacts")
        input_names = (
            {a.name for a in inputs if isinstance(a.name, str)} if inputs is not None else None
        )
        input_bounds = schema.input_artifacts
        if configuration is not None:
            config_path = action.configuration_path
            required = list(schema.required)
            for condition in schema.when:
                value = action.setting_text(condition.key)
                if value in condition.values:
                    required += [k for k in condition.require if k not in required]
                    if condition.input_artifacts is not None:
                        input_bounds = condition.input_artifacts
            for key in required:
                if key not in configuration:
                    why = "" if key in schema.required else self._why(action, schema, key)
                    self._report(
                        matches,
                        config_path,
                        f"{label} has no {key}{why}",
                        f"set Configuration.{key} {source}",
                    )
            for key in configuration:
                if key in schema.keys or key == "Fn::If":
                    continue
                self._report(
                    matches,
                    [*config_path, key],
                    f"{label}: {key!r} is not a configuration key of {schema.provider}"
                    f"{did_you_mean(key, schema.keys)}",
                    f"use one of {', '.join(schema.keys)} {source}",
                )
            self._values(action, schema, label, source, matches)
            self._groups(action, schema, label, source, configuration, matches)
            self._artifact_keys(action, schema, label, input_names, matches)
        self._counts(action, "InputArtifacts", inputs, input_bounds, label, source, matches)
        outputs = action.artifacts("OutputArtifacts")
        self._counts(
            action, "OutputArtifacts", outputs, schema.output_artifacts, label, source, matches
        )

    def _why(self, action: Action, schema: ActionSchema, key: str) -> str:
        for condition in schema.when:
            if key in condition.require and action.setting_text(condition.key) in condition.values:
                return f", which {condition.key} {action.setting_text(condition.key)} requires"
        return ""

    def _values(
        self,
        action: Action,
        schema: ActionSchema,
        label: str,
        source: str,
        matches: list[RuleMatch],
    ) -> None:
        for key, allowed in schema.values.items():
            for value, at in action.setting(key):
                literal = text(value)
                if literal is None or literal in allowed:
                    continue
                self._report(
                    matches,
                    at,
                    f"{label}: {key} {literal!r} is not one of {', '.join(allowed)}"
                    f"{did_you_mean(literal, allowed)}",
                    f"set {key} to one of them {source}",
                )
        for key, allowed in schema.list_values.items():
            for value, at in action.setting(key):
                literal = text(value)
                if literal is None:
                    continue
                for item in (part.strip() for part in literal.split(",")):
                    if item not in allowed:
                        self._report(
                            matches,
                            at,
                            f"{label}: {key} lists {item!r}, which is not one of "
                            f"{', '.join(allowed)}{did_you_mean(item, allowed)}",
                            f"list only those, comma-separated {source}",
                        )
        for key, (low, high) in schema.ranges.items():
            for value, at in action.setting(key):
                number = whole_number(value)
                if number is None:
                    if text(value) is not None:
                        self._report(
                            matches,
                            at,
                            f"{label}: {key} {value!r} is not a whole number",
                            f"set a whole number {source}",
                        )
                    continue
                if (low is not None and number < low) or (high is not None and number > high):
                    span = f"{low} to {high}" if high is not None else f"at least {low}"
                    self._report(
                        matches,
                        at,
                        f"{label}: {key} {number} is out of range",
                        f"set {span} {source}",
                    )

    def _groups(
        self,
        action: Action,
        schema: ActionSchema,
        label: str,
        source: str,
        configuration: Any,
        matches: list[RuleMatch],
    ) -> None:
        config_path = action.configuration_path
        for group in schema.together:
            present = [k for k in group if k in configuration]
            if present and len(present) < len(group):
                missing = [k for k in group if k not in configuration]
                self._report(
                    matches,
                    config_path,
                    f"{label} sets {', '.join(present)} without {', '.join(missing)}",
                    f"set them together {source}",
                )
        if not schema.modes:
            return
        chosen = [g for g in schema.modes if any(k in configuration for k in g.keys)]
        names = " or ".join(g.name for g in schema.modes)
        if len(chosen) > 1:
            self._report(
                matches,
                config_path,
                f"{label} mixes {' and '.join(g.name for g in chosen)} keys "
                f"({', '.join(k for g in chosen for k in g.keys if k in configuration)})",
                f"use the keys of one of {names} only {source}",
            )
        elif not chosen and schema.one_mode_required and "Fn::If" not in configuration:
            options = "; ".join(f"{g.name}: {', '.join(g.requires)}" for g in schema.modes)
            self._report(
                matches,
                config_path,
                f"{label} chooses no mode ({names})",
                f"set the keys of one ({options}) {source}",
            )
        for mode in chosen if len(chosen) == 1 else ():
            missing = [k for k in mode.requires if k not in configuration]
            if missing:
                self._report(
                    matches,
                    config_path,
                    f"{label} uses {mode.name} without {', '.join(missing)}",
                    f"set {', '.join(missing)} {source}",
                )

    def _artifact_keys(
        self,
        action: Action,
        schema: ActionSchema,
        label: str,
        input_names: set[Any] | None,
        matches: list[RuleMatch],
    ) -> None:
        if input_names is None:
            return
        for key in (*schema.artifact_keys, *schema.artifact_path_keys):
            for value, at in action.setting(key):
                if not isinstance(value, str) or "#{" in value:
                    continue  # a variable is resolved at run time
                if key in schema.artifact_path_keys:
                    if "::" not in value:
                        self._report(
                            matches,
                            at,
                            f"{label}: {key} {value!r} is not ArtifactName::path",
                            f"write it as <input artifact>::<file> ({schema.source})",
                        )
                        continue
                    value = value.split("::", 1)[0]
                if value in input_names:
                    continue
                known = sorted(n for n in input_names if isinstance(n, str))
                fix = (
                    f"name one of its InputArtifacts {known} or add {value!r} to them"
                    if known
                    else f"add {value!r} to its InputArtifacts"
                )
                self._report(
                    matches,
                    at,
                    f"{label}: {key} names artifact {value!r}, which is not an input artifact "
                    f"of the action{did_you_mean(value, known)}",
                    fix,
                )

    def _counts(
        self,
        action: Action,
        key: str,
        artifacts: Any,
        bounds: Bounds,
        label: str,
        source: str,
        matches: list[RuleMatch],
    ) -> None:
        if artifacts is None or any(a.name is UNKNOWN for a in artifacts):
            return
        count = len(artifacts)
        if bounds.allows(count):
            return
        at = [*action.path, key] if key in action.body else action.path
        kind = "input" if key == "InputArtifacts" else "output"
        self._report(
            matches,
            at,
            f"{label} has {count} {kind} artifact{'s' if count != 1 else ''}; it takes {bounds}",
            f"{'add' if count < bounds.minimum else 'remove'} {key} entries {source}",
        )
