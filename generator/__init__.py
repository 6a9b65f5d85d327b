"""pipegen: pipeline specs in, lint-clean CloudFormation nested stacks out."""

__version__ = "0.3.0"
