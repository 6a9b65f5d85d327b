"""Reviewable output: what a reader of a built pipeline needs without reading its templates
(the per-pipeline README, the diagram, the semantic diff, the cost estimate, taskcat, SARIF)."""
