"""Reading generated YAML back in tests: short-form intrinsics become their long form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands `!Ref`, `!GetAtt A.B`, `!Sub` and the other short forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # CloudFormation reads `!Ref` and `!Condition` without the Fn:: prefix.
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def parse(text: str) -> Any:
    return yaml.load(text, Loader=CfnLoader)


def load_template(path: Path) -> dict[str, Any]:
    return parse(path.read_text())  # type: ignore[no-any-return]
