"""`pipegen diff` / `pipegen check`: the committed web-app output, copied and changed the way a
generator change would change it, compared template by template; replacements decided from
the provider schemas cfn-lint bundles."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.rendering import render
from generator.review.diff import (
    Change,
    DiffReport,
    FileDiff,
    compare_resources,
    compare_trees,
    diff_values,
    render_check,
    render_json,
    render_text,
)
from tests.cfn_yaml import load_template

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "output"
WEB_APP_SPEC = REPO / "pipelines" / "web-app.yaml"
STORE = "stacks/artifact-store.yaml"
BUILD = "stacks/build-projects.yaml"

Template = dict[str, Any]


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the committed web-app output: old/ (deployed) and new/ (a fresh build)."""
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        shutil.copytree(OUTPUT / "web-app", root / "web-app")
    return old, new


def edit(root: Path, relative: str, mutate: Callable[[Template], None]) -> None:
    path = root / "web-app" / relative
    template = load_template(path)
    mutate(template)
    path.write_text(render(template, "yaml"))


def resource(template: Template, logical_id: str) -> Template:
    found: Template = template["Resources"][logical_id]
    return found


def only_file(report: DiffReport) -> FileDiff:
    files = [item for _, item in report.files()]
    assert len(files) == 1, files
    return files[0]


def text_lines(report: DiffReport) -> list[str]:
    return render_text(report).splitlines()


def test_identical_trees_do_not_differ(trees: tuple[Path, Path]) -> None:
    old, new = trees
    report = compare_trees(old, new)
    assert not report.changed
    assert render_text(report) == f"no differences: {old}/ is what the specs build now"
    assert render_check(report) == ""
    assert json.loads(render_json(report))["changed"] is False


def test_a_new_bucket_name_replaces_the_bucket(trees: tuple[Path, Path]) -> None:
    old, new = trees
    edit(old, STORE, lambda t: resource(t, "ArtifactBucket")["Properties"].update(BucketName="a"))
    edit(new, STORE, lambda t: resource(t, "ArtifactBucket")["Properties"].update(BucketName="b"))
    item = only_file(compare_trees(old, new))
    bucket, policy = item.resources  # the replacements, by logical id
    assert (bucket.logical_id, bucket.replaced, bucket.reasons) == (
        "ArtifactBucket",
        True,
        ("BucketName changed",),
    )
    assert bucket.changes == (Change("Properties.BucketName", "changed", '"a"', '"b"'),)
    # The policy's Bucket is create-only and names the bucket, whose name is new.
    assert (policy.logical_id, policy.replaced, policy.changes) == (
        "ArtifactBucketPolicy",
        True,
        (),
    )
    assert policy.reasons == ("Bucket refers to ArtifactBucket, which is replaced",)
    assert text_lines(compare_trees(old, new)) == [
        f"1 file(s) differ between {old}/ and a fresh build, 2 resource(s) will be REPLACED",
        f"  !! web-app/{STORE}: ArtifactBucket (AWS::S3::Bucket) will be REPLACED",
        f"  !! web-app/{STORE}: ArtifactBucketPolicy (AWS::S3::BucketPolicy) will be REPLACED",
        "",
        "web-app (modified)",
        f"  {STORE} (modified)",
        "    !! ArtifactBucket (AWS::S3::Bucket) will be REPLACED: BucketName changed",
        "         note: UpdateReplacePolicy Retain: the old one is kept, no longer managed",
        '         Properties.BucketName: "a" -> "b"',
        "    !! ArtifactBucketPolicy (AWS::S3::BucketPolicy) will be REPLACED: Bucket refers to "
        "ArtifactBucket, which is replaced",
    ]


