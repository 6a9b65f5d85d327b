"""AWS limits checked before anything is written, and child stacks split to stay within them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from troposphere import GetAtt, Ref, sns

from generator import build, limits
from generator.assembly.assemble import RootOutput, TemplateSet, assemble, check_contracts
from generator.assembly.split import (
    MAX_RESOURCES_PER_CHILD,
    references,
    resource_groups,
    split_children,
    splitting,
)
from generator.assembly.stack import ChildStack
from generator.cli import main
from generator.errors import AssemblyError, LintFailure
from generator.output_cache import OutputCache, RenderedSet
from generator.rendering import render
from generator.spec.loader import load_spec
from generator.writer import render_set

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))
WEB_APP = REPO / "pipelines" / "web-app.yaml"
IAM = "web-app/stacks/iam.yaml"


def problems(document: dict[str, Any], *, size: int = 1_000, where: str = IAM) -> list[str]:
    kind = limits.template_kind(where.split("/", 1)[1])
    assert kind is not None
    return limits.survey_template(where, document, size, kind=kind).problems


def resources(**named: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": named}


def resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {"Type": kind, "Properties": properties}


# -- template size, counts, description, logical ids -------------------------------------------


@pytest.mark.parametrize(
    ("where", "size", "expected"),
    [
        ("web-app/root.yaml", 51_200, []),
        (
            "web-app/root.yaml",
            51_201,
            [
                "web-app/root.yaml: 51,201 bytes exceed CloudFormation's 51,200 for a template "
                "body sent without a bucket"
            ],
        ),
        ("multi-region/prerequisites/target-roles.yaml", 51_200, []),
        (
            "multi-region/prerequisites/target-roles.yaml",
            51_201,
            [
                "multi-region/prerequisites/target-roles.yaml: 51,201 bytes exceed "
                "CloudFormation's 51,200 for a template body sent without a bucket"
            ],
        ),
        (IAM, 1_000_000, []),
        (
            IAM,
            1_000_001,
            [f"{IAM}: 1,000,001 bytes exceed CloudFormation's 1,000,000 for a template in S3"],
        ),
    ],
)
def test_template_body_size(where: str, size: int, expected: list[str]) -> None:
    assert problems({}, size=size, where=where) == expected


@pytest.mark.parametrize(
    ("section", "count", "expected"),
    [
        ("Resources", 500, []),
        ("Resources", 512, [f"{IAM}: 512 resources exceed CloudFormation's 500 per template"]),
        ("Parameters", 200, []),
        ("Parameters", 201, [f"{IAM}: 201 parameters exceed CloudFormation's 200 per template"]),
        ("Outputs", 200, []),
        ("Outputs", 201, [f"{IAM}: 201 outputs exceed CloudFormation's 200 per template"]),
    ],
)
def test_counts_per_template(section: str, count: int, expected: list[str]) -> None:
    body = {"Resources": {"Type": "AWS::SNS::Topic"}, "Parameters": {"Type": "String"}}
    entry = body.get(section, {"Value": "x"})
    assert problems({section: {f"Thing{i}": entry for i in range(count)}}) == expected


def test_description_size() -> None:
    assert problems({"Description": "d" * 1_024}) == []
    assert problems({"Description": "d" * 1_025}) == [
        f"{IAM}: description is 1,025 bytes, over CloudFormation's 1,024"
    ]


def test_logical_ids() -> None:
    topic = {"Type": "AWS::SNS::Topic"}
    assert problems(resources(Topic1=topic, **{"A" * 255: topic})) == []
    assert problems({"Resources": {"My-Topic": topic}, "Outputs": {"Topic_Arn": {"Value": 1}}}) == [
        f"{IAM}: resource My-Topic: logical id is not alphanumeric (A-Za-z0-9)",
        f"{IAM}: output Topic_Arn: logical id is not alphanumeric (A-Za-z0-9)",
    ]
    assert problems(resources(**{"A" * 256: topic})) == [
        f"{IAM}: resource {'A' * 40}...: logical id is 256 characters, over CloudFormation's 255"
    ]


# -- CodePipeline --------------------------------------------------------------------------------

PIPELINE = "web-app/stacks/pipeline.yaml"


def pipeline(*stages: tuple[str, int], name: Any = "web-app", value: str = "v") -> dict[str, Any]:
    declared = [
        {
            "Name": stage,
            "Actions": [
                {"Name": f"A{i}", "Configuration": {"CustomData": value}} for i in range(actions)
            ],
        }
        for stage, actions in stages
    ]
    return resources(Pipeline=resource("AWS::CodePipeline::Pipeline", Name=name, Stages=declared))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (pipeline(("Source", 1), ("Build", 50)), []),
        (pipeline(*[(f"S{i}", 1) for i in range(50)]), []),
        (
            pipeline(*[(f"S{i}", 1) for i in range(51)]),
            ["pipeline Pipeline: 51 stages exceed CodePipeline's 50 per pipeline"],
        ),
        (
            pipeline(("Source", 1)),
            ["pipeline Pipeline: 1 stage(s), below CodePipeline's minimum of 2"],
        ),
        (
            pipeline(("Source", 1), ("Build", 51)),
            ["pipeline Pipeline: stage Build: 51 actions exceed CodePipeline's 50 per stage"],
        ),
        (
            pipeline(("Source", 1), ("Build", 0)),
            [
                "pipeline Pipeline: stage Build: no actions; CodePipeline needs at least one per "
                "stage"
            ],
        ),
        (pipeline(*[(f"S{i}", 50) for i in range(10)]), []),
        (
            pipeline(*[(f"S{i}", 50) for i in range(10)], ("Last", 1)),
            ["pipeline Pipeline: 501 actions exceed CodePipeline's 500 per pipeline"],
        ),
        (
            pipeline(("Source", 1), ("Deploy prod", 1)),
            [
                "pipeline Pipeline: stage Deploy prod: stage name 'Deploy prod' has characters "
                r"outside [A-Za-z0-9.@\-_]+"
            ],
        ),
        (
            pipeline(("Source", 1), ("S" * 101, 1)),
            [
                f"pipeline Pipeline: stage {'S' * 101}: stage name is 101 characters, over "
                "CodePipeline's 100"
            ],
        ),
        (pipeline(("Source", 1), ("Build", 1), value="v" * 1_000), []),
        (
            pipeline(("Source", 1), ("Build", 1), value="v" * 1_001),
            [
                "pipeline Pipeline: stage Source action A0: configuration CustomData is 1,001 "
                "characters, over CodePipeline's 1,000",
                "pipeline Pipeline: stage Build action A0: configuration CustomData is 1,001 "
                "characters, over CodePipeline's 1,000",
            ],
        ),
        (pipeline(("Source", 1), ("Build", 1), name={"Fn::Sub": "${AWS::StackName} x"}), []),
        (
            pipeline(("Source", 1), ("Build", 1), name="web app"),
            [
                "Pipeline: CodePipeline pipeline name 'web app' has characters outside "
                r"[A-Za-z0-9.@\-_]+"
            ],
        ),
    ],
)
def test_codepipeline(document: dict[str, Any], expected: list[str]) -> None:
    assert problems(document, where=PIPELINE) == [f"{PIPELINE}: {e}" for e in expected]


# -- IAM -----------------------------------------------------------------------------------------

SERVERLESS_IAM = "serverless/stacks/iam.yaml"


def test_policy_characters_leave_white_space_out() -> None:
    assert limits.policy_characters({"Sid": "a b", "Action": ["s3:Get*"]}) == len(
        '{"Sid":"ab","Action":["s3:Get*"]}'
    )


def document(characters: int) -> dict[str, Any]:
    """A policy document of exactly `characters` characters, as IAM counts them."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}
    doc = {"Version": "2012-10-17", "Statement": [statement]}
    statement["Resource"] = "r" * (characters - limits.policy_characters(doc))
    assert limits.policy_characters(doc) == characters
    return doc


