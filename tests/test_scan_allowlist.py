"""The security scan's allow-list (scan/allowlist.yaml) against the committed output/.

`make scan` runs checkov and parliament in their own virtualenv; these tests run in the main one
(no checkov, no parliament) and keep the allow-list honest between scans: its schema, a comment
and an entry for every checkov skip in the templates' Metadata, and no entry that nothing uses.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from scan import allowlist as allowlist_module
from scan import cfn
from tests.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
TEMPLATES = cfn.discover_templates(OUTPUT)


def _rel(path: Path) -> str:
    return path.relative_to(OUTPUT).as_posix()


def _skips() -> list[tuple[str, str, str, str, Any]]:
    """(file, logical id, resource type, check id, comment) of every Metadata checkov skip."""
    found = []
    for path in TEMPLATES:
        resources = load_template(path).get("Resources") or {}
        for logical_id, resource in resources.items():
            metadata = resource.get("Metadata") or {}
            for entry in (metadata.get("checkov") or {}).get("skip") or []:
                found.append(
                    (
                        _rel(path),
                        logical_id,
                        resource["Type"],
                        entry.get("id"),
                        entry.get("comment"),
                    )
                )
    return found


@pytest.fixture(scope="module")
def allowlist() -> allowlist_module.Allowlist:
    return allowlist_module.load()


def test_templates_are_found() -> None:
    pipelines = sorted(p.name for p in OUTPUT.iterdir() if (p / "root.yaml").is_file())
    assert pipelines, "output/ is empty: run `make templates`"
    names = [_rel(t) for t in TEMPLATES]
    for pipeline in pipelines:
        assert f"{pipeline}/root.yaml" in names
        assert any(n.startswith(f"{pipeline}/stacks/") for n in names)
    # The Service Catalog portfolio has no root.yaml; it and its product stacks are scanned too.
    assert "service-catalog/portfolio.yaml" in names
    assert any(n.startswith("service-catalog/stacks/") for n in names)
    # Starter files are not CloudFormation (appspec.yaml has a Resources key of its own); only a
    # SAM or CloudFormation template under app/ is scanned.
    for path in TEMPLATES:
        if "app" in path.relative_to(OUTPUT).parts:
            assert cfn.looks_like_template(load_template(path)), path


def test_allowlist_schema(allowlist: allowlist_module.Allowlist) -> None:
    # load() validates every entry: known keys only, a non-empty reason, well-formed ids.
    assert allowlist.checkov or allowlist.parliament
    for entry in [*allowlist.checkov, *allowlist.parliament]:
        assert entry.reason.strip()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"check": "CKV_AWS_18", "resource_kind": "AWS::S3::Bucket"}, "non-empty `reason`"),
        ({"check": "CKV_AWS_18", "resource_kind": "AWS::S3::Bucket", "reason": " "}, "`reason`"),
        ({"check": "CKV_AWS_18", "resource_kind": "S3Bucket", "reason": "r"}, "resource_kind"),
        ({"check": "AWS_18", "resource_kind": "AWS::S3::Bucket", "reason": "r"}, "checkov id"),
        (
            {"check": "CKV_AWS_18", "resource_kind": "AWS::S3::Bucket", "reason": "r", "x": 1},
            "unknown keys",
        ),
        ({"parliament": "RESOURCE_STAR", "reason": "r"}, "`policy`"),
        ({"parliament": "star", "policy": "a#B", "reason": "r"}, "issue code"),
        (
            {"parliament": "RESOURCE_STAR", "policy": "a#B", "actions": "s3:*", "reason": "r"},
            "list",
        ),
        ({"reason": "r"}, "needs `check`"),
    ],
)
def test_allowlist_rejects(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(allowlist_module.AllowlistError) as error:
        allowlist_module.parse({"entries": [entry]})
    assert problem in str(error.value)


def test_allowlist_rejects_duplicates() -> None:
    entry = {"check": "CKV_AWS_18", "resource_kind": "AWS::S3::Bucket", "reason": "r"}
    with pytest.raises(allowlist_module.AllowlistError, match="second entry"):
        allowlist_module.parse({"entries": [entry, dict(entry)]})


def test_every_metadata_skip_has_a_comment() -> None:
    missing = [
        f"{file}: {logical_id} skips {check!r}"
        for file, logical_id, _, check, comment in _skips()
        if not check or not isinstance(comment, str) or not comment.strip()
    ]
    assert not missing, "checkov skips need an id and a non-empty comment:\n" + "\n".join(missing)


def test_every_metadata_skip_is_allowlisted(allowlist: allowlist_module.Allowlist) -> None:
    missing = sorted(
        {
            f"{check} on {kind} (e.g. {logical_id} in {file})"
            for file, logical_id, kind, check, _ in _skips()
            if allowlist.checkov_entry(str(check), kind) is None
        }
    )
    assert not missing, (
        "checkov skips without an entry in scan/allowlist.yaml (add `check`, `resource_kind` "
        "and `reason`, or drop the skip):\n" + "\n".join(missing)
    )


def test_no_stale_checkov_entries(allowlist: allowlist_module.Allowlist) -> None:
    used = {(check, kind) for _, _, kind, check, _ in _skips()}
    stale = [
        f"{entry.check} on {entry.resource_kind}"
        for entry in allowlist.checkov
        if (entry.check, entry.resource_kind) not in used
    ]
    assert not stale, "allow-list entries no template skips any more; remove them:\n" + "\n".join(
        stale
    )


def test_no_stale_parliament_entries(allowlist: allowlist_module.Allowlist) -> None:
    """Each parliament entry must still name a policy (and statement) in output/. Whether the
    finding itself is still raised only `make scan` can tell; it fails on unused entries too."""
    statements: list[tuple[str, str, str | None]] = []
    for path in TEMPLATES:
        for document in cfn.policy_documents(load_template(path), _rel(path)):
            body = document.document.get("Statement") if isinstance(document.document, dict) else []
            for statement in body if isinstance(body, list) else [body]:
                sid = statement.get("Sid") if isinstance(statement, dict) else None
                statements.append((document.label, document.resource_kind, sid))
    stale = [
        f"{entry.issue} for {entry.policy}" + (f" [{entry.sid}]" if entry.sid else "")
        for entry in allowlist.parliament
        if not any(
            fnmatchcase(label, entry.policy)
            and entry.resource_kind in (None, kind)
            and (entry.sid is None or (sid is not None and fnmatchcase(sid, entry.sid)))
            for label, kind, sid in statements
        )
    ]
    assert not stale, "allow-list entries that match no policy in output/:\n" + "\n".join(stale)


# --- how the scan renders policies for parliament ----------------------------------------------

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "ArtifactBucketArn": {"Type": "String"},
        "ConnectionArn": {"Type": "String"},
        "Stage": {"Type": "String", "Default": "prod"},
    },
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Path": "/pipegen/demo/",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["codebuild.amazonaws.com"]},
                            "Action": ["sts:AssumeRole"],
                        }
                    ],
                },
            },
        },
        "Policy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": [
                                {
                                    "Fn::Sub": [
                                        "${Bucket}/*",
                                        {"Bucket": {"Ref": "ArtifactBucketArn"}},
                                    ]
                                },
                                {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:x-${Stage}"},
                                {"Fn::If": ["IsProd", {"Fn::GetAtt": ["Role", "Arn"]}, "no"]},
                                {"Fn::Join": [":", ["a", {"Ref": "AWS::AccountId"}]]},
                                {"Ref": "AWS::NoValue"},
                            ],
                        }
                    ],
                },
            },
        },
    },
}


def test_policies_are_rendered_with_placeholders() -> None:
    documents, guesses = cfn.render_policies(TEMPLATE, "demo/stacks/iam.yaml")
    assert [(d.label, d.kind) for d in documents] == [
        ("demo/stacks/iam.yaml#Role/AssumeRolePolicyDocument", cfn.TRUST),
        ("demo/stacks/iam.yaml#Policy", cfn.IDENTITY),
    ]
    assert documents[1].rendered["Statement"][0]["Resource"] == [
        "arn:aws:s3:::artifactbucket/*",
        "arn:aws:logs:us-east-1:x-prod",
        "arn:aws:iam::123456789012:role/pipegen/demo/role",
        "a:123456789012",
    ]
    assert not guesses


def test_trust_policies_get_the_role_as_resource() -> None:
    """parliament needs a Resource; a trust policy's is the role it guards."""
    documents, _ = cfn.render_policies(TEMPLATE, "demo/stacks/iam.yaml")
    trust = documents[0]
    assert "Resource" not in trust.rendered["Statement"][0]
    assert trust.for_parliament["Statement"][0]["Resource"] == (
        "arn:aws:iam::123456789012:role/pipegen/demo/role"
    )