def test_replacing_a_resource_with_an_unchanged_custom_name_fails(
    trees: tuple[Path, Path],
) -> None:
    old, new = trees

    def named(template: Template) -> None:
        resource(template, "AccessLogBucket")["Properties"]["BucketName"] = "web-app-logs"

    def prefixed(template: Template) -> None:
        named(template)
        resource(template, "AccessLogBucket")["Properties"]["BucketNamePrefix"] = "web-app"

    edit(old, STORE, named)
    edit(new, STORE, prefixed)
    logs = only_file(compare_trees(old, new)).resources[0]
    assert (logs.logical_id, logs.reasons) == ("AccessLogBucket", ("BucketNamePrefix added",))
    assert logs.notes[0] == (
        'BucketName is fixed ("web-app-logs") and unchanged: CloudFormation cannot replace a '
        "resource with a custom name, so the update fails; give it a new BucketName as well"
    )


def test_a_changed_tag_modifies_without_replacing(trees: tuple[Path, Path]) -> None:
    old, new = trees

    def retag(template: Template) -> None:
        for tag in resource(template, "AccessLogBucket")["Properties"]["Tags"]:
            if tag["Key"] == "Team":
                tag["Value"] = "web"

    edit(new, STORE, retag)
    report = compare_trees(old, new)
    (logs,) = only_file(report).resources
    assert (logs.status, logs.replaced, logs.reasons) == ("modified", False, ())
    assert logs.changes == (
        Change("Properties.Tags[Key=Team].Value", "changed", '"storefront"', '"web"'),
    )
    assert text_lines(report)[-2:] == [
        "    ~  AccessLogBucket (AWS::S3::Bucket) modified",
        '         Properties.Tags[Key=Team].Value: "storefront" -> "web"',
    ]
    assert render_check(report) == f"{old}/web-app/{STORE}: modified"


def test_a_new_managed_policy_description_replaces_the_policy(trees: tuple[Path, Path]) -> None:
    old, new = trees
    edit(
        new,
        "stacks/iam.yaml",
        lambda t: resource(t, "ProdApproverPolicy")["Properties"].update(Description="Approve"),
    )
    lines = text_lines(compare_trees(old, new))
    assert (
        "    !! ProdApproverPolicy (AWS::IAM::ManagedPolicy) will be REPLACED: "
        "Description changed" in lines
    )


def test_a_create_only_path_through_a_list_replaces_only_when_it_changes() -> None:
    def replicator(source: str, topics: list[str]) -> dict[str, Any]:
        info = [
            {"SourceKafkaClusterArn": "arn:one", "TopicReplication": {"TopicsToReplicate": ["a"]}},
            {"SourceKafkaClusterArn": source, "TopicReplication": {"TopicsToReplicate": topics}},
        ]
        return {"R": {"Type": "AWS::MSK::Replicator", "Properties": {"ReplicationInfoList": info}}}

    # /properties/ReplicationInfoList/*/SourceKafkaClusterArn
    (changed,), _ = compare_resources(replicator("arn:a", ["t"]), replicator("arn:b", ["t"]))
    assert changed.reasons == ("ReplicationInfoList[*].SourceKafkaClusterArn changed",)
    assert changed.changes == (
        Change(
            "Properties.ReplicationInfoList[1].SourceKafkaClusterArn",
            "changed",
            '"arn:a"',
            '"arn:b"',
        ),
    )
    (changed,), _ = compare_resources(replicator("arn:a", ["t"]), replicator("arn:a", ["u"]))
    assert (changed.replaced, changed.reasons) == (False, ())


def test_a_type_without_a_schema_is_flagged_unknown() -> None:
    def stack(value: str) -> dict[str, Any]:
        return {"S": {"Type": "Acme::Thing::Widget", "Properties": {"Size": value}}}

    (thing,), _ = compare_resources(stack("1"), stack("2"))
    assert (thing.replaced, thing.notes) == (
        False,
        ("cfn-lint has no schema for Acme::Thing::Widget: whether it is replaced is unknown",),
    )