def role(**properties: Any) -> dict[str, Any]:
    return resource("AWS::IAM::Role", AssumeRolePolicyDocument=document(200), **properties)


def inline(characters: int, *roles: Any, kind: str = "AWS::IAM::Policy") -> dict[str, Any]:
    if kind == "AWS::IAM::RolePolicy":
        return resource(kind, RoleName=roles[0], PolicyDocument=document(characters))
    return resource(kind, Roles=list(roles), PolicyDocument=document(characters))


def managed(characters: int) -> dict[str, Any]:
    return resource("AWS::IAM::ManagedPolicy", PolicyDocument=document(characters))


EXECUTION = {"Ref": "ProdExecutionRole"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # inline: the role's own Policies plus every AWS::IAM::Policy that names it
        (
            resources(
                ProdExecutionRole=role(Policies=[{"PolicyDocument": document(4_000)}]),
                Extra=inline(3_771, EXECUTION),
                More=inline(3_000, EXECUTION, {"Ref": "OtherRole"}),
            ),
            [
                "role ProdExecutionRole: inline policies total 10,771 characters, over IAM's "
                "10,240 per role"
            ],
        ),
        (resources(ProdExecutionRole=role(), Only=inline(8_704, EXECUTION)), []),
        (
            resources(ProdExecutionRole=role(), Only=inline(9_000, EXECUTION)),
            [
                "role ProdExecutionRole: inline policies total 9,000 characters, within 15% of "
                "IAM's 10,240 per role (at most 8,704, as intrinsics grow when deployed)"
            ],
        ),
        (
            resources(Only=inline(10_241, "prod-execution", kind="AWS::IAM::RolePolicy")),
            [
                "role prod-execution: inline policies total 10,241 characters, over IAM's "
                "10,240 per role"
            ],
        ),
        # managed policies
        (resources(Boundary=managed(5_222)), []),
        (
            resources(Boundary=managed(6_145)),
            [
                "policy Boundary: managed policy 6,145 characters, over IAM's 6,144 per managed "
                "policy"
            ],
        ),
        (
            resources(Boundary=managed(5_223)),
            [
                "policy Boundary: managed policy 5,223 characters, within 15% of IAM's 6,144 per "
                "managed policy (at most 5,222, as intrinsics grow when deployed)"
            ],
        ),
        (
            resources(ProdExecutionRole=role(ManagedPolicyArns=[f"arn:p{i}" for i in range(10)])),
            [],
        ),
        (
            resources(
                ProdExecutionRole=role(ManagedPolicyArns=[f"arn:p{i}" for i in range(10)]),
                Eleventh=resource(
                    "AWS::IAM::ManagedPolicy", Roles=[EXECUTION], PolicyDocument=document(100)
                ),
            ),
            [
                "role ProdExecutionRole: 11 managed policies attached, over IAM's default 10 per "
                "role"
            ],
        ),
        # trust policy
        (
            resources(
                ProdExecutionRole=resource(
                    "AWS::IAM::Role", AssumeRolePolicyDocument=document(2_049)
                )
            ),
            [
                "role ProdExecutionRole: trust policy 2,049 characters, over IAM's 2,048 per "
                "trust policy (a default quota)"
            ],
        ),
    ],
)
def test_iam_policy_sizes(template: dict[str, Any], expected: list[str]) -> None:
    assert problems(template, where=SERVERLESS_IAM) == [f"{SERVERLESS_IAM}: {e}" for e in expected]


