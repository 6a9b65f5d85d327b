"""jinja2 rendering with StrictUndefined: a missing variable is an error, never an empty string."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2


@cache
def environment(package: str, folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    # YAML-safe scalars: a JSON string is a valid YAML double-quoted scalar.
    env.filters["yaml_str"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def render_template(package: str, folder: str, template_name: str, **context: Any) -> str:
    return environment(package, folder).get_template(template_name).render(**context)