def test_lists_of_named_items_are_compared_by_name() -> None:
    old = {"Stages": [{"Name": "Source", "Order": 1}, {"Name": "Build", "Order": 2}]}
    new = {"Stages": [{"Name": "Build", "Order": 2}, {"Name": "Source", "Order": 1}]}
    assert diff_values(old, new) == [Change("Stages", "reordered")]
    new = {"Stages": [{"Name": "Source", "Order": 1}, {"Name": "Test"}, {"Name": "Build"}]}
    assert diff_values(old, new) == [
        Change("Stages[Name=Build].Order", "removed", old="2"),
        Change("Stages[Name=Test]", "added", new='{"Name":"Test"}'),
    ]
    assert diff_values([1, 2], [1, 2, 3], "Ports") == [
        Change("Ports", "changed", "[1,2]", "[1,2,3]")
    ]
    assert diff_values({"a.b": 1}, {"a.b": 2}, "Tags") == [
        Change('Tags["a.b"]', "changed", "1", "2")
    ]


def test_a_new_type_is_a_replacement(trees: tuple[Path, Path]) -> None:
    old, new = trees
    edit(new, STORE, lambda t: resource(t, "ArtifactKeyAlias").update(Type="AWS::KMS::Key"))
    alias = only_file(compare_trees(old, new)).resources[0]
    assert (alias.logical_id, alias.type, alias.old_type, alias.reasons) == (
        "ArtifactKeyAlias",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        ("Type changed: AWS::KMS::Alias -> AWS::KMS::Key",),
    )


def test_a_renamed_logical_id_is_a_delete_and_create(trees: tuple[Path, Path]) -> None:
    old, new = trees
    path = new / "web-app" / BUILD
    path.write_text(path.read_text().replace("BuildLogGroup", "BuildLogs"))  # and its Refs
    report = compare_trees(old, new)
    item = only_file(report)
    (rename,) = item.renames
    assert (rename.old_id, rename.new_id, rename.type, rename.similarity, rename.changes) == (
        "BuildLogGroup",
        "BuildLogs",
        "AWS::Logs::LogGroup",
        1.0,
        (),
    )
    clash = (
        'LogGroupName is fixed ("/aws/codebuild/web-app-build"): BuildLogs is created while '
        "BuildLogGroup still holds that name, so the create fails"
    )
    kept = "DeletionPolicy Retain: BuildLogGroup is kept in the account, no longer managed"
    assert rename.notes == (clash, kept)
    assert item.resources == ()  # the project names its log group by name, not by Ref
    assert text_lines(report)[1] == (
        f"  !! web-app/{BUILD}: BuildLogGroup -> BuildLogs (AWS::Logs::LogGroup) DELETE AND CREATE"
    )
    assert text_lines(report)[5:] == [
        "    !! BuildLogGroup -> BuildLogs (AWS::Logs::LogGroup) DELETE AND CREATE: the logical id "
        "changed, so CloudFormation creates BuildLogs and deletes BuildLogGroup",
        f"         note: {clash}",
        f"         note: {kept}",
    ]
    assert text_lines(report)[0].endswith(", 1 DELETE AND CREATE")
    assert render_check(report) == f"{old}/web-app/{BUILD}: modified (1 delete-and-create)"