def test_inline_total_of_rendered_yaml_follows_short_form_refs() -> None:
    template = resources(
        ProdExecutionRole=role(),
        First=inline(6_000, EXECUTION),
        Second=inline(4_771, EXECUTION),
    )
    data = render(template).encode()
    assert b"!Ref ProdExecutionRole" in data
    assert limits.check_rendered("serverless", {"stacks/iam.yaml": data}) == [
        f"{SERVERLESS_IAM}: role ProdExecutionRole: inline policies total 10,771 characters, "
        "over IAM's 10,240 per role"
    ]


# -- resource policies ---------------------------------------------------------------------------


def padded(size: int) -> dict[str, str]:
    """A policy whose compact JSON is exactly `size` bytes: {"S":"xx...x"}."""
    return {"S": "x" * (size - 8)}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (resources(Policy=resource("AWS::S3::BucketPolicy", PolicyDocument=padded(20_480))), []),
        (
            resources(Policy=resource("AWS::S3::BucketPolicy", PolicyDocument=padded(20_481))),
            ["Policy: bucket policy is 20,481 bytes, over S3's 20,480 (20 KB)"],
        ),
        (resources(Key=resource("AWS::KMS::Key", KeyPolicy=padded(32_768))), []),
        (
            resources(Key=resource("AWS::KMS::Key", KeyPolicy=padded(32_769))),
            ["Key: key policy is 32,769 bytes, over KMS's 32,768"],
        ),
    ],
)
def test_resource_policy_sizes(template: dict[str, Any], expected: list[str]) -> None:
    assert problems(template) == [f"{IAM}: {e}" for e in expected]


