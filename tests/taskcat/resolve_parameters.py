"""Run by taskcat's own virtualenv (.venv-taskcat, `make test` builds it from requirements.txt
beside this file), never by pipegen's: taskcat pins versions that clash with ours.

    .venv-taskcat/bin/python tests/taskcat/resolve_parameters.py PROJECT_DIR...

For each folder holding a `.taskcat.yml` and the templates it names, loads the config the way
`taskcat test run` does (taskcat's Config class, which validates it against taskcat's JSON
schema; then that schema, taskcat/cfg/config_schema.json, once more on the file alone), loads
the template and its nested children, and resolves each test's parameters in each region with
taskcat's own ParamGen, offline: the auto-bucket is named as taskcat names a regional one, and
no AWS call is made. Prints one JSON document: folder -> what taskcat made of it.
"""

from __future__ import annotations

import json
import sys
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from taskcat._config import Config
from taskcat._template_params import ParamGen

ACCOUNT_HASH = "0" * 32  # taskcat names a regional auto-bucket tcat-<hash of account>-<region>


def schema_errors(path: Path) -> list[str]:
    schema = json.loads(resources.files("taskcat").joinpath("cfg/config_schema.json").read_text())
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def describe(folder: Path) -> dict[str, Any]:
    folder = folder.resolve()
    empty = folder / ".no-such-file.yml"  # no global config, no overrides
    config = Config.create(
        project_config_path=folder / ".taskcat.yml",
        project_root=folder,
        global_config_path=empty,
        overrides_path=empty,
        env_vars={},
        uid=uuid.UUID(int=0),
    )
    project = config.config.project
    templates = config.get_templates()
    tests: dict[str, Any] = {}
    for name, test in config.config.tests.items():
        template = templates[name]
        declared = template.parameters()
        resolved = {}
        for region in test.regions or []:
            values = dict(declared)
            values.update({k: v for k, v in test.parameters.items() if k in declared})
            resolved[region] = ParamGen(
                folder,
                values,
                f"tcat-{ACCOUNT_HASH}-{region}",
                region,
                None,
                project.name,
                name,
                test.az_blacklist,
            ).results
        tests[name] = {
            "template": test.template,
            "regions": list(test.regions or []),
            "s3_regional_buckets": test.s3_regional_buckets,
            "s3_key": template.s3_key,
            "children": sorted(c.s3_key for c in template.descendents),
            "undeclared": sorted(k for k in test.parameters if k not in declared),
            "parameters": resolved,
        }
    return {
        "name": project.name,
        "schema_errors": schema_errors(folder / ".taskcat.yml"),
        "tests": tests,
    }


def main(folders: list[str]) -> None:
    print(json.dumps({folder: describe(Path(folder)) for folder in folders}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
