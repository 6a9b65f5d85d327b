"""`pipegen publish` against a real S3 API: moto in server mode, over HTTP.

One moto server for the module (it starts in well under a second); each test resets it and
creates its bucket. The output published is built from the three committed reference specs.

What moto cannot check, and so these tests do not claim: it cannot resolve
`GetAtt Child.Outputs.X` (a root wired through its children's outputs never completes; moto
server answers HTTP 500), it skips CodeBuild, CodePipeline, CodeDeploy, alarms, bucket and topic
policies (they "complete" without existing), 5.2.5 fails any AWS::KMS::Key with Tags (the
artifact store's, the audit trail's), and any stack that reads an attribute of a resource it
does not model (the dashboard's `${Alarm.Arn}`, AppConfig ids in outputs): see
`moto_cannot_create`. So each root is created with those outputs replaced by sample values,
and a child moto cannot create is checked without it (its published template takes the
parameters the root passes; later children get sample values for its outputs): what is checked
is that the published root reaches its children in the bucket through its template location
defaults, and that each child accepts the parameters the root passes. Service Catalog
resources are not supported at all: the portfolio is only validated.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from moto.cloudformation import parsing as moto_parsing
from moto.server import ThreadedMotoServer

from generator import build, publish, service_catalog, writer
from generator.cli import main
from generator.errors import LintFailure
from generator.lint.cache import CACHE_ROOT, LintCache, cache_key, restore
from generator.lint.gate import Finding, LintJob, lint_one
from generator.publish import Location, PublishError
from generator.service_catalog import parse_template

REPO = Path(__file__).resolve().parent.parent
SPECS = [REPO / "pipelines" / f"{name}.yaml" for name in ("microservice", "serverless", "web-app")]
BUCKET = "acme-templates"
PREFIX = "pipegen/"
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = {key: os.environ.get(key) for key in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3(endpoint: str) -> Any:
    """A fresh moto with the template bucket."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def fresh() -> publish.Fresh:
    return publish.expected_output(SPECS, "yaml")