# -- names ---------------------------------------------------------------------------------------

NAMES = [
    # type, property, service, maximum, a good name, a name with a bad character, the allowed
    (
        "AWS::S3::Bucket",
        "BucketName",
        "S3 bucket name",
        63,
        "web-app-artifacts",
        "Web_App",
        "[a-z0-9.-]",
    ),
    (
        "AWS::IAM::Role",
        "RoleName",
        "IAM role name",
        64,
        "web-app-pipeline",
        "web app",
        r"[\w+=,.@-]",
    ),
    (
        "AWS::IAM::ManagedPolicy",
        "ManagedPolicyName",
        "IAM policy name",
        128,
        "web-app-approver",
        "web/app",
        r"[\w+=,.@-]",
    ),
    (
        "AWS::IAM::Policy",
        "PolicyName",
        "IAM policy name",
        128,
        "PipelineRolePolicy",
        "Pipeline*",
        r"[\w+=,.@-]",
    ),
    (
        "AWS::CodePipeline::Pipeline",
        "Name",
        "CodePipeline pipeline name",
        100,
        "web-app",
        "web app",
        r"[A-Za-z0-9.@\-_]+",
    ),
    (
        "AWS::Lambda::Function",
        "FunctionName",
        "Lambda function name",
        64,
        "web-app-gate",
        "web.app",
        "[a-zA-Z0-9-_]",
    ),
    (
        "AWS::CodeBuild::Project",
        "Name",
        "CodeBuild project name",
        150,
        "web-app-build",
        "-build",
        r"[A-Za-z0-9][A-Za-z0-9\-_]{1,149}",
    ),
    (
        "AWS::Logs::LogGroup",
        "LogGroupName",
        "log group name",
        512,
        "/aws/codebuild/web-app",
        "/aws/web app",
        r"[\.\-_/#A-Za-z0-9]",
    ),
    (
        "AWS::SQS::Queue",
        "QueueName",
        "SQS queue name",
        80,
        "web-app-dlq.fifo",
        "web.app",
        "[A-Za-z0-9_-]",
    ),
    (
        "AWS::SNS::Topic",
        "TopicName",
        "SNS topic name",
        256,
        "web-app-events",
        "web app",
        "[A-Za-z0-9_-]",
    ),
]


@pytest.mark.parametrize(("kind", "prop", "service", "maximum", "good", "bad", "allowed"), NAMES)
def test_names(
    kind: str, prop: str, service: str, maximum: int, good: str, bad: str, allowed: str
) -> None:
    def check(value: Any) -> list[str]:
        return problems(resources(Thing=resource(kind, **{prop: value})))

    assert check(good) == []
    assert check("a" * maximum) == []
    long = "a" * (maximum + 1)
    expected = [
        f"{IAM}: Thing: {service} {long!r} is {maximum + 1} characters, over the {maximum} allowed"
    ]
    if kind == "AWS::CodeBuild::Project":  # the pattern itself stops at 150 characters
        expected.append(f"{IAM}: Thing: {service} {long!r} has characters outside {allowed}")
    assert check(long) == expected
    assert check(bad) == [f"{IAM}: Thing: {service} {bad!r} has characters outside {allowed}"]
    # a name made with an intrinsic function is only known at deployment: not checked
    assert check({"Fn::Sub": "${AWS::StackName} " + "x" * 600}) == []


