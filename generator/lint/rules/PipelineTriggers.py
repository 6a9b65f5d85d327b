"""E9602: Git triggers name a connection source action and filter in ways CodePipeline takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, UNKNOWN, is_intrinsic, items, lookup
from generator.lint.rules._pipeline import did_you_mean, literal, pipelines, where

MAX_FILTERS = 3
CONNECTION = "CodeStarSourceConnection"


class PipelineTriggers(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9602"
    shortdesc = "Pipeline triggers name a connection source action and valid filters"
    description = (
        "Each Triggers entry of an AWS::CodePipeline::Pipeline names, in GitConfiguration."
        "SourceActionName, a CodeStarSourceConnection source action of the pipeline (triggers "
        "exist only for connections, and one trigger a source action); has 1 to 3 Push and at "
        "most 3 PullRequest filters; and each filter with FilePaths (or with nothing to filter "
        "on) also filters on Branches."
    )
    source_url = "https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-filter.html"
    tags = ["pipegen", "semantics", "codepipeline", "triggers"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for pipeline in pipelines(cfn):
            sources: dict[str, Any] = {}  # source action name -> its provider
            names_known = True
            for action in pipeline.actions:
                if action.category == "Source" or action.stage.index == 0:
                    if isinstance(action.name, str):
                        sources[action.name] = action.provider
                    else:
                        names_known = False
            triggered: dict[str, list[Any]] = {}
            for triggers, base in pipeline.value("Triggers"):
                if triggers is MISSING:
                    continue
                for trigger, at in items(triggers, base):
                    if not isinstance(trigger, Mapping):
                        continue
                    self._trigger(trigger, at, sources, names_known, triggered, matches)
            for name, paths in triggered.items():
                for at in paths[1:]:
                    matches.append(
                        RuleMatch(
                            at,
                            f"{where(at)}: a second trigger for source action {name!r}; "
                            "CodePipeline takes one trigger a source action: put all its "
                            "filters in one trigger",
                        )
                    )
        return matches

    def _trigger(
        self,
        trigger: Mapping[str, Any],
        at: list[Any],
        sources: dict[str, Any],
        names_known: bool,
        triggered: dict[str, list[Any]],
        matches: list[RuleMatch],
    ) -> None:
        for name, spot in lookup(trigger, at, "GitConfiguration", "SourceActionName"):
            name = literal(name)
            if not isinstance(name, str):
                continue
            triggered.setdefault(name, []).append(spot)
            if name not in sources:
                if names_known:
                    matches.append(
                        RuleMatch(
                            spot,
                            f"{where(spot)}: SourceActionName {name!r} names no source action "
                            f"of the pipeline{did_you_mean(name, sorted(sources))}; name one "
                            f"of {sorted(sources)}",
                        )
                    )
            elif sources[name] not in (CONNECTION, UNKNOWN):
                matches.append(
                    RuleMatch(
                        spot,
                        f"{where(spot)}: source action {name!r} uses {sources[name]}, but "
                        f"triggers exist only for {CONNECTION} source actions; remove the "
                        "trigger or use a connection source",
                    )
                )
        for kind in ("Push", "PullRequest"):
            for filters, spot in lookup(trigger, at, "GitConfiguration", kind):
                if filters is MISSING or filters is UNKNOWN or is_intrinsic(filters):
                    continue
                entries = list(items(filters, spot))
                if len(entries) > MAX_FILTERS:
                    matches.append(
                        RuleMatch(
                            spot,
                            f"{where(spot)}: {len(entries)} {kind} filters; a trigger takes at "
                            f"most {MAX_FILTERS}: merge their branch and path patterns",
                        )
                    )
                for entry, place in entries:
                    if not isinstance(entry, Mapping):
                        continue
                    if "Branches" in entry:
                        continue
                    if kind == "Push" and "Tags" in entry and "FilePaths" not in entry:
                        continue  # a tag filter needs no branches
                    has_paths = "with FilePaths " if "FilePaths" in entry else ""
                    matches.append(
                        RuleMatch(
                            place,
                            f"{where(place)}: a {kind} filter {has_paths}without Branches; "
                            "add Branches: {Includes: [...]} naming the branches it watches",
                        )
                    )
