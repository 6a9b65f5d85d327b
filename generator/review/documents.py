"""The reviewable files written beside every pipeline's templates: README.md (what it does,
its parameters, roles and cost), RUNBOOK.md (the commands to operate it), pipeline.svg (the
diagram) and .taskcat.yml (a deploy test)."""

from __future__ import annotations

from generator.assembly.assemble import TemplateSet
from generator.review import cost, diagram, docs, runbook, taskcat
from generator.review.pipeline_view import pipeline_view
from generator.spec.loader import LoadedSpec

LAUNCH_NOTES = "LAUNCH.md"  # a blueprint's own launch order, when it has prerequisites


def review_documents(loaded: LoadedSpec, template_set: TemplateSet) -> dict[str, str]:
    """Relative path -> text. Pure: everything comes from the built set (and the spec's usage
    figures for the cost estimate)."""
    spec = loaded.spec
    view = pipeline_view(template_set, spec.region, spec.description)
    estimate = cost.estimate(loaded, template_set)
    return {
        "README.md": docs.readme(
            view,
            mermaid=diagram.mermaid(view),
            cost_markdown=cost.render_markdown(estimate),
            launch_notes=LAUNCH_NOTES if LAUNCH_NOTES in template_set.documents else None,
        ),
        "RUNBOOK.md": runbook.runbook(view),
        "pipeline.svg": diagram.svg(view),
        # The pipeline stack is launched in its home region only (named roles would clash).
        ".taskcat.yml": taskcat.taskcat_config(template_set, regions=[spec.region]),
    }