def test_resources_of_another_shape_are_removed_and_added(trees: tuple[Path, Path]) -> None:
    old, new = trees

    def swap(template: Template) -> None:
        resources = template["Resources"]
        del resources["ArtifactKeyAlias"]
        resources["Topic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}

    edit(new, STORE, swap)
    item = only_file(compare_trees(old, new))
    assert item.renames == ()
    assert [(r.logical_id, r.status, r.type or r.old_type) for r in item.resources] == [
        ("ArtifactKeyAlias", "removed", "AWS::KMS::Alias"),
        ("Topic", "added", "AWS::SNS::Topic"),
    ]


def test_removing_a_retained_resource_says_it_is_kept(trees: tuple[Path, Path]) -> None:
    old, new = trees
    edit(new, STORE, lambda t: t["Resources"].pop("ArtifactKey"))
    key = next(r for r in only_file(compare_trees(old, new)).resources if r.status == "removed")
    assert key.notes == ("DeletionPolicy Retain: kept in the account, no longer managed",)


def test_parameters_and_outputs_added_removed_and_changed(trees: tuple[Path, Path]) -> None:
    old, new = trees

    def change(template: Template) -> None:
        template["Parameters"]["TemplateKeyPrefix"]["Default"] = "pipegen/"
        template["Parameters"]["Team"] = {"Type": "String"}
        del template["Parameters"]["NotificationEmail"]
        del template["Outputs"]["PipelineConsoleUrl"]
        template["Outputs"]["Extra"] = {"Value": "x"}
        template["Description"] = "Shop"

    edit(old, "root.yaml", lambda t: t.update(Description="Storefront"))
    edit(new, "root.yaml", change)
    report = compare_trees(old, new)
    item = only_file(report)
    assert [(p.name, p.status) for p in item.parameters] == [
        ("NotificationEmail", "removed"),
        ("Team", "added"),
        ("TemplateKeyPrefix", "modified"),
    ]
    assert item.parameters[2].changes == (Change("Default", "changed", '""', '"pipegen/"'),)
    assert [(o.name, o.status) for o in item.outputs] == [
        ("Extra", "added"),
        ("PipelineConsoleUrl", "removed"),
    ]
    lines = text_lines(report)
    start = lines.index("    -  parameter NotificationEmail removed")
    assert lines[start : start + 6] == [
        "    -  parameter NotificationEmail removed",
        "    +  parameter Team added",
        "    ~  parameter TemplateKeyPrefix modified",
        '         Default: "" -> "pipegen/"',
        "    +  output Extra added",
        "    -  output PipelineConsoleUrl removed",
    ]
    assert item.resources == ()
    assert item.sections == (Change("Description", "changed", '"Storefront"', '"Shop"'),)
    assert lines[-2:] == [
        "    ~  template sections modified",
        '         Description: "Storefront" -> "Shop"',
    ]


def test_files_that_are_not_templates_are_listed_by_path(trees: tuple[Path, Path]) -> None:
    old, new = trees
    (new / "web-app" / "NOTES.md").write_text("# web-app\n")
    (new / "web-app" / "app" / "buildspec.yml").write_text("version: 0.2\n")
    (old / "web-app" / "app" / "appspec.yml").unlink()
    report = compare_trees(old, new)
    assert [(f.path, f.status, f.template) for _, f in report.files()] == [
        ("NOTES.md", "added", False),
        ("app/appspec.yml", "added", False),
        ("app/buildspec.yml", "modified", False),
    ]
    assert text_lines(report)[2:] == [
        "web-app (modified)",
        "  NOTES.md (added)",
        "  app/appspec.yml (added)",
        "  app/buildspec.yml (modified)",
    ]


def test_formatting_and_unreadable_templates(trees: tuple[Path, Path]) -> None:
    old, new = trees
    pipeline = new / "web-app" / "stacks" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "# a comment\n")
    (new / "web-app" / "stacks" / "iam.yaml").write_text("Resources: [unclosed\n")
    notes = {f.path: f.note for _, f in compare_trees(old, new).files()}
    assert notes["stacks/pipeline.yaml"] == "formatting only: no semantic change"
    assert notes["stacks/iam.yaml"].startswith("cannot be read as a template: ")


