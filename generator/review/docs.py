"""The per-pipeline README.md, rendered with jinja2 from the pipeline's view."""

from __future__ import annotations

from collections.abc import Iterable

from generator.publish import quick_create_url
from generator.review.pipeline_view import PipelineView, RoleView, StatementView
from generator.templating import render_template

TEMPLATE_BUCKET_PLACEHOLDER = "MY-TEMPLATE-BUCKET"


def cell(text: object) -> str:
    """Safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def readable_resource(resource: str) -> str:
    """`arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/x` reads as
    `codebuild project/x`; the region and account are named only when they are not this
    stack's."""
    parts = _arn_parts(resource)
    if len(parts) < 6 or parts[0] != "arn":
        return resource
    _, _, service, region, account, *rest = parts
    where = [
        part
        for part, own in ((region, "${AWS::Region}"), (account, "${AWS::AccountId}"))
        if part and part != own
    ]
    suffix = f" ({', '.join(where)})" if where else ""
    return f"{service} {':'.join(rest)}{suffix}"


def _arn_parts(arn: str) -> list[str]:
    """Split on the colons that are not inside `${...}`."""
    parts, current, depth = [], "", 0
    for index, char in enumerate(arn):
        if char == "{" and arn[index - 1 : index] == "$":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == ":" and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def statement_words(statement: StatementView) -> str:
    verb = "May" if statement.effect == "Allow" else "May NOT"
    actions = ", ".join(f"`{a}`" for a in statement.actions)
    resources = ", ".join(f"`{readable_resource(r)}`" for r in statement.resources)
    text = f"{verb} {actions} on {resources}"
    if statement.conditions:
        text += ", only when " + "; ".join(f"`{c}`" for c in statement.conditions)
    return text


def assumed_by_words(role: RoleView) -> str:
    if not role.assumed_by:
        return "nobody (no trust policy)"
    return ", ".join(f"`{p}`" for p in role.assumed_by)


def summary(view: PipelineView) -> str:
    """Two sentences: what it does, and how it is guarded."""
    source = next((a for s in view.stages for a in s.actions if a.category == "Source"), None)
    tests = [
        a
        for s in view.stages
        if not s.name.startswith("Deploy")
        for a in s.actions
        if a.category == "Test"
    ]
    deploy_stages = [
        s.name.removeprefix("Deploy") for s in view.stages if s.name.startswith("Deploy")
    ]
    first = (
        f"`{view.name}` is a CodePipeline {view.pipeline_type} pipeline in {view.region} "
        f"({view.execution_mode} executions) that {source.what if source else 'starts by hand'}, "
        f"builds with CodeBuild, runs {len(tests)} test action(s) and deploys to "
        f"{_series(deploy_stages)}."
    )
    gates = sum(1 for s in view.stages for a in s.actions if a.category == "Approval")
    rollback = sum(1 for s in view.stages if s.on_failure == "ROLLBACK")
    retry = sum(1 for s in view.stages if s.on_failure == "RETRY")
    retried = f", {retry} retry" if retry else ""
    reach = ""
    if view.accounts or len(view.regions) > 1:
        reach = (
            f" It reaches {len(view.regions)} region(s) and {len(view.accounts)} other account(s)."
        )
    second = (
        f"{gates} manual approval gate(s) guard promotion; on failure {rollback} stage(s) "
        f"roll back{retried}.{reach}"
    )
    return f"{first} {second}"


def _series(items: Iterable[str]) -> str:
    names = list(items)
    if len(names) <= 1:
        return "".join(names) or "no environment"
    return ", ".join(names[:-1]) + " and " + names[-1]


def readme(
    view: PipelineView,
    *,
    mermaid: str,
    cost_markdown: str,
    launch_notes: str | None = None,
) -> str:
    """`launch_notes`: a document beside the README that must be followed first."""
    required = [p for p in view.parameters if p.default is None]
    named = any(r.named for r in view.roles)
    prefix = f"pipegen/{view.name}/"
    template_url = (
        f"https://{TEMPLATE_BUCKET_PLACEHOLDER}.s3.{view.region}.amazonaws.com/{prefix}root.yaml"
    )
    return render_template(
        "generator.review",
        "templates",
        "README.md.j2",
        view=view,
        summary=summary(view),
        mermaid=mermaid,
        cost_markdown=cost_markdown,
        launch_notes=launch_notes,
        required=required,
        capability="CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM",
        prefix=prefix,
        bucket=TEMPLATE_BUCKET_PLACEHOLDER,
        quick_create=quick_create_url(view.region, template_url, f"{view.name}-pipeline"),
        cell=cell,
        statement_words=statement_words,
        assumed_by_words=assumed_by_words,
    )