@pytest.fixture(scope="module")
def output(fresh: publish.Fresh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make templates` writes for SPECS (the portfolio included)."""
    out = tmp_path_factory.mktemp("output")
    for rendered in [*fresh.sets, fresh.catalog]:
        writer.write_tree(out / rendered.pipeline, rendered.files)
    return out


LOCATION = Location(BUCKET, PREFIX, REGION)


def upload(fresh: publish.Fresh, s3: Any, location: Location = LOCATION) -> publish.Report:
    """Publishing without the freshness check, which the tests of `publish` itself cover."""
    sets = publish.plan(fresh.sets, fresh.catalog, fresh.specs, location)
    return publish.upload_sets(s3, location, sets)


def keys(s3: Any) -> dict[str, str]:
    """key -> ETag of every object in the bucket."""
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listing}


def body(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["publish", *args], catch_exceptions=False)


# -- what is uploaded where -----------------------------------------------------------------------


def test_every_set_goes_under_its_own_version(fresh: publish.Fresh, output: Path, s3: Any) -> None:
    report = upload(fresh, s3)
    expected = set()
    for rendered in fresh.sets:
        version = service_catalog.set_version(rendered.files)
        folder = f"{PREFIX}{rendered.pipeline}/{version}/"
        templates = [r for r in rendered.files if not r.startswith("app/")]
        expected |= {folder + r for r in templates} | {folder + "app.zip"}
        assert {f"{folder}root.yaml", f"{folder}stacks/iam.yaml"} <= expected
    version = service_catalog.catalog_version(fresh.catalog.files)
    expected |= {f"{PREFIX}service-catalog/{version}/{r}" for r in fresh.catalog.files}
    assert set(keys(s3)) == expected
    assert sorted(report.uploaded) == sorted(expected) and report.unchanged == []
    for key in expected:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(body(s3, key)).hexdigest()
        kinds = {
            ".zip": "application/zip",
            ".md": "text/markdown",
            ".svg": "image/svg+xml",
            ".py": "text/x-python",
        }
        expected_type = kinds.get(Path(key).suffix, "application/yaml")
        assert head["ContentType"].split(";")[0] == expected_type, key
    # Children first, the root last: a root never names a template that is not there yet.
    for published in report.sets:
        order = [u.key for u in published.uploads]
        assert order[-1] == published.root_key
        assert report.uploaded.index(published.root_key) > max(
            report.uploaded.index(k) for k in order[:-1]
        )


def test_published_roots_default_to_where_they_were_published(
    fresh: publish.Fresh, s3: Any
) -> None:
    report = upload(fresh, s3)
    for published in report.sets:
        name = published.root_key.rsplit("/", 1)[1]
        rendered = next(r for r in [*fresh.sets, fresh.catalog] if r.pipeline == published.name)
        original = parse_template(name, rendered.files[name])
        uploaded = parse_template(name, body(s3, published.root_key))
        prefix = PREFIX if published.name == service_catalog.FOLDER else published.folder
        defaults = {
            "TemplateBucketName": BUCKET,
            "TemplateKeyPrefix": prefix,
            "TemplateBucketRegion": REGION,
        }
        for parameter, value in defaults.items():
            assert uploaded["Parameters"][parameter]["Default"] == value
            original["Parameters"][parameter]["Default"] = value
        assert uploaded == original, "nothing but the template location defaults changes"


def test_app_folders_go_up_as_deterministic_zips(fresh: publish.Fresh, s3: Any) -> None:
    report = upload(fresh, s3)
    for rendered in fresh.sets:
        app = {r.removeprefix("app/"): d for r, d in rendered.files.items() if r.startswith("app/")}
        published = next(p for p in report.sets if p.name == rendered.pipeline)
        data = body(s3, f"{published.folder}app.zip")
        assert data == publish.deterministic_zip(dict(reversed(list(app.items()))))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            assert [i.filename for i in infos] == sorted(app)
            assert {i.date_time for i in infos} == {publish.ZIP_TIMESTAMP}
            for info in infos:
                assert archive.read(info) == app[info.filename]
                executable = bool((info.external_attr >> 16) & 0o111)
                assert executable == info.filename.endswith(".sh"), info.filename


# -- immutability -------------------------------------------------------------------------------


def test_publishing_unchanged_output_uploads_nothing_and_says_so(
    fresh: publish.Fresh, output: Path, s3: Any, endpoint: str
) -> None:
    args = [*map(str, SPECS), "--out", str(output), "--bucket", BUCKET, "--prefix", PREFIX]
    args += ["--region", REGION, "--endpoint-url", endpoint]
    first = run(*args)
    assert first.exit_code == 0, first.output
    before = keys(s3)
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert keys(s3) == before
    assert second.output.splitlines()[-1] == (
        f"nothing to upload: all {len(before)} objects are already published with the same content"
    )
    assert "is already published at s3://" in second.output


def test_a_published_key_is_never_overwritten(fresh: publish.Fresh, s3: Any) -> None:
    report = upload(fresh, s3)
    web_app = next(p for p in report.sets if p.name == "web-app")
    tampered, removed = f"{web_app.folder}stacks/iam.yaml", f"{web_app.folder}app.zip"
    s3.put_object(Bucket=BUCKET, Key=tampered, Body=b"something else")
    s3.delete_object(Bucket=BUCKET, Key=removed)
    before = keys(s3)
    with pytest.raises(PublishError) as caught:
        upload(fresh, s3)
    message = str(caught.value)
    assert f"s3://{BUCKET}/{tampered}" in message and "immutable" in message
    assert body(s3, tampered) == b"something else"
    assert keys(s3) == before, "nothing uploaded, not even the missing key"


def test_changed_output_goes_up_as_a_new_version_beside_the_old(
    fresh: publish.Fresh, s3: Any, tmp_path: Path
) -> None:
    old = upload(fresh, s3)
    before = {key: body(s3, key) for key in keys(s3)}
    specs = []
    for spec in SPECS:
        copy_ = tmp_path / spec.name
        text = spec.read_text()
        if spec.stem == "web-app":
            text = text.replace("Storefront web application", "Storefront web shop")
        copy_.write_text(text)
        specs.append(copy_)
    changed = publish.expected_output(specs, "yaml")
    new = upload(changed, s3)
    after = {key: body(s3, key) for key in keys(s3)}
    assert {k: after[k] for k in before} == before, "every published key is as it was"
    versions = {p.name: (o.version, p.version) for o, p in zip(old.sets, new.sets, strict=True)}
    assert versions["web-app"][0] != versions["web-app"][1]
    assert versions["service-catalog"][0] != versions["service-catalog"][1]
    assert versions["serverless"][0] == versions["serverless"][1]
    assert all(
        key.startswith((f"{PREFIX}web-app/", f"{PREFIX}service-catalog/")) for key in new.uploaded
    )


# -- what the console and CloudFormation get ---------------------------------------------


def test_quick_create_urls_name_the_published_root_and_its_region(
    fresh: publish.Fresh, s3: Any
) -> None:
    report = upload(fresh, s3)
    lines = [line.strip() for line in report.lines() if line.strip().startswith("launch: ")]
    regions = {spec.name: spec.region for spec in fresh.specs}
    # One link per root, in its pipeline's region; the portfolio's in each pipeline region.
    expected = [
        (published, region)
        for published in report.sets
        for region in (
            [regions[published.name]]
            if published.name in regions
            else sorted(set(regions.values()))
        )
    ]
    assert len(lines) == len(expected)
    for (published, region), line in zip(expected, lines, strict=True):
        url = line.removeprefix("launch: ")
        parts = urlsplit(url)
        assert parts.netloc == f"{region}.console.aws.amazon.com"
        assert parts.path == "/cloudformation/home"
        assert parse_qs(parts.query) == {"region": [region]}
        page, _, query = parts.fragment.partition("?")
        assert page == "/stacks/quickcreate"
        fields = parse_qs(query)
        template = fields["templateURL"][0]
        assert template == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{published.root_key}"
        assert unquote(url).count(published.root_key) == 1
        assert fields["stackName"] == [published.stack_name]
        assert body(s3, urlsplit(template).path.lstrip("/")) == next(
            u.body for u in published.uploads if u.key == published.root_key
        )


@pytest.fixture
def cfn_lint_loaded_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """moto's validate_template lints with cfnlint.api.lint, which loads every rule again on
    each call (1-3 s a template here). This runs the same stock rules, and the guardrails,
    through the lint gate: rules loaded once, and results from the lint cache for the bytes
    the build (and publish) already linted. The rest of validate_template (reading the
    template from the bucket by its URL, parsing it, answering) is moto's."""
    import moto.cloudformation.models

    cache = LintCache(CACHE_ROOT / "lint")

    def lint(template: str) -> list[Finding]:
        data = template.encode()
        key = cache_key([data], (REGION,), ())
        found = cache.get(key)
        if found is not None:
            return restore(found, "moto")
        path = tmp_path / f"{hashlib.sha256(data).hexdigest()}.yaml"
        path.write_bytes(data)
        findings = lint_one(LintJob(path, "moto", (REGION,)))
        cache.put(key, findings)
        return findings

    monkeypatch.setattr(moto.cloudformation.models, "validate_template_cfn_lint", lint)


@pytest.mark.usefixtures("cfn_lint_loaded_once")
def test_every_published_template_validates(fresh: publish.Fresh, s3: Any, endpoint: str) -> None:
    upload(fresh, s3)
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    templates = [key for key in keys(s3) if key.endswith(".yaml")]
    assert len(templates) > 20
    for key in templates:
        answer = cloudformation.validate_template(TemplateURL=LOCATION.url(key))
        assert "Parameters" in answer, key


SAMPLE_ARNS = {
    "KeyArn": "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "BucketArn": "arn:aws:s3:::sample-artifacts",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:sample-topic",
    "RoleArn": "arn:aws:iam::123456789012:role/pipegen/sample/role",
    "PolicyArn": "arn:aws:iam::123456789012:policy/pipegen/sample/policy",
    "ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/"
    "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/"
    "0123456789abcdef",
    "LoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/"
    "lb/0123456789abcdef",
    "ListenerArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/"
    "0123456789abcdef/0123456789abcdef",
}


def sample(name: str) -> str:
    """A value of the right shape for a parameter or child output called `name`."""
    for suffix, value in SAMPLE_ARNS.items():
        if name.endswith(suffix):
            return value
    return f"sample-{name.lower()}"


def moto_cannot_create(template: dict[str, Any]) -> list[str]:
    """Why moto 5.2.5 fails a stack of `template` that CloudFormation creates: an AWS::KMS::Key
    with Tags (KeyError in moto), or an attribute (GetAtt, or `${Name.Attribute}` in a Sub) of
    a resource whose type moto's CloudFormation does not model (CloudWatch alarms, AppConfig)
    read in an output or in a resource moto does model (HTTP 500, or "GetAtt references
    undefined resource")."""
    resources = template.get("Resources", {})
    tagged_keys = [
        f"resource {name} is an AWS::KMS::Key with Tags"
        for name, resource in resources.items()
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in resource.get("Properties", {})
    ]
    unmodelled = {
        name
        for name, resource in resources.items()
        if moto_parsing.resource_class_from_type(resource["Type"]) is None
    }
    places = [(f"output {n}", o) for n, o in template.get("Outputs", {}).items()]
    places += [(f"resource {n}", r) for n, r in resources.items() if n not in unmodelled]
    return tagged_keys + [
        f"{where} reads {target}"
        for where, node in places
        for target in sorted(attribute_targets(node) & unmodelled)
    ]


def attribute_targets(node: Any) -> set[str]:
    """Resources whose attributes `node` reads: GetAtt, and `${Name.Attribute}` in a Sub."""
    if isinstance(node, list):
        return set().union(*map(attribute_targets, node))
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for key, value in node.items():
        if key == "Fn::GetAtt":
            found.add(value[0] if isinstance(value, list) else value.split(".")[0])
        elif key == "Fn::Sub":
            text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
            found |= {
                variable.split(".")[0]
                for variable in re.findall(r"\$\{([^!}][^}]*)\}", text)
                if "." in variable and variable not in local
            }
            found |= attribute_targets(local)
        else:
            found |= attribute_targets(value)
    return found


def nested_in_order(root: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The root's nested stacks, each after the stacks whose outputs it takes."""
    pending = {
        k: r for k, r in root["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"
    }
    ordered: list[tuple[str, dict[str, Any]]] = []
    while pending:
        for logical_id, resource in sorted(pending.items()):
            passed = resource["Properties"].get("Parameters", {}).values()
            needs = {v["Fn::GetAtt"][0] for v in passed if "Fn::GetAtt" in v}
            if needs <= {done for done, _ in ordered}:
                ordered.append((logical_id, pending.pop(logical_id)))
                break
        else:
            raise AssertionError(f"cycle among {sorted(pending)}")
    return ordered


def test_roots_create_their_children_from_the_bucket(
    fresh: publish.Fresh, s3: Any, endpoint: str
) -> None:
    """Each child of each published root, as far as moto goes (see the module docstring).

    A child is created through a copy of the published root that nests only it: no template
    location is passed, so the defaults written at publishing must lead to the published
    child in the bucket. It gets the parameters the root passes: root parameters (defaults,
    or samples), and the outputs of the children created before it; moto cannot wire those
    (`GetAtt Child.Outputs.X`), so the test does, with samples for the artifact store's,
    which moto cannot create."""
    report = upload(fresh, s3)
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    for published in report.sets[:-1]:
        root = parse_template("root.yaml", body(s3, published.root_key))
        values = {
            name: spec.get("Default", sample(name)) for name, spec in root["Parameters"].items()
        }
        outputs: dict[str, dict[str, str]] = {}
        for logical_id, resource in nested_in_order(root):
            child = copy.deepcopy(resource)
            child.pop("DependsOn", None)
            passed = child["Properties"].get("Parameters", {})
            for name, value in passed.items():
                if "Fn::GetAtt" in value:
                    source, attribute = value["Fn::GetAtt"]
                    output = attribute.removeprefix("Outputs.")
                    passed[name] = outputs[source].get(output, sample(output))
            relative = child["Properties"]["TemplateURL"]["Fn::Sub"].rsplit("}", 1)[1]
            published_child = parse_template(relative, body(s3, published.folder + relative))
            if moto_cannot_create(published_child):  # checked without moto, its outputs sampled
                declared = published_child.get("Parameters", {})
                required = {n for n, p in declared.items() if "Default" not in p}
                assert required <= set(passed) <= set(declared), (logical_id, sorted(passed))
                outputs[logical_id] = {}
                continue
            used = {v["Ref"] for v in passed.values() if isinstance(v, dict) and "Ref" in v}
            used |= set(service_catalog.LOCATION_PARAMETERS)
            wrapper = {
                "Parameters": {n: p for n, p in root["Parameters"].items() if n in used},
                "Resources": {logical_id: child},
            }
            stack = f"{published.name}-{logical_id}"
            cloudformation.create_stack(
                StackName=stack,
                TemplateBody=json.dumps(wrapper),
                Parameters=[
                    {"ParameterKey": name, "ParameterValue": values[name]}
                    for name in wrapper["Parameters"]
                    if "Default" not in root["Parameters"][name]
                ],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            )
            status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
            assert status["StackStatus"] == "CREATE_COMPLETE", (stack, status)
            (nested,) = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
            assert nested["ResourceStatus"] == "CREATE_COMPLETE", stack
            created = cloudformation.describe_stacks(StackName=nested["PhysicalResourceId"])
            outputs[logical_id] = {
                o["OutputKey"]: o["OutputValue"] for o in created["Stacks"][0].get("Outputs", [])
            }
            template = cloudformation.get_template(StackName=nested["PhysicalResourceId"])
            text = template["TemplateBody"]
            text = text if isinstance(text, str) else json.dumps(text)
            assert parse_template(relative, text.encode()) == published_child, (
                f"{stack} was created from the published {relative}"
            )
        assert outputs["IamStack"], "moto created the roles, and later children used them"


# -- refusals and errors ----------------------------------------------------------------


def test_stale_output_is_refused_and_nothing_uploaded(
    output: Path, s3: Any, endpoint: str, tmp_path: Path
) -> None:
    stale = tmp_path / "output"
    for folder in output.iterdir():
        writer.write_tree(stale / folder.name, writer.read_tree(folder))
    (stale / "web-app" / "stacks" / "iam.yaml").write_text("# edited by hand\n")
    result = run(
        *map(str, SPECS), "--out", str(stale), "--bucket", BUCKET, "--endpoint-url", endpoint
    )
    assert result.exit_code == 2
    assert f"{stale}/web-app/stacks/iam.yaml differs from a fresh build" in result.stderr
    assert "Traceback" not in result.output
    assert keys(s3) == {}


def test_output_failing_lint_is_refused(
    output: Path, s3: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = Finding("web-app/stacks/iam.yaml", 3, "E3012", "error", "planted")
    monkeypatch.setattr(build, "lint_staged", lambda *args, **kwargs: ([planted], None))
    result = run(
        *map(str, SPECS), "--out", str(output), "--bucket", BUCKET, "--endpoint-url", endpoint
    )
    assert result.exit_code == LintFailure.exit_code == 1
    assert "web-app/stacks/iam.yaml:3: E3012 (error) planted" in result.stderr
    assert keys(s3) == {}


def test_a_missing_bucket_is_named(output: Path, s3: Any, endpoint: str) -> None:
    result = run(
        *map(str, SPECS),
        "--out",
        str(output),
        "--bucket",
        "no-such-bucket",
        "--endpoint-url",
        endpoint,
    )
    assert result.exit_code == 2
    assert "s3://no-such-bucket/: the bucket does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_a_bucket_in_another_region_is_named(fresh: publish.Fresh, s3: Any) -> None:
    s3.create_bucket(
        Bucket="eu-templates", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(PublishError) as caught:
        upload(fresh, s3, Location("eu-templates", PREFIX, REGION))
    assert str(caught.value).startswith(
        "s3://eu-templates/: the bucket is in eu-west-1, not us-east-1; publish with --region "
        "eu-west-1"
    )
    assert keys(s3) == {}


def test_access_denied_names_the_bucket_and_key(fresh: publish.Fresh) -> None:
    client = boto3.client("s3", region_name=REGION)
    sets = publish.plan(fresh.sets, fresh.catalog, fresh.specs, LOCATION)
    first = sets[0].uploads[0].key
    with Stubber(client) as stub:
        stub.add_response("get_bucket_location", {"LocationConstraint": ""}, {"Bucket": BUCKET})
        stub.add_client_error(
            "head_object", "AccessDenied", "Access Denied", 403, {"Bucket": BUCKET, "Key": first}
        )
        with pytest.raises(PublishError) as caught:
            publish.upload_sets(client, LOCATION, sets)
    assert str(caught.value).startswith(f"s3://{BUCKET}/{first}: access denied")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "Not_A_Bucket"], "s3://Not_A_Bucket/: not an S3 bucket name"),
        (["--bucket", BUCKET, "--prefix", "a b"], "--prefix 'a b': use S3 key characters"),
    ],
)
def test_bad_bucket_or_prefix_is_bad_input(output: Path, args: list[str], message: str) -> None:
    result = run(*map(str, SPECS), "--out", str(output), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_prefixes_are_normalised() -> None:
    assert publish.normalise_prefix("") == ""
    assert publish.normalise_prefix("/pipegen") == "pipegen/"
    assert publish.normalise_prefix("teams/shop/") == "teams/shop/"
    with pytest.raises(PublishError):
        publish.normalise_prefix("a//b")
