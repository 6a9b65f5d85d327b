"""Helpers of component tests: a minimal spec to add a block to; stand-ins for what the
composer builds around a component (the artifact store's exports, role ARNs, a pipeline around
its steps); Fn::Sub resolved as at deploy time; and the lint gate (cfn-lint's rules and
pipegen's guardrails, plus a team's rule for --rules) run in process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from troposphere import GetAtt

from generator.assembly.stack import ChildStack, Exported
from generator.components.artifact_store import ArtifactStore
from generator.components.iam import RoleBuilder
from generator.components.pipeline import pipeline
from generator.lint.gate import LintJob, lint_one
from generator.pipeline_plan import PipelinePlan, Stage, Step

LINT_REGIONS = ("us-east-1", "eu-west-1")
# Where Fn::Sub is resolved in `substitute`.
REGION = "eu-west-1"
ACCOUNT = "123456789012"

# The artifact-store stack's exports, by name: what a component takes from it.
ARTIFACT_STORE = ArtifactStore(
    key_arn=Exported("artifact-store", "ArtifactKeyArn", "k", "Artifact key"),
    bucket_name=Exported("artifact-store", "ArtifactBucketName", "b", "Artifact bucket"),
    bucket_arn=Exported("artifact-store", "ArtifactBucketArn", "b", "Artifact bucket ARN"),
    log_bucket_name=Exported("artifact-store", "AccessLogBucketName", "l", "Log bucket"),
)

# A platform team's own cfn-lint rule, for the --rules options: E9990 on every SNS topic.
TEAM_RULE = """
from cfnlint.rules import CloudFormationLintRule, RuleMatch


class NoSnsTopics(CloudFormationLintRule):
    id = "E9990"
    shortdesc = "Team policy: no SNS topics"
    description = "This platform team sends notifications elsewhere."
    source_url = "https://example.com/policy"
    tags = ["team"]

    def match(self, cfn):
        return [
            RuleMatch(["Resources", name], f"{name}: topics are not allowed here")
            for name in cfn.get_resources(["AWS::SNS::Topic"])
        ]
"""


def spec_data(name: str, *environments: str) -> dict[str, Any]:
    """The least a web-app spec holds (a GitHub source and the named environments), for a
    test to add the block it is about."""
    return {
        "name": name,
        "blueprint": "web-app",
        "source": {"provider": "github", "repository": f"my-org/{name}"},
        "environments": [{"name": environment} for environment in environments],
    }


def resolved(value: Any) -> Any:
    """troposphere objects as the plain JSON a template holds."""
    return json.loads(json.dumps(value, default=lambda o: o.to_dict()))


def role_arn(iam: ChildStack, builder: RoleBuilder) -> Exported:
    """The role's ARN, exported by the iam stack as the composer exports it."""
    return iam.export(
        f"{builder.logical_id}Arn", GetAtt(builder.logical_id, "Arn"), builder.description
    )


def built_role(iam: ChildStack, builder: RoleBuilder) -> Exported:
    builder.build(iam)
    return role_arn(iam, builder)


def pipeline_stack(name: str, *stages: Stage, source_namespace: str | None = None) -> ChildStack:
    """The pipeline stack of `stages`, after a Source stage whose S3 action outputs `Source`."""
    source = Step(
        name="Checkout",
        category="Source",
        provider="S3",
        configuration={
            "S3Bucket": f"{name}-source-bucket",
            "S3ObjectKey": "source.zip",
            "PollForSourceChanges": "false",
        },
        outputs=("Source",),
        namespace=source_namespace,
    )
    plan = PipelinePlan(
        name=name,
        execution_mode="QUEUED",
        stages=(Stage("Source", (source,)), *stages),
        role=Exported("iam", "PipelineRoleArn", "role", "Pipeline role"),
    )
    stack = ChildStack("pipeline", f"{name}: the pipeline")
    pipeline(stack, plan, ARTIFACT_STORE)
    return stack


def lint_template(
    name: str, template: dict[str, Any], folder: Path, regions: tuple[str, ...] = LINT_REGIONS
) -> list[str]:
    """The lint gate's findings on `template`, written to `folder` as `name`.json."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(template, indent=1))
    return [str(f) for f in lint_one(LintJob(path, path.name, regions))]


def team_rules(folder: Path) -> Path:
    """`folder`, made, holding TEAM_RULE: a rules directory for --rules."""
    folder.mkdir()
    (folder / "NoSnsTopics.py").write_text(TEAM_RULE, encoding="utf-8")
    return folder


def lint_stacks(folder: Path, *stacks: ChildStack) -> list[str]:
    """The findings on every stack; each names its stack's file."""
    return [
        finding
        for stack in stacks
        for finding in lint_template(stack.name, stack.template.to_dict(), folder)
    ]


def substitute(value: Any, **variables: str) -> str:
    """What a Fn::Sub gives at deploy time in REGION and ACCOUNT (`variables` add values),
    with stand-ins for what only the stack knows: `<Name.Arn>` for attributes, `<Parameter>`
    for a Ref, `<JSON>` for another local value. Plain text is returned as it is."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    text, local = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
    known = {
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        **variables,
    }

    def resolve(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in known:
            return known[name]
        if name in local:
            stand_in = local[name]
            if isinstance(stand_in, dict) and set(stand_in) == {"Ref"}:
                return f"<{stand_in['Ref']}>"
            return f"<{json.dumps(stand_in, sort_keys=True)}>"
        if name.endswith(".Arn"):
            return f"<{name}>"
        raise AssertionError(f"Fn::Sub cannot resolve ${{{name}}}")

    return re.sub(r"\$\{(?!!)([^}]*)\}", resolve, text).replace("${!", "${")
