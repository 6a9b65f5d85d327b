"""E9606: every region a pipeline acts in has an artifact store that its actions can use, and
only actions that can run in another region do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cfnlint.helpers import REGIONS
from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, UNKNOWN, is_intrinsic, items, lookup
from generator.lint.rules._pipeline import Pipeline, did_you_mean, pipelines, where

HERE = "HERE"  # a region that is the stack's own (Ref AWS::Region)
ALIAS_ARN = re.compile(r"^arn:[^:]+:kms:[^:]*:(\d{12}):alias/.+$")
ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


def _region(value: Any) -> Any:
    """A region name, HERE for the stack's own region, UNKNOWN for other intrinsics."""
    if isinstance(value, Mapping) and value == {"Ref": "AWS::Region"}:
        return HERE
    if isinstance(value, Mapping) and value.get("Fn::Sub") == "${AWS::Region}":
        return HERE
    if is_intrinsic(value):
        return UNKNOWN
    return value


class PipelineRegions(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9606"
    shortdesc = "Pipelines have an artifact store in every region they act in"
    description = (
        "For an AWS::CodePipeline::Pipeline: region names exist; ArtifactStores has one entry "
        "a region, including the pipeline's own region (the regions linted for), and one for "
        "every action Region; an action in another region needs ArtifactStores (a single "
        "ArtifactStore covers the pipeline's region only); Source, third-party and custom "
        "actions cannot name a Region; a store used by actions whose role is in another "
        "account identifies its KMS key by key ARN, not by alias (aliases resolve only in the "
        "key's own account)."
    )
    source_url = (
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-create-cross-region.html"
    )
    tags = ["pipegen", "semantics", "codepipeline", "regions"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        lint_regions = sorted(set(getattr(cfn, "regions", None) or ["us-east-1"]))
        for pipeline in pipelines(cfn):
            stores = self._stores(pipeline, lint_regions, matches)
            self._actions(pipeline, stores, lint_regions, matches)
            self._key_aliases(pipeline, matches)
        return matches

    def _key_aliases(self, pipeline: Pipeline, matches: list[RuleMatch]) -> None:
        accounts = set()
        for action in pipeline.actions:
            role = action.body.get("RoleArn")
            if isinstance(role, Mapping) and isinstance(role.get("Fn::Sub"), str):
                role = role["Fn::Sub"].replace("${AWS::Partition}", "aws")
            found = ROLE_ACCOUNT.match(role) if isinstance(role, str) else None
            if found:
                accounts.add(found.group(1))
        if not accounts:
            return
        keys: list[tuple[Any, list[Any]]] = []
        for single, at in pipeline.value("ArtifactStore"):
            if single is not MISSING:
                keys += list(lookup(single, at, "EncryptionKey", "Id"))
        for listed, at in pipeline.value("ArtifactStores"):
            if listed is MISSING:
                continue
            for entry, spot in items(listed, at):
                keys += list(lookup(entry, spot, "ArtifactStore", "EncryptionKey", "Id"))
        for key, at in keys:
            found = ALIAS_ARN.match(key) if isinstance(key, str) else None
            others = sorted(accounts - {found.group(1)}) if found else []
            if others:
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: the artifact key is named by its alias ARN, but actions "
                        f"run with roles of account(s) {', '.join(others)}, where the alias "
                        "does not resolve; use the key ARN (arn:...:kms:<region>:<account>:"
                        "key/<key id>)",
                    )
                )

    def _name(self, value: Any, at: list[Any], what: str, matches: list[RuleMatch]) -> bool:
        if isinstance(value, str) and value != HERE and value not in REGIONS:
            matches.append(
                RuleMatch(
                    at,
                    f"{where(at)}: {what} {value!r} is not an AWS region"
                    f"{did_you_mean(value, REGIONS)}; use a region name such as us-east-1",
                )
            )
            return False
        return True

    def _stores(
        self, pipeline: Pipeline, lint_regions: list[str], matches: list[RuleMatch]
    ) -> dict[Any, list[Any]] | None:
        """Store region -> paths; None when the pipeline uses a single ArtifactStore (or an
        intrinsic function hides the list)."""
        stores: dict[Any, list[Any]] = {}
        found = False
        for value, base in pipeline.value("ArtifactStores"):
            if value is MISSING:
                continue
            if value is UNKNOWN:
                return None
            found = True
            for entry, at in items(value, base):
                if not isinstance(entry, Mapping):
                    stores.setdefault(UNKNOWN, []).append(at)
                    continue
                for region, spot in lookup(entry, at, "Region"):
                    region = _region(region)
                    if region is MISSING:
                        continue
                    if self._name(region, spot, "ArtifactStores Region", matches):
                        stores.setdefault(region, []).append(spot)
        if not found:
            return None
        for region, paths in stores.items():
            if region is UNKNOWN:
                continue
            for at in paths[1:]:
                shown = "the pipeline's own region" if region == HERE else repr(region)
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: a second artifact store for {shown}; ArtifactStores "
                        "takes one store a region: remove the duplicate",
                    )
                )
        if UNKNOWN not in stores and HERE not in stores:
            missing = [r for r in lint_regions if r not in stores]
            if missing:
                at = [*pipeline.path, "ArtifactStores"]
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: no artifact store for the pipeline's own region "
                        f"({', '.join(missing)}); add an entry with Region: !Ref AWS::Region",
                    )
                )
        return stores

    def _actions(
        self,
        pipeline: Pipeline,
        stores: dict[Any, list[Any]] | None,
        lint_regions: list[str],
        matches: list[RuleMatch],
    ) -> None:
        for action in pipeline.actions:
            if "Region" not in action.body:
                continue
            at = [*action.path, "Region"]
            region = _region(action.body["Region"])
            if action.category == "Source":
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: {action.label} is a Source action, and source actions "
                        "cannot run in another region; remove Region",
                    )
                )
                continue
            if action.owner in ("ThirdParty", "Custom"):
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: {action.label} is a {action.owner} action, and only "
                        "AWS actions can run in another region; remove Region",
                    )
                )
                continue
            if region in (UNKNOWN, HERE, MISSING) or not self._name(
                region, at, "action Region", matches
            ):
                continue
            if stores is None:
                if "ArtifactStores" in pipeline.properties or region in lint_regions:
                    continue
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: {action.label} runs in {region}, but the pipeline has a "
                        "single ArtifactStore, which serves its own region only; use "
                        f"ArtifactStores with an entry for {region} and one for the pipeline's "
                        "region",
                    )
                )
            elif (
                region not in stores
                and UNKNOWN not in stores
                and not (HERE in stores and region in lint_regions)
            ):
                matches.append(
                    RuleMatch(
                        at,
                        f"{where(at)}: {action.label} runs in {region}, which has no "
                        f"ArtifactStores entry; add a store (bucket and key in {region}) for it",
                    )
                )
