"""The per-pipeline RUNBOOK.md: the AWS CLI commands that deploy, investigate, roll back,
approve and pause this pipeline, filled in from its view (pipeline, stage, action, project,
deployment group, stack and function names, regions and accounts).

Every fenced `sh` block parses as bash on its own. A name that comes from a root parameter (an
ECS cluster chosen at launch, say) becomes a shell variable, read from the launched root stack
in the "Before you start" block; what only the operator knows (a commit, an execution id) is a
variable set to a `<placeholder>` string, which AWS rejects if it is left as is.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from generator.review.pipeline_view import ActionView, PipelineView, StageView
from generator.templating import render_template

# What `--source-revisions revisionType=` a source provider takes (StartPipelineExecution).
REVISION_TYPES = {
    "CodeStarSourceConnection": ("COMMIT_ID", "full commit id"),
    "CodeCommit": ("COMMIT_ID", "full commit id"),
    "S3": ("S3_OBJECT_VERSION_ID", "object version id"),
    "ECR": ("IMAGE_DIGEST", "image digest, sha256:..."),
}
# Characters DisableStageTransition accepts in --reason.
TRANSITION_REASON = re.compile(r"[a-zA-Z0-9!@ ().*?-]+")
_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def variable_name(parameter: str) -> str:
    """`DevClusterName` -> `DEV_CLUSTER_NAME`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter)
    return re.sub(r"[^A-Za-z0-9]+", "_", words).upper().strip("_")


@dataclass
class Shell:
    """Names as shell words. Root parameters met on the way are collected in `parameters`
    (parameter -> variable), for the block that reads them."""

    region: str
    parameters: dict[str, str] = field(default_factory=dict)

    def word(self, value: str) -> str:
        if not _PLACEHOLDER.search(value):
            return value if _SAFE.fullmatch(value) else shlex.quote(value)

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "AWS::Region":
                return self.region
            if name == "AWS::Partition":
                return "aws"
            if name == "AWS::AccountId":
                self.parameters[name] = "ACCOUNT_ID"
                return "${ACCOUNT_ID}"
            self.parameters[name] = variable_name(name)
            return f"${{{variable_name(name)}}}"

        text = _PLACEHOLDER.sub(variable, value.replace("\\", "\\\\").replace('"', '\\"'))
        return '"' + text.replace("`", "\\`") + '"'


@dataclass(frozen=True)
class Gate:
    stage: str
    action: str


def _deploys(stage: StageView) -> bool:
    return any(a.category == "Deploy" for a in stage.actions)


def _targets(action: ActionView) -> tuple[str, ...]:
    return tuple(
        v
        for v in (
            action.project,
            action.application,
            action.deployment_group,
            action.stack_name,
            action.change_set,
            action.cluster,
            action.service,
            action.function,
        )
        if v
    )


def runbook(view: PipelineView) -> str:
    """RUNBOOK.md of one pipeline."""
    stages = list(view.stages)
    source_stage = next((s for s in stages if any(a.category == "Source" for a in s.actions)), None)
    sources = [a for a in source_stage.actions if a.category == "Source"] if source_stage else []
    deploy_stages = [s for s in stages if _deploys(s)]
    production = deploy_stages[-1] if deploy_stages else stages[-1]
    later = [s for s in stages if s is not source_stage]
    gates = [Gate(s.name, a.name) for s in stages for a in s.actions if a.category == "Approval"]
    shell = Shell(view.region)
    for stage in stages:  # collect the root parameters before the page is rendered
        for action in stage.actions:
            for value in _targets(action):
                shell.word(value)
    codedeploy = {
        (a.application, a.deployment_group, a.region, a.account): (s.name, a)
        for s in stages
        for a in s.actions
        if a.deployment_group
    }
    stacks = {
        (a.stack_name, a.region, a.account): a for s in stages for a in s.actions if a.stack_name
    }
    console = (
        f"https://{view.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
        f"{view.name}/view?region={view.region}"
    )
    return render_template(
        "generator.review",
        "templates",
        "RUNBOOK.md.j2",
        view=view,
        sh=shell.word,
        parameters=shell.parameters,
        root_stack=f"{view.name}-pipeline",
        console=console,
        sources=sources,
        revision_types=REVISION_TYPES,
        production=production,
        deploy_stages=deploy_stages,
        others=[s for s in later if s is not production],
        investigated=[s for s in later if any(_targets(a) for a in s.actions)],
        gates=gates,
        codedeploy=list(codedeploy.values()),
        stacks=list(stacks.values()),
        rollback=view.pipeline_type == "V2" and view.execution_mode != "PARALLEL",
        automatic={s.name: s.on_failure for s in stages if s.on_failure},
    )
