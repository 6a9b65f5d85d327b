"""Constrained scalar types shared by every blueprint's spec.

Each validator raises ValueError with a message that says what is wrong and how to fix it;
the loader puts the file, line and field in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator

# Regions CodePipeline, CodeBuild and CodeDeploy all run in (commercial partition).
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ca-central-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

_PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TAG_KEY = re.compile(r"^(?![aA][wW][sS]:)[A-Za-z0-9 _.:/=+\-@]{1,128}$")


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{what} must be text, got {type(value).__name__} {value!r}")
    return str(value)


def _account_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # The spec loader keeps leading zeros as text, so a number here lost none.
        if len(str(value)) != 12:
            raise ValueError(f"{value} is not a 12-digit AWS account id")
        return str(value)
    text = _text(value, "an AWS account id")
    if not re.fullmatch(r"\d{12}", text):
        raise ValueError(f"{text!r} is not a 12-digit AWS account id")
    return text


def _region(value: Any) -> str:
    text = _text(value, "a region")
    if text not in AWS_REGIONS:
        from difflib import get_close_matches

        close = get_close_matches(text, AWS_REGIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (for example 'us-east-1')"
        raise ValueError(f"{text!r} is not an AWS region{hint}")
    return text


def _matching(pattern: re.Pattern[str], what: str, rule: str) -> Callable[[Any], str]:
    """A validator: text that fully matches `pattern`, or an error that states the rule."""

    def check(value: Any) -> str:
        text = _text(value, f"the {what}")
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a valid {what}: {rule}")
        return text

    return check


_pipeline_name = _matching(
    _PIPELINE_NAME,
    "pipeline name",
    "use 3-32 lowercase letters, digits and hyphens, starting with a letter and ending with a "
    "letter or digit (it becomes part of IAM, CodeBuild and CodeDeploy names)",
)
_environment_name = _matching(
    _ENV_NAME,
    "environment name",
    "use 1-16 lowercase letters and digits, starting with a letter (for example 'staging')",
)
_env_var_name = _matching(
    _ENV_VAR,
    "environment variable name",
    "use letters, digits and underscores, not starting with a digit",
)
_tag_key = _matching(
    _TAG_KEY,
    "tag key",
    "1-128 characters of letters, digits, spaces and _.:/=+-@, not starting with 'aws:'",
)


AccountId = Annotated[str, BeforeValidator(_account_id)]
Region = Annotated[str, BeforeValidator(_region)]
PipelineName = Annotated[str, BeforeValidator(_pipeline_name)]
EnvironmentName = Annotated[str, BeforeValidator(_environment_name)]
EnvVarName = Annotated[str, BeforeValidator(_env_var_name)]
TagKey = Annotated[str, BeforeValidator(_tag_key)]