def test_name_minimums() -> None:
    bucket = resources(Thing=resource("AWS::S3::Bucket", BucketName="ab"))
    assert problems(bucket) == [
        f"{IAM}: Thing: S3 bucket name 'ab' is shorter than the 3 characters required"
    ]


# -- the build refuses, before writing -----------------------------------------------------------


def rendered(pipeline: str, files: dict[str, dict[str, Any]], fmt: str = "yaml") -> RenderedSet:
    return RenderedSet(
        pipeline, ("us-east-1",), {path: render(d, fmt).encode() for path, d in files.items()}, b""
    )


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("root.yaml", "root"),
        ("root.json", "root"),
        ("stacks/iam.yaml", "child"),
        ("stacks/regional-artifact-store.json", "child"),
        ("prerequisites/target-roles.yaml", "file"),
        ("app/template.yaml", None),
        ("README.md", None),
    ],
)
def test_which_files_are_templates(relative: str, kind: str | None) -> None:
    assert limits.template_kind(relative) == kind


def test_enforce_reports_every_problem_of_every_set_as_a_lint_failure() -> None:
    many = {"Resources": {f"T{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)}}
    sets = [
        rendered(
            "web-app",
            {
                "root.yaml": {},
                "stacks/iam.yaml": many,
                "app/x.yaml": many,
                "config/data.yaml": {"Values": list(range(600))},
            },
        ),
        rendered("serverless", {"root.json": {}, "stacks/iam.json": many}, "json"),
        rendered("fine", {"root.yaml": {}}),
    ]
    with pytest.raises(limits.LimitExceeded) as caught:
        limits.enforce(sets)
    assert isinstance(caught.value, LintFailure)
    assert caught.value.exit_code == 1
    assert str(caught.value) == (
        "generated templates exceed AWS limits (nothing was written):\n"
        "  web-app/stacks/iam.yaml: 501 resources exceed CloudFormation's 500 per template\n"
        "  serverless/stacks/iam.json: 501 resources exceed CloudFormation's 500 per template"
    )
    limits.enforce(sets[2:])


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_build_checks_limits_before_writing_and_the_cli_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    (out / "web-app").mkdir(parents=True)
    (out / "web-app" / "root.yaml").write_text("previous\n")
    before = tree(out)
    monkeypatch.setattr(limits, "MAX_STAGES", 3)

    def no_lint(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("limits are checked before anything is staged or linted")

    monkeypatch.setattr(build, "lint_staged", no_lint)
    # Source, UpdatePipeline, Build, Test, DeployDev, DeployStaging, ApproveProd, DeployProd
    expected = (
        "web-app/stacks/pipeline.yaml: pipeline Pipeline: 8 stages exceed CodePipeline's 3 per "
        "pipeline"
    )
    cache = tmp_path / "cache"
    with pytest.raises(limits.LimitExceeded) as caught:
        build.build([WEB_APP], out, cache_dir=cache)
    assert caught.value.problems == [expected]
    assert tree(out) == before
    assert [p.name for p in out.iterdir()] == ["web-app"], "no staging folder left behind"
    key = OutputCache.key(WEB_APP.read_bytes(), "yaml")
    assert OutputCache(cache / "output").get(key) is None, "a set over a limit is not cached"
    result = CliRunner().invoke(main, ["build", "--no-cache", "--out", str(out), str(WEB_APP)])
    assert result.exit_code == 1
    assert f"  {expected}\n" in result.stderr
    assert "Traceback" not in result.output
    assert tree(out) == before


def test_a_cached_rendering_is_not_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = OutputCache(tmp_path / "output")
    sets, reused = build.render_all([WEB_APP], "yaml", cache)
    assert reused == 0

    def refuse(*args: Any) -> list[str]:
        raise AssertionError("checked again")

    monkeypatch.setattr(limits, "check_rendered", refuse)
    again, reused = build.render_all([WEB_APP], "yaml", cache)
    assert reused == 1
    assert again == sets


def test_every_committed_spec_stays_within_every_limit(capsys: pytest.CaptureFixture[str]) -> None:
    sets, _ = build.render_all(SPECS, "yaml", OutputCache(None))
    assert [s.pipeline for s in sets]
    found: list[str] = []
    lines = []
    for template_set in sets:
        surveyed = limits.survey(template_set.pipeline, template_set.files)
        found += surveyed.problems
        for m in limits.tightest(surveyed.measures):
            share = m.value / m.limit if m.limit else 0
            lines.append(
                f"{m.where:46} {m.quantity:38} {m.value:>9,} of {m.limit:>9,} ({share:4.0%}) "
                f"{m.subject}".rstrip()
            )
    margins = "\n".join(lines)
    print(margins)
    assert not found, "\n".join(found) + "\n\nmargins:\n" + margins
    assert "inline policies total" in margins and "template bytes (root)" in margins, margins


# -- splitting a child stack ---------------------------------------------------------------------


def web_app_set(**thresholds: int) -> TemplateSet:
    loaded = load_spec(WEB_APP)
    with splitting(**thresholds):
        return loaded.blueprint.build(loaded.spec, "yaml")


def smallest_split(template_set: TemplateSet) -> int:
    """The lowest resource threshold every group of `template_set` fits: the largest group."""
    return max(len(g) for c in template_set.children for g in resource_groups(c))


def unresolved(name: str, document: dict[str, Any]) -> list[str]:
    """Every Ref, GetAtt, Sub variable or DependsOn in `document` naming nothing it declares."""
    declared = set(document.get("Resources", {})) | set(document.get("Parameters", {}))
    attributes = set(document.get("Resources", {}))
    missing: list[str] = []

    def known(target: str, pool: set[str]) -> None:
        if not target.startswith("AWS::") and target not in pool:
            missing.append(f"{name}: {target}")

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref":
                    known(value, declared)
                elif key == "Fn::GetAtt":
                    known(value[0] if isinstance(value, list) else value.split(".")[0], attributes)
                elif key == "Fn::Sub":
                    text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                    for variable in re.findall(r"\$\{([^!}][^}]*)\}", text):
                        if variable not in local:
                            target = variable.split(".")[0]
                            known(target, attributes if "." in variable else declared)
                    walk(local)
                elif key == "DependsOn":
                    for target in value if isinstance(value, list) else [value]:
                        known(target, attributes)
                else:
                    walk(value)

    walk(document.get("Resources", {}))
    walk(document.get("Outputs", {}))
    return missing


def origin(part: str, originals: list[str]) -> str:
    if part in originals:
        return part
    (found,) = [o for o in originals if re.fullmatch(rf"{re.escape(o)}-\d+", part)]
    return found


def test_a_forced_split_keeps_every_contract_and_passes_the_lint_gate(tmp_path: Path) -> None:
    whole = web_app_set()
    threshold = smallest_split(whole)
    split = web_app_set(max_resources=threshold)
    originals = [c.name for c in whole.children]
    parts = [c.name for c in split.children]
    assert len(parts) > len(originals)
    assert list(dict.fromkeys(origin(p, originals) for p in parts)) == originals
    for name in originals:  # name, name-2, name-3, ... in order
        own = [p for p in parts if origin(p, originals) == name]
        assert own == [name, *[f"{name}-{i}" for i in range(2, len(own) + 1)]]
    assert check_contracts(split) == []
    # The same resources, unchanged, each in exactly one part of the stack it was in.
    moved: dict[str, dict[str, Any]] = {name: {} for name in originals}
    for child in split.children:
        document = child.template.to_dict()
        assert len(document["Resources"]) <= threshold
        for logical_id, body in document["Resources"].items():
            assert logical_id not in moved[origin(child.name, originals)]
            moved[origin(child.name, originals)][logical_id] = body
    assert moved == {c.name: c.template.to_dict()["Resources"] for c in whole.children}

    # The build with the lint gate (cfn-lint, E3043 on the root with local children included).
    out = tmp_path / "out"
    with splitting(max_resources=threshold):
        # A fresh cache: the output cache does not key on the thresholds.
        result = build.build([WEB_APP], out, cache_dir=tmp_path / "cache")
    assert result.pipelines == ["web-app"]
    files = tree(out / "web-app")
    assert sorted(f for f in files if f.startswith("stacks/")) == sorted(
        f"stacks/{p}.yaml" for p in parts
    )
    review = {"README.md", "RUNBOOK.md", "pipeline.svg", ".taskcat.yml"}  # beside every set
    assert review <= set(files)
    templates = {f: data for f, data in files.items() if f not in review}
    assert templates == render_set(split, "yaml"), "the build renders exactly the split set"
    documents = {f: limits.parse(f, data) for f, data in files.items() if limits.is_template(f)}
    for relative, document in documents.items():
        assert unresolved(relative, document) == []
    assert limits.check_rendered("web-app", files) == []

    # The root feeds every part what the unsplit root fed the whole stack, from the part that
    # now declares each output; root outputs likewise.
    logical = {c.logical_id: origin(c.name, originals) for c in split.children}
    whole_logical = {c.logical_id: c.name for c in whole.children}

    def meaning(value: Any, names: dict[str, str]) -> Any:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            stack, output = value["Fn::GetAtt"]
            return ("output", names[stack], output)
        return value

    root = documents["root.yaml"]
    whole_root = whole.root.to_dict()
    passed: dict[str, dict[str, Any]] = {name: {} for name in originals}
    for logical_id, nested in root["Resources"].items():
        child = documents[nested["Properties"]["TemplateURL"]["Fn::Sub"].rsplit("}", 1)[-1]]
        given = nested["Properties"].get("Parameters", {})
        required = {n for n, p in child.get("Parameters", {}).items() if "Default" not in p}
        assert required <= set(given) <= set(child.get("Parameters", {})), logical_id
        for name, value in given.items():
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                stack, output = value["Fn::GetAtt"]
                source = documents[f"stacks/{_file(split, stack)}"]
                assert output.removeprefix("Outputs.") in source["Outputs"], (logical_id, name)
            passed[logical[logical_id]][name] = meaning(value, logical)
    for logical_id, nested in whole_root["Resources"].items():
        expected = {
            n: meaning(v, whole_logical)
            for n, v in nested["Properties"].get("Parameters", {}).items()
        }
        assert passed[whole_logical[logical_id]] == expected, logical_id
    assert {n: meaning(o["Value"], logical) for n, o in root["Outputs"].items()} == {
        n: meaning(o["Value"], whole_logical) for n, o in whole_root["Outputs"].items()
    }


def _file(template_set: TemplateSet, logical_id: str) -> str:
    (child,) = [c for c in template_set.children if c.logical_id == logical_id]
    return child.file_name


def test_a_split_is_deterministic() -> None:
    threshold = smallest_split(web_app_set())
    first = render_set(web_app_set(max_resources=threshold), "yaml")
    assert render_set(web_app_set(max_resources=threshold), "yaml") == first


def test_split_by_rendered_size() -> None:
    whole = render_set(web_app_set(), "yaml")
    sizes = sorted((len(data), f) for f, data in whole.items() if f.startswith("stacks/"))
    (largest, name), (second, _) = sizes[-1], sizes[-2]
    threshold = second + 5_000  # every other stack fits; the largest does not
    assert largest > threshold, sizes
    split = web_app_set(max_bytes=threshold)
    files = render_set(split, "yaml")
    stem = name.removeprefix("stacks/").removesuffix(".yaml")
    assert f"stacks/{stem}-2.yaml" in files
    for relative, data in files.items():
        if relative.startswith("stacks/"):
            assert len(data) <= threshold, relative
    assert check_contracts(split) == []
    assert limits.check_rendered(split.pipeline, files) == []


def test_a_group_too_big_for_one_stack_fails_clearly() -> None:
    roles = ChildStack("iam", "roles")
    for name in ("Alpha", "Beta"):
        roles.add(sns.Topic(name))
    roles.add(sns.Topic("Gamma", DisplayName=GetAtt("Beta", "TopicName")))
    roles.add(sns.TopicPolicy("GammaPolicy", Topics=[Ref("Gamma")], PolicyDocument={}))
    assert resource_groups(roles) == [["Alpha"], ["Beta", "Gamma", "GammaPolicy"]]
    with pytest.raises(AssemblyError) as caught, splitting(max_resources=2):
        split_children([roles])
    assert str(caught.value) == (
        "stack iam is too big for one stack and cannot be split: resources Beta, Gamma, "
        "GammaPolicy refer to each other, so they must share a stack, and together they have "
        "3 resources, over the 2 allowed per stack"
    )
    with splitting(max_resources=3):
        assert [c.name for c in split_children([roles]).children] == ["iam", "iam-2"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_spec_splits_cleanly_at_its_smallest_groups(spec: Path) -> None:
    loaded = load_spec(spec)
    whole = loaded.blueprint.build(loaded.spec, "yaml")
    assert split_children(whole.children).children == whole.children, "no split by default"
    with splitting(max_resources=smallest_split(whole)):
        split = loaded.blueprint.build(loaded.spec, "yaml")
    assert len(split.children) > len(whole.children)
    assert check_contracts(split) == []
    files = render_set(split, "yaml")
    for relative, data in files.items():
        if limits.is_template(relative):
            assert unresolved(relative, limits.parse(relative, data)) == []
    assert limits.check_rendered(split.pipeline, files) == []


def test_a_stack_of_600_resources_is_split_and_rewired() -> None:
    topics = ChildStack("topics", "many topics")
    handles = [
        topics.export(f"Topic{i}Arn", Ref(topics.add(sns.Topic(f"Topic{i}"))), f"topic {i}")
        for i in range(600)
    ]
    consumer = ChildStack("consumer", "uses the last topic")
    consumer.add(sns.Topic("Echo", DisplayName=consumer.use(handles[599])))
    result = assemble(
        pipeline="demo",
        description="demo",
        children=[topics, consumer],
        outputs=[RootOutput("LastTopicArn", handles[599], "The last topic")],
        tags={},
        regions=["us-east-1"],
    )
    # 600 outputs: the output threshold (180) decides before the resource one (450).
    assert [c.name for c in result.children] == [
        "topics", "topics-2", "topics-3", "topics-4", "consumer",
    ]  # fmt: skip
    assert [len(c.template.resources) for c in result.children] == [180, 180, 180, 60, 1]
    root = result.root.to_dict()
    assert root["Resources"]["ConsumerStack"]["Properties"]["Parameters"] == {
        "Topic599Arn": {"Fn::GetAtt": ["Topics4Stack", "Outputs.Topic599Arn"]}
    }
    assert (
        root["Outputs"]["LastTopicArn"]["Value"]
        == GetAtt("Topics4Stack", "Outputs.Topic599Arn").to_dict()
    )
    assert check_contracts(result) == []
    files = render_set(result, "yaml")
    assert limits.check_rendered("demo", files) == []


def test_resources_alone_split_at_the_default_threshold() -> None:
    topics = ChildStack("topics", "many topics")
    for i in range(600):
        topics.add(sns.Topic(f"Topic{i}"))
    result = split_children([topics])
    assert [len(c.template.resources) for c in result.children] == [MAX_RESOURCES_PER_CHILD, 150]
    assert [c.template.description for c in result.children] == [
        "many topics (part 1 of 2)",
        "many topics (part 2 of 2)",
    ]


def test_references() -> None:
    node = {
        "DependsOn": ["Waited"],
        "Condition": "IsProd",
        "Properties": {
            "A": {"Ref": "Param"},
            "B": {"Ref": "AWS::Region"},
            "C": {"Fn::GetAtt": ["Role", "Arn"]},
            "D": {"Fn::GetAtt": "Queue.Arn"},
            "E": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/${Key.Arn}/${!Literal}"},
            "F": {"Fn::Sub": ["${Local}-${Outer}", {"Local": {"Ref": "Inner"}}]},
            "G": {"Fn::If": ["HasName", {"Ref": "Named"}, {"Ref": "AWS::NoValue"}]},
            # An IAM policy statement's Condition block is walked, not taken for a condition name.
            "H": {"Condition": {"StringLike": {"aws:SourceArn": {"Ref": "Source"}}}},
        },
    }
    assert references(node) == {
        "Waited", "IsProd", "Param", "Role", "Queue", "Bucket", "Key", "Outer", "Inner",
        "HasName", "Named", "Source",
    }  # fmt: skip