def test_a_pipeline_not_built_yet_is_all_added(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(OUTPUT / "web-app", new / "web-app")
    report = compare_trees(tmp_path / "missing", new)
    (pipeline,) = report.pipelines
    assert pipeline.status == "added"
    assert {f.status for f in pipeline.files} == {"added"}
    store = next(f for f in pipeline.files if f.path == STORE)
    assert {r.status for r in store.resources} == {"added"}
    root = load_template(OUTPUT / "web-app" / STORE)
    line = (
        f"  {STORE} (added: {len(root['Resources'])} resource(s), "
        f"{len(root.get('Parameters', {}))} parameter(s), {len(root['Outputs'])} output(s))"
    )
    assert line in text_lines(report)


def test_a_pipeline_whose_spec_is_gone_is_removed_unless_out_of_scope(
    trees: tuple[Path, Path],
) -> None:
    old, new = trees
    shutil.copytree(OUTPUT / "serverless", old / "serverless")
    (old / "notes").mkdir()  # not pipeline output: a build leaves it alone
    (old / "notes" / "todo.txt").write_text("x")
    report = compare_trees(old, new)
    assert [(p.name, p.status) for p in report.pipelines] == [("serverless", "removed")]
    assert not compare_trees(old, new, only=["web-app"]).changed


def test_json_is_sorted_and_documented(trees: tuple[Path, Path]) -> None:
    old, new = trees
    edit(new, STORE, lambda t: resource(t, "ArtifactBucket")["Properties"].update(BucketName="b"))
    text = render_json(compare_trees(old, new))
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    assert document["summary"] == {"files": 1, "replacements": 2, "renames": 0}
    assert (document["version"], document["changed"], document["output"]) == (1, True, str(old))
    (pipeline,) = document["pipelines"]
    (item,) = pipeline["files"]
    assert sorted(item) == [
        "note",
        "outputs",
        "parameters",
        "path",
        "renames",
        "resources",
        "sections",
        "status",
        "template",
    ]
    assert item["resources"][0] == {
        "changes": [
            {"change": "added", "new": '"b"', "old": None, "path": "Properties.BucketName"}
        ],
        "logical_id": "ArtifactBucket",
        "notes": ["UpdateReplacePolicy Retain: the old one is kept, no longer managed"],
        "old_type": "AWS::S3::Bucket",
        "reasons": ["BucketName added"],
        "replaced": True,
        "status": "modified",
        "type": "AWS::S3::Bucket",
    }


# -- the CLI -------------------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_the_committed_output_is_fresh() -> None:
    spec, out = str(WEB_APP_SPEC), str(OUTPUT)
    result = run("diff", spec, "--out", out)
    assert (result.exit_code, result.output) == (
        0,
        f"no differences: {out}/ is what the specs build now\n",
    )
    result = run("check", spec, "--out", out)
    assert (result.exit_code, result.output) == (0, "")
    result = run("check", spec, "--out", out, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output) == {
        "changed": False,
        "files": [],
        "output": out,
        "version": 1,
    }


def test_cli_reports_stale_output_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(OUTPUT / "web-app", out / "web-app")
    # The deployed bucket had a name the fresh build no longer gives it.
    edit(out, STORE, lambda t: resource(t, "ArtifactBucket")["Properties"].update(BucketName="a"))
    (out / "web-app" / "app" / "buildspec.yml").unlink()
    spec = str(WEB_APP_SPEC)
    result = run("diff", spec, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert (
        "    !! ArtifactBucket (AWS::S3::Bucket) will be REPLACED: BucketName removed"
        in result.output.splitlines()
    )
    result = run("check", spec, "--out", str(out))
    assert (result.exit_code, result.output.splitlines()) == (
        1,
        [
            f"{out}/web-app/app/buildspec.yml: added",
            f"{out}/web-app/{STORE}: modified (2 replacement(s))",
        ],
    )
    result = run("diff", spec, "--out", str(out), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.output)["summary"] == {"files": 2, "replacements": 2, "renames": 0}


def test_cli_an_empty_output_folder_is_all_added(tmp_path: Path) -> None:
    out = tmp_path / "nothing-yet"
    result = run("check", str(WEB_APP_SPEC), "--out", str(out))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{out}/web-app/root.yaml: added" in lines
    assert {line.rsplit(": ", 1)[1] for line in lines} == {"added"}
    assert not out.exists()  # only read


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: broken\nblueprint: nope\n")
    for command in ("diff", "check"):
        result = run(command, str(spec), "--out", str(tmp_path / "out"))
        assert result.exit_code == 2, result.output
