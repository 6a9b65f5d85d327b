"""Properties of every valid spec, drawn by tests/strategies.py for every registered blueprint.

For each generated spec: the loader accepts it, it builds, the rendered templates pass the lint
gate (stock rules and guardrails, the local-root copy included, as `generator/build.py` runs
it), rendering is byte-deterministic (in process and across hash seeds through the CLI), every
Ref/GetAtt/Sub names something that exists, every parent/child parameter contract holds, and
the templates stay within CloudFormation's quotas.

Budgets come from the Hypothesis profile in tests/conftest.py (HYPOTHESIS_PROFILE=long).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import Phase, assume, event, given, settings
from hypothesis import strategies as st

from generator import writer
from generator.assembly.assemble import TemplateSet, check_contracts
from generator.blueprint import registry
from generator.errors import SpecError
from generator.lint.gate import LOCAL_ROOT_EXPECTED, LintJob, lint_all
from generator.review.documents import review_documents
from generator.spec.loader import LoadedSpec, load_spec
from tests.cfn_yaml import CfnLoader
from tests.strategies import SPECS, Spec

try:  # the quota checks the build runs; without them, the basic ones below apply
    from generator import limits
except ImportError:
    limits = None  # type: ignore[assignment]

FORMAT = "yaml"
BLUEPRINTS = sorted(registry())
LINTED = settings.default.max_examples  # per blueprint; see tests/conftest.py
# Without the lint a spec costs ~10x less: deeper profiles check 3x more specs that way. The
# default profile leaves it to the lint-gated test, which checks the same properties.
QUICK_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default") == "default"
# A lint-gated example takes ~2 s and shrinking a failure up to Hypothesis's 5 minutes a test:
# the default profile reports failures as found (the spec is printed); `long` shrinks them.
LINT_GATED = settings(
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if QUICK_PROFILE
    else settings.default.phases
)

# -- building a generated spec ----------------------------------------------------------------


class _FastCfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """tests.cfn_yaml's reading of short-form intrinsics, with libyaml's parser when present
    (templates are read back ~10 times faster)."""


_FastCfnLoader.yaml_multi_constructors = CfnLoader.yaml_multi_constructors


def parse(text: bytes) -> Any:
    return yaml.load(text, Loader=_FastCfnLoader)  # a SafeLoader: plain data and intrinsics


def write_spec(spec: Spec, folder: Path, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def load(spec: Spec, folder: Path) -> LoadedSpec:
    path = write_spec(spec, folder)
    try:
        return load_spec(path)
    except SpecError as error:  # the strategy drew an invalid spec (or the loader is wrong)
        problems = "\n".join(f"  {p}" for p in error.problems)
        pytest.fail(f"the loader rejected a generated spec:\n{problems}\n{path.read_text()}")


@dataclass(frozen=True)
class Built:
    template_set: TemplateSet
    files: dict[str, bytes]  # what `pipegen build` writes: root, stacks/, app/, documents
    local_root: bytes  # the root with local TemplateURLs, which the gate lints too

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.template_set.regions)))

    @cached_property
    def templates(self) -> dict[str, dict[str, Any]]:
        """Relative path -> the rendered template, parsed back: the root, stacks/ and any
        other template beside them (the app/ starter files and documents are not ours)."""
        return {
            relative: parse(content)
            for relative, content in self.files.items()
            if is_template(relative)
        }


def is_template(relative: str) -> bool:
    """What `generator.build.lint_staged` lints."""
    return not relative.startswith("app/") and relative.endswith((".yaml", ".json"))


def build(loaded: LoadedSpec) -> Built:
    """As `generator.build` composes a set: the templates, and the review documents written
    beside them (README.md, RUNBOOK.md, pipeline.svg, .taskcat.yml)."""
    template_set = loaded.blueprint.build(loaded.spec, FORMAT)
    template_set.documents.update(review_documents(loaded, template_set))
    return Built(
        template_set,
        writer.render_set(template_set, FORMAT),
        writer.local_root(template_set, FORMAT),
    )


# -- property 2: the lint gate ----------------------------------------------------------------

_linted: dict[str, list[str]] = {}  # content key -> findings; lint is pure in its inputs


def _content_key(contents: list[bytes], regions: tuple[str, ...], ignore: frozenset[str]) -> str:
    digest = hashlib.sha256(repr((regions, sorted(ignore))).encode())
    for content in contents:
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def lint_findings(built: Built, folder: Path, only: str | None = None) -> list[str]:
    """What `generator.build.lint_staged` checks, with the gate's stock and guardrail rules:
    every template (not app/ files or documents), and the root again with local TemplateURLs
    (cfn-lint's E3043 parent/child contract) minus the two findings expected there. `only`:
    lint that one file alone."""
    staged = folder / built.template_set.pipeline
    writer.write_tree(staged, built.files)
    local = staged / f"{writer.LOCAL_ROOT_NAME}.{FORMAT}"
    local.write_bytes(built.local_root)
    planned: list[tuple[str, LintJob]] = []
    for relative, content in built.files.items():
        if is_template(relative) and only in (None, relative):
            key = _content_key([content], built.regions, frozenset())
            planned.append((key, LintJob(staged / relative, relative, built.regions)))
    if only is None:
        children = [built.files[r] for r in sorted(built.files) if r.startswith("stacks/")]
        key = _content_key([built.local_root, *children], built.regions, LOCAL_ROOT_EXPECTED)
        planned.append((key, LintJob(local, local.name, built.regions, LOCAL_ROOT_EXPECTED)))
    todo = {key: job for key, job in planned if key not in _linted}
    # Largest first, so that the IAM stack does not start last on a worker.
    order = sorted(todo, key=lambda k: -todo[k].path.stat().st_size)
    results = lint_all([todo[k] for k in order], workers=os.cpu_count() or 1)
    for key, findings in zip(order, results, strict=True):
        _linted[key] = [str(f) for f in findings]
    return [finding for key, _ in planned for finding in _linted[key]]


# -- property 4: references -------------------------------------------------------------------

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def dangling_references(template: dict[str, Any]) -> list[str]:
    """Every Ref, GetAtt, `${X}` of a Sub, Fn::If/Condition and DependsOn that names nothing."""
    parameters = set(template.get("Parameters", {}))
    resources = set(template.get("Resources", {}))
    conditions = set(template.get("Conditions", {}))
    names = parameters | resources | PSEUDO_PARAMETERS
    problems = []
    for path, node in _walk(template, ""):
        if not isinstance(node, dict):
            continue
        if path.count(".") == 2 and path.startswith((".Resources.", ".Outputs.")):
            for target in [node["Condition"]] if "Condition" in node else []:
                if target not in conditions:
                    problems.append(f"{path}: Condition {target} is not defined")
            depends = node.get("DependsOn", []) if path.startswith(".Resources.") else []
            for target in [depends] if isinstance(depends, str) else depends:
                if target not in resources:
                    problems.append(f"{path}: DependsOn {target}, which is no resource")
        if len(node) != 1:
            continue
        ((function, value),) = node.items()
        if function == "Ref" and value not in names:
            problems.append(f"{path}: Ref {value} names nothing")
        elif function == "Fn::GetAtt":
            target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
            if target not in resources:
                problems.append(f"{path}: GetAtt {value} of no resource")
        elif function == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            for variable in SUB_VARIABLE.findall(text):
                if variable.startswith("!"):  # ${!Literal}
                    continue
                target = variable if variable in PSEUDO_PARAMETERS else variable.split(".")[0]
                if target not in names and variable not in variables:
                    problems.append(f"{path}: Sub ${{{variable}}} names nothing")
        elif function == "Fn::If" and value[0] not in conditions:
            problems.append(f"{path}: Fn::If on undefined condition {value[0]}")
        elif function == "Condition" and path.startswith(".Conditions") and value not in conditions:
            problems.append(f"{path}: Condition {value} is not defined")
    return problems


# -- property 5: parent/child contracts -------------------------------------------------------


def _child_file(resource: dict[str, Any]) -> str | None:
    url = resource.get("Properties", {}).get("TemplateURL")
    text = url["Fn::Sub"] if isinstance(url, dict) else url
    return "stacks/" + text.rsplit("stacks/", 1)[1] if isinstance(text, str) else None


def contract_problems(templates: dict[str, dict[str, Any]], root_name: str) -> list[str]:
    """Checked on the rendered files alone, independently of `check_contracts`."""
    root = templates[root_name]
    nested = {
        logical_id: resource
        for logical_id, resource in root.get("Resources", {}).items()
        if resource["Type"] == "AWS::CloudFormation::Stack"
    }
    problems = []
    files = {logical_id: str(_child_file(resource)) for logical_id, resource in nested.items()}
    if len(set(files.values())) != len(files):
        problems.append(f"a template is nested twice: {sorted(files.values())}")
    for logical_id, resource in nested.items():
        child = templates.get(files[logical_id])
        if child is None:
            problems.append(f"{logical_id}: no file {files[logical_id]}")
            continue
        declared = child.get("Parameters", {})
        passed = resource["Properties"].get("Parameters", {})
        for name, parameter in declared.items():
            if "Default" not in parameter and name not in passed:
                problems.append(f"{logical_id}: required parameter {name} is not passed")
        for name in passed:
            if name not in declared:
                problems.append(f"{logical_id}: passes {name}, which the child does not declare")
    for path, node in _walk(root, ""):
        if isinstance(node, dict) and len(node) == 1 and "Fn::GetAtt" in node:
            value = node["Fn::GetAtt"]
            target, attribute = value.split(".", 1) if isinstance(value, str) else value
            if not str(attribute).startswith("Outputs.") or target not in files:
                continue
            output = str(attribute).removeprefix("Outputs.")
            if output not in templates[files[target]].get("Outputs", {}):
                problems.append(f"{path}: {target} ({files[target]}) has no output {output}")
    return problems


# -- property 6: quotas -----------------------------------------------------------------------

MAX_TEMPLATE_BYTES = 1_000_000  # TemplateURL (S3)
MAX_ROOT_BYTES = 51_200  # TemplateBody: the root is the template people upload themselves
MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200


def basic_limit_problems(built: Built, templates: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for relative, template in templates.items():
        size = len(built.files[relative])
        limit = MAX_TEMPLATE_BYTES if relative.startswith("stacks/") else MAX_ROOT_BYTES
        if size > limit:
            problems.append(f"{relative}: {size} bytes, over {limit}")
        for section, most in (
            ("Resources", MAX_RESOURCES),
            ("Parameters", MAX_PARAMETERS),
            ("Outputs", MAX_OUTPUTS),
        ):
            count = len(template.get(section, {}))
            if count > most:
                problems.append(f"{relative}: {count} {section}, over {most}")
    return problems


def limit_problems(built: Built, templates: dict[str, dict[str, Any]]) -> list[str]:
    """generator/limits.py when it is there (the check the build runs), else the basic ones."""
    check = getattr(limits, "check_rendered", None)
    if check is None:
        return basic_limit_problems(built, templates)
    return list(check(built.template_set.pipeline, built.files))


# -- known bugs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """A valid spec pipegen cannot yet build soundly. tests/strategies.py leaves such inputs
    out (marked "known bug"); the reproducer below is a strict xfail, so it fails the suite
    once the bug is fixed (by building soundly or by rejecting the spec), as a reminder to
    let the strategies draw those inputs again."""

    what: str
    spec: str  # the smallest spec that shows it
    lint: str | None = None  # the one file whose findings show it; None: build or structure


_SOURCE = "source: {provider: github, repository: acme/app}"
_ENV = "environments: [{name: dev}]"
KNOWN_BUGS = {
    "connection-create-region": KnownBug(
        "connection: create is accepted in regions without AWS::CodeStarConnections::"
        "Connection (af-south-1, ap-east-1, ap-northeast-3, ap-south-2, ap-southeast-3, "
        "ap-southeast-4, eu-central-2, eu-south-2, il-central-1, me-central-1): E3006",
        "blueprint: web-app\nregion: eu-central-2\nsource: {provider: github, "
        f"repository: acme/app, connection: create}}\n{_ENV}",
        "stacks/source-connection.yaml",
    ),
    "cfn-reference-in-user-text": KnownBug(
        "user text is written as plain strings, and E1029 refuses ${AWS::Region} (or ${Name} "
        "of a parameter or resource of that template) outside Fn::Sub: multi-region wave "
        "parameters, description, url, branch, build and test variables, smoke_test, approval "
        "instructions, alarm names, s3 object_key, ticket_pattern, manifests, contract_tests",
        "blueprint: multi-region\ntooling_account: '111111111111'\n"
        f"{_SOURCE}\nenvironments: [{{name: dev, deploy: {{targets: "
        "[{account: '222222222222', regions: [us-east-1]}], "
        "parameters: {Bucket: 'logs-${AWS::Region}'}}}]",
        "stacks/pipeline.yaml",
    ),
    "tag-value-whitespace": KnownBug(
        "the loader's tag value check takes any white space (\\s), so a tab or line break "
        "passes it and then fails E3031 (AWS's tag characters allow only \\p{Z} spaces)",
        f'blueprint: web-app\n{_SOURCE}\ntags: {{Team: "a\\tb"}}\n{_ENV}',
        "stacks/build-projects.yaml",
    ),
    "test-secret-repeats-build-secret": KnownBug(
        "test layers get the build's secrets too, and a layer's own secret of the same name "
        "passes the loader: the project lists it twice (I3037). A different source for the "
        "name (build variable MODE, layer secret MODE) passes the lint, still defined twice",
        f"blueprint: web-app\n{_SOURCE}\n"
        "build: {secrets: [{name: NPM_TOKEN, source: secrets-manager, ref: app/npm}]}\n"
        "tests: [{kind: unit, secrets: [{name: NPM_TOKEN, source: secrets-manager, "
        f"ref: app/npm}}]}}]\n{_ENV}",
        "stacks/build-projects.yaml",
    ),
    "unused-artifact-bucket-parameter": KnownBug(
        "microservice (and multi-region) with tests: [] pass build-projects an "
        "ArtifactBucketName it never uses (W2001)",
        f"blueprint: microservice\n{_SOURCE}\ntests: []\n{_ENV}",
        "stacks/build-projects.yaml",
    ),
    "web-app-many-blue-green": KnownBug(
        "CodeDeployServiceRole's inline policy grows per environment (~750-1,000 characters "
        "a blue/green one, ~70 a rollback alarm): 6 blue/green environments (10 are allowed) "
        "pass limits.py's IAM headroom, 8 IAM's 10,240; so do 5 environments with long names, "
        "5 alarms each and 2 of them blue/green",
        f"blueprint: web-app\n{_SOURCE}\nenvironments: ["
        + ", ".join(f"{{name: e{i}, deploy: {{strategy: blue-green}}}}" for i in range(6))
        + "]",
    ),
    "microservice-many-blue-green": KnownBug(
        "each ECS blue/green environment adds ~1,300 characters to CodeDeployEcsServiceRole's "
        "inline policy: 6 of them pass limits.py's IAM headroom; 8 also make root.yaml "
        "larger than 51,200 bytes",
        f"blueprint: microservice\n{_SOURCE}\nenvironments: ["
        + ", ".join(f"{{name: e{i}, deploy: {{strategy: canary}}}}" for i in range(6))
        + "]",
    ),
    "multi-region-target-region-lint": KnownBug(
        "multi-region lints every template in every target region, so a target region "
        "without CodeBuild in cfn-lint's data (ap-east-2, ca-west-1, mx-central-1) fails "
        "E3006 on build-projects.yaml, a stack that only ever runs in the pipeline's region",
        "blueprint: multi-region\ntooling_account: '111111111111'\n"
        f"{_SOURCE}\nenvironments: [{{name: dev, deploy: {{targets: "
        "[{account: '222222222222', regions: [ca-west-1]}]}}]",
        "stacks/build-projects.yaml",
    ),
    "multi-region-pipeline-role-size": KnownBug(
        "the pipeline role's inline policy grows by ~400 characters per target region; from "
        "about 19 regions (a target may list 30) limits.py refuses IAM's 10,240",
        "blueprint: multi-region\ntooling_account: '111111111111'\n"
        f"{_SOURCE}\nenvironments: [{{name: dev, deploy: {{targets: "
        "[{account: '222222222222', regions: [af-south-1, ap-east-1, ap-northeast-1, "
        "ap-northeast-2, ap-northeast-3, ap-south-1, ap-south-2, ap-southeast-1, "
        "ap-southeast-2, ap-southeast-3, ap-southeast-4, ca-central-1, eu-central-1, "
        "eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, "
        "eu-west-3]}]}}]",
    ),
}


@pytest.mark.parametrize(
    "bug",
    [
        pytest.param(bug, id=name, marks=pytest.mark.xfail(strict=True, reason=bug.what))
        for name, bug in KNOWN_BUGS.items()
    ],
)
def test_known_bug_is_still_there(bug: KnownBug, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: demo\n{bug.spec}\n", encoding="utf-8")
    try:
        loaded = load_spec(path)
    except SpecError:
        return  # fixed by refusing the spec
    built = build(loaded)
    assert structural_problems(built) == []
    if bug.lint is not None:
        assert lint_findings(built, tmp_path, only=bug.lint) == []


# -- the properties ---------------------------------------------------------------------------


def structural_problems(built: Built) -> list[str]:
    """Properties 4 to 6 over one built set."""
    templates = built.templates
    root_name = writer.root_file(FORMAT)
    local = parse(built.local_root)
    problems = [
        f"{relative}: {problem}"
        for relative, template in {**templates, "local-root": local}.items()
        for problem in dangling_references(template)
    ]
    problems += [f"check_contracts: {p}" for p in check_contracts(built.template_set)]
    problems += [f"contract: {p}" for p in contract_problems(templates, root_name)]
    problems += [
        f"local root contract: {p}"
        for p in contract_problems({**templates, root_name: local}, root_name)
    ]
    problems += [f"limits: {p}" for p in limit_problems(built, templates)]
    return problems


def record_coverage(spec: Spec) -> None:
    """`pytest --hypothesis-show-statistics` shows what the strategies covered."""
    event(f"source {spec['source']['provider']}")
    event(f"execution_mode {spec.get('execution_mode', 'default')}")
    event(f"{len(spec['environments'])} environment(s)")
    for env in spec["environments"]:
        strategy = env.get("deploy", {}).get("strategy", "default")
        event(f"strategy {strategy}" + (f" ({spec['target']})" if "target" in spec else ""))


def test_every_blueprint_has_a_strategy() -> None:
    assert set(SPECS) == set(registry())


def assert_deterministic(spec: Spec, first: Built, folder: Path) -> None:
    """Property 3 in process: a fresh load and build of the same file, the same bytes."""
    again = build(load(spec, folder))
    assert first.files.keys() == again.files.keys()
    changed = [path for path in first.files if first.files[path] != again.files[path]]
    assert not changed, f"a second build rendered different bytes: {changed}"
    assert first.local_root == again.local_root


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
@LINT_GATED
@given(data=st.data())
def test_spec_builds_deterministically_and_passes_the_lint_gate(
    blueprint: str, data: st.DataObject
) -> None:
    """Properties 1 to 6."""
    spec = data.draw(SPECS[blueprint], label="spec")
    record_coverage(spec)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        built = build(load(spec, folder))
        assert_deterministic(spec, built, folder)
        assert structural_problems(built) == []
        assert lint_findings(built, folder) == []


@pytest.mark.skipif(QUICK_PROFILE, reason="the lint-gated test covers it; see QUICK_PROFILE")
@pytest.mark.parametrize("blueprint", BLUEPRINTS)
@settings(max_examples=LINTED * 3)
@given(data=st.data())
def test_more_specs_build_deterministically_with_sound_references_contracts_and_limits(
    blueprint: str, data: st.DataObject
) -> None:
    """Properties 1 and 3 to 6, without the lint, over more specs."""
    spec = data.draw(SPECS[blueprint], label="spec")
    record_coverage(spec)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        built = build(load(spec, folder))
        assert_deterministic(spec, built, folder)
        assert structural_problems(built) == []


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# One example by default (the simplest draw gives every spec the same name and is skipped).
@settings(LINT_GATED, max_examples=max(1, LINTED // 12))
@given(st.tuples(*(SPECS[name] for name in BLUEPRINTS)))
def test_cli_build_is_identical_across_hash_seeds(specs: tuple[Spec, ...]) -> None:
    """`pipegen build --out` of one spec per blueprint, in an interpreter whose PYTHONHASHSEED
    differs from this one's: the bytes of the in-process build, file for file."""
    assume(len({spec["name"] for spec in specs}) == len(specs))
    seed = "4242" if os.environ.get("PYTHONHASHSEED") != "4242" else "1"
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        paths = [write_spec(spec, folder, f"{spec['name']}.yaml") for spec in specs]
        out = folder / "out"
        command = [sys.executable, "-m", "generator.cli", "build", "--no-cache", "--out", str(out)]
        cli = subprocess.Popen(
            [*command, *map(str, paths)],
            cwd=folder,  # keeps any cache or lock file out of the repository
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        expected = {  # built while the CLI runs
            f"{spec['name']}/{relative}": content
            for spec, path in zip(specs, paths, strict=True)
            for relative, content in build(load_spec(path)).files.items()
        }
        log, _ = cli.communicate()
        assert cli.returncode == 0, log
        assert tree(out) == expected
