"""AWS limits a rendered template set must respect, checked before anything is written.

cfn-lint knows a few of these (template size, resource count); most it does not: the size of IAM
policies per role, CodePipeline's stage and action counts, name lengths. A template that passes
lint but breaks one of them fails only at deploy time, half-way through a nested-stack update,
so the build checks every spec's rendered files here, and raises what all of them break once
every spec is rendered, before anything is staged or linted (build.render_all). The check reads
the bytes that will be written; a rendering is checked when it is composed and enters the output
cache only if it holds (the cache key covers this module's source).

`survey()` measures everything it checks; `check_rendered()` turns the measures that pass their
limit into messages of the form `web-app/stacks/iam.yaml: 512 resources exceed CloudFormation's
500 per template`. Name checks apply only to literal strings: a name built with an intrinsic
function is unknown until deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from generator.errors import LintFailure

# -- CloudFormation ----------------------------------------------------------------------------
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
# ("Template body size in a request": 51,200 bytes; "... in an Amazon S3 object": 1 MB), and the
# API reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
# (TemplateBody: at most 51,200 bytes; TemplateURL: a template of at most 1 MB).
# The root, and any other template launched from its file (a prerequisite), is deployed with
# `aws cloudformation deploy --template-file`, which sends it as the request body when no bucket
# is given, so it must fit the request limit; nested and StackSet templates are read from S3.
ROOT_BODY_BYTES = 51_200
# AWS writes "1 MB" without saying which; cfn-lint 1.58's E1002 (cfnlint.helpers.LIMITS) reads it
# as 1,000,000 bytes. We take that, the stricter reading (1 MiB would be 1,048,576), so this
# check names the problem before cfn-lint's more generic finding does.
CHILD_BODY_BYTES = 1_000_000
# Same quotas page: resources, parameters and outputs per template (also in cfnlint.helpers.LIMITS).
MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
# Same quotas page ("Template description": 1,024 bytes).
MAX_DESCRIPTION_BYTES = 1_024
# Same quotas page ("Resource name", "Parameter name", "Output name": 255 characters), and
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html
# ("The logical ID must be alphanumeric (A-Za-z0-9) and unique within the template").
MAX_LOGICAL_ID = 255
LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")

# -- CodePipeline ------------------------------------------------------------------------------
# https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html (fixed quotas): "Number
# of stages in a pipeline: Minimum of 2, maximum of 50"; "Number of actions in a stage: Minimum
# of 1, maximum of 50" (parallel and sequential actions in a stage: 50 each); "Maximum number of
# actions per pipeline: 500"; pipeline, stage and action names: at most 100 characters of
# A-Z a-z 0-9 . @ - _; action configuration keys at most 50 characters, values at most 1,000.
MIN_STAGES = 2
MAX_STAGES = 50
MIN_ACTIONS_PER_STAGE = 1
MAX_ACTIONS_PER_STAGE = 50
MAX_ACTIONS_PER_PIPELINE = 500
MAX_PIPELINE_NAME = 100  # also stage and action names
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@\-_]+")
MAX_CONFIGURATION_KEY = 50
MAX_CONFIGURATION_VALUE = 1_000

# -- IAM ---------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html: the inline policies
# of a role together at most 10,240 characters, a managed policy at most 6,144, both counted
# without white space; a role's trust policy 2,048 characters (a default that an account can
# raise); 10 managed policies attached to a role (also a raisable default); role names at most
# 64 characters, policy names at most 128. (Managed policy size also:
# https://repost.aws/knowledge-center/iam-increase-policy-size.)
MAX_ROLE_INLINE_CHARS = 10_240
MAX_MANAGED_POLICY_CHARS = 6_144
MAX_TRUST_POLICY_CHARS = 2_048
MAX_MANAGED_POLICIES_PER_ROLE = 10
MAX_ROLE_NAME = 64
MAX_POLICY_NAME = 128
# Policies are measured as they stand in the template, intrinsics included: `{"Fn::Sub":
# "arn:${AWS::Partition}:s3:::${Bucket}/*"}` is counted as written, not as the ARN IAM finally
# stores. Expansion changes the size a little either way (`${AWS::Partition}` becomes `aws`, a
# `Ref` to a bucket parameter becomes a 60-odd character ARN), so IAM policy sizes must stay
# this fraction below their limit. Estimating every `Ref`/`GetAtt` as a 90-100 character ARN
# and every pseudo parameter at its longest, the largest policies of the committed specs grow by
# at most 13% when deployed (small ones, mostly references, by up to 36%, far from any limit).
IAM_HEADROOM = 0.15

# -- resource policies -------------------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-iam-policies.html ("Bucket
# policies are limited to 20 KB in size").
MAX_BUCKET_POLICY_BYTES = 20 * 1_024
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html ("Up to 32
# kilobytes (32,768 bytes)").
MAX_KEY_POLICY_BYTES = 32_768

# -- names -------------------------------------------------------------------------------------
# (resource type, property) -> the rule, checked where the property is a literal string.


@dataclass(frozen=True)
class NameRule:
    service: str  # how messages name it: "S3 bucket name"
    minimum: int
    maximum: int
    pattern: re.Pattern[str]
    pattern_text: str


NAME_RULES: dict[tuple[str, str], NameRule] = {
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    ("AWS::S3::Bucket", "BucketName"): NameRule(
        "S3 bucket name", 3, 63, re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]"), "[a-z0-9.-]"
    ),
    # IAM quotas page above; names: alphanumeric and + = , . @ _ -
    ("AWS::IAM::Role", "RoleName"): NameRule(
        "IAM role name", 1, MAX_ROLE_NAME, re.compile(r"[\w+=,.@-]+"), r"[\w+=,.@-]"
    ),
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): NameRule(
        "IAM policy name", 1, MAX_POLICY_NAME, re.compile(r"[\w+=,.@-]+"), r"[\w+=,.@-]"
    ),
    ("AWS::IAM::Policy", "PolicyName"): NameRule(
        "IAM policy name", 1, MAX_POLICY_NAME, re.compile(r"[\w+=,.@-]+"), r"[\w+=,.@-]"
    ),
    # CodePipeline quotas page above
    ("AWS::CodePipeline::Pipeline", "Name"): NameRule(
        "CodePipeline pipeline name",
        1,
        MAX_PIPELINE_NAME,
        PIPELINE_NAME,
        PIPELINE_NAME.pattern,
    ),
    # https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html ("If you specify
    # only the function name, it is limited to 64 characters in length")
    ("AWS::Lambda::Function", "FunctionName"): NameRule(
        "Lambda function name", 1, 64, re.compile(r"[a-zA-Z0-9\-_]+"), r"[a-zA-Z0-9-_]"
    ),
    # https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html (name:
    # 2 to 150 characters, [A-Za-z0-9][A-Za-z0-9\-_]{1,149})
    ("AWS::CodeBuild::Project", "Name"): NameRule(
        "CodeBuild project name",
        2,
        150,
        re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{1,149}"),
        r"[A-Za-z0-9][A-Za-z0-9\-_]{1,149}",
    ),
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html
    # (1 to 512 characters of a-z A-Z 0-9 _ - / . #)
    ("AWS::Logs::LogGroup", "LogGroupName"): NameRule(
        "log group name", 1, 512, re.compile(r"[\.\-_/#A-Za-z0-9]+"), r"[\.\-_/#A-Za-z0-9]"
    ),
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
    # (up to 80 characters: alphanumerics, hyphens, underscores; FIFO queues end in .fifo)
    ("AWS::SQS::Queue", "QueueName"): NameRule(
        "SQS queue name", 1, 80, re.compile(r"[A-Za-z0-9_-]+(\.fifo)?"), "[A-Za-z0-9_-]"
    ),
    # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html (1 to 256 characters:
    # ASCII letters, numbers, underscores, hyphens; FIFO topics end in .fifo)
    ("AWS::SNS::Topic", "TopicName"): NameRule(
        "SNS topic name", 1, 256, re.compile(r"[A-Za-z0-9_-]+(\.fifo)?"), "[A-Za-z0-9_-]"
    ),
}


class LimitExceeded(LintFailure):
    """Generated templates that AWS would refuse for one of its hard limits.

    A kind of LintFailure (exit code 1): like cfn-lint's findings, it is found in the generated
    templates before anything is written, and means the generator must produce less (a spec
    asking for more than AWS allows, or a generator that should have split the output)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "generated templates exceed AWS limits (nothing was written):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


@dataclass(frozen=True)
class Measure:
    """One measured quantity against its limit; `problem` is the message if it is over."""

    where: str  # pipeline/relative path
    quantity: str  # what is measured, the same text for every template: "resources"
    subject: str  # what inside the template, or "" for the template itself
    value: int
    limit: int  # the limit enforced (below AWS's where headroom applies)
    problem: str

    @property
    def over(self) -> bool:
        return self.value > self.limit


@dataclass
class Survey:
    measures: list[Measure]
    problems: list[str]  # every measure over its limit, and every broken name or minimum


# -- reading rendered templates ----------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Reads the generator's YAML back: short-form intrinsics become their long form."""


def _intrinsic(loader: Any, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def parse(relative: str, data: bytes) -> dict[str, Any]:
    # _Loader is a SafeLoader: it builds plain data and the intrinsic tags, nothing else.
    document = json.loads(data) if relative.endswith(".json") else yaml.load(data, Loader=_Loader)
    return document if isinstance(document, dict) else {}


TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")


def template_kind(relative: str) -> str | None:
    """How a rendered file is deployed: "root", "child" (nested or StackSet templates, read
    from S3), "file" (another template launched from the file itself, such as a prerequisite),
    or None for what is no template of ours (the app's starter files, documents)."""
    if relative in ("root.yaml", "root.json"):
        return "root"
    if relative.startswith("app/") or not relative.endswith(TEMPLATE_SUFFIXES):
        return None
    return "child" if relative.startswith("stacks/") else "file"


def is_template(relative: str) -> bool:
    return template_kind(relative) is not None


# -- measuring ---------------------------------------------------------------------------------


def compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def policy_characters(document: Any) -> int:
    """IAM's measure: characters of the JSON, white space not counted."""
    return sum(1 for ch in compact(document) if not ch.isspace())


def _is_literal(value: Any) -> bool:
    return isinstance(value, str)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _iam_limit(limit: int) -> int:
    return int(limit * (1 - IAM_HEADROOM))


class _Recorder:
    def __init__(self, where: str) -> None:
        self.where = where
        self.measures: list[Measure] = []
        self.problems: list[str] = []

    def measure(self, quantity: str, subject: str, value: int, limit: int, problem: str) -> Measure:
        found = Measure(self.where, quantity, subject, value, limit, problem)
        self.measures.append(found)
        if found.over:
            self.problems.append(f"{self.where}: {problem}")
        return found

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def iam(self, quantity: str, subject: str, value: int, aws: int, unit: str) -> None:
        """An IAM size: over AWS's limit, or inside the headroom kept for intrinsics."""
        allowed = _iam_limit(aws)
        head = f"{subject}: " if subject else ""
        if value > aws:
            problem = f"{head}{quantity} {value:,} characters, over IAM's {aws:,} {unit}"
        else:
            problem = (
                f"{head}{quantity} {value:,} characters, within {IAM_HEADROOM:.0%} of IAM's "
                f"{aws:,} {unit} (at most {allowed:,}, as intrinsics grow when deployed)"
            )
        self.measure(quantity, subject, value, allowed, problem)


def _check_name(record: _Recorder, logical_id: str, rule: NameRule, value: str) -> None:
    record.measure(
        f"{rule.service} characters",
        logical_id,
        len(value),
        rule.maximum,
        f"{logical_id}: {rule.service} {value!r} is {len(value)} characters, over the "
        f"{rule.maximum} allowed",
    )
    if len(value) < rule.minimum:
        record.problem(
            f"{logical_id}: {rule.service} {value!r} is shorter than the {rule.minimum} "
            "characters required"
        )
    if rule.pattern.fullmatch(value) is None:
        record.problem(
            f"{logical_id}: {rule.service} {value!r} has characters outside {rule.pattern_text}"
        )


def _check_logical_ids(record: _Recorder, section: str, names: Iterable[str]) -> None:
    for name in names:
        if len(name) > MAX_LOGICAL_ID:
            record.problem(
                f"{section} {name[:40]}...: logical id is {len(name)} characters, over "
                f"CloudFormation's {MAX_LOGICAL_ID}"
            )
        if LOGICAL_ID.fullmatch(name) is None:
            record.problem(f"{section} {name}: logical id is not alphanumeric (A-Za-z0-9)")


def _check_pipeline(record: _Recorder, logical_id: str, props: Mapping[str, Any]) -> None:
    stages = props.get("Stages")
    if not isinstance(stages, list):
        return
    subject = f"pipeline {logical_id}"
    record.measure(
        "stages per pipeline",
        subject,
        len(stages),
        MAX_STAGES,
        f"{subject}: {len(stages)} stages exceed CodePipeline's {MAX_STAGES} per pipeline",
    )
    if len(stages) < MIN_STAGES:
        record.problem(
            f"{subject}: {len(stages)} stage(s), below CodePipeline's minimum of {MIN_STAGES}"
        )
    total = 0
    for stage in stages:
        if not isinstance(stage, dict):
            continue
        stage_name = stage.get("Name")
        label = f"{subject}: stage {stage_name}"
        if isinstance(stage_name, str):
            _check_codepipeline_name(record, label, "stage name", stage_name)
        actions = _listed(stage.get("Actions"))
        total += len(actions)
        record.measure(
            "actions per stage",
            f"{subject} stage {stage_name}",
            len(actions),
            MAX_ACTIONS_PER_STAGE,
            f"{label}: {len(actions)} actions exceed CodePipeline's {MAX_ACTIONS_PER_STAGE} "
            "per stage",
        )
        if len(actions) < MIN_ACTIONS_PER_STAGE:
            record.problem(f"{label}: no actions; CodePipeline needs at least one per stage")
        for action in actions:
            if not isinstance(action, dict):
                continue
            action_name = action.get("Name")
            where = f"{label} action {action_name}"
            measured = f"{subject} stage {stage_name} action {action_name}"
            if isinstance(action_name, str):
                _check_codepipeline_name(record, where, "action name", action_name)
            configuration = action.get("Configuration")
            if not isinstance(configuration, dict):
                continue
            for key, value in configuration.items():
                if len(key) > MAX_CONFIGURATION_KEY:
                    record.problem(
                        f"{where}: configuration key {key} is {len(key)} characters, over "
                        f"CodePipeline's {MAX_CONFIGURATION_KEY}"
                    )
                if _is_literal(value):
                    record.measure(
                        "action configuration value characters",
                        f"{measured} {key}",
                        len(value),
                        MAX_CONFIGURATION_VALUE,
                        f"{where}: configuration {key} is {len(value):,} characters, over "
                        f"CodePipeline's {MAX_CONFIGURATION_VALUE:,}",
                    )
    record.measure(
        "actions per pipeline",
        subject,
        total,
        MAX_ACTIONS_PER_PIPELINE,
        f"{subject}: {total} actions exceed CodePipeline's {MAX_ACTIONS_PER_PIPELINE} per pipeline",
    )


def _check_codepipeline_name(record: _Recorder, where: str, kind: str, value: str) -> None:
    if len(value) > MAX_PIPELINE_NAME:
        record.problem(
            f"{where}: {kind} is {len(value)} characters, over CodePipeline's {MAX_PIPELINE_NAME}"
        )
    if PIPELINE_NAME.fullmatch(value) is None:
        record.problem(f"{where}: {kind} {value!r} has characters outside {PIPELINE_NAME.pattern}")


def _role_key(value: Any) -> str | None:
    """The role a `Roles` entry or `RoleName` names: a Ref's target, or a literal name."""
    target = _ref(value)
    if target is not None:
        return target
    return value if isinstance(value, str) else None


def _check_iam(record: _Recorder, resources: Mapping[str, Any]) -> None:
    inline: dict[str, int] = {}
    managed_count: dict[str, int] = {}
    roles = [
        name
        for name, r in resources.items()
        if isinstance(r, dict) and r.get("Type") == "AWS::IAM::Role"
    ]
    for name, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        if kind == "AWS::IAM::Role":
            inline[name] = inline.get(name, 0) + sum(
                policy_characters(p.get("PolicyDocument"))
                for p in _listed(props.get("Policies"))
                if isinstance(p, dict)
            )
            managed_count[name] = managed_count.get(name, 0) + len(
                _listed(props.get("ManagedPolicyArns"))
            )
            trust = props.get("AssumeRolePolicyDocument")
            if trust is not None:
                record.iam(
                    "trust policy",
                    f"role {name}",
                    policy_characters(trust),
                    MAX_TRUST_POLICY_CHARS,
                    "per trust policy (a default quota)",
                )
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            size = policy_characters(props.get("PolicyDocument"))
            targets = (
                _listed(props.get("Roles"))
                if kind == "AWS::IAM::Policy"
                else [props.get("RoleName")]
            )
            for target in targets:
                key = _role_key(target)
                if key is not None:
                    inline[key] = inline.get(key, 0) + size
        elif kind == "AWS::IAM::ManagedPolicy":
            record.iam(
                "managed policy",
                f"policy {name}",
                policy_characters(props.get("PolicyDocument")),
                MAX_MANAGED_POLICY_CHARS,
                "per managed policy",
            )
            for target in _listed(props.get("Roles")):
                key = _role_key(target)
                if key is not None:
                    managed_count[key] = managed_count.get(key, 0) + 1
    for role in [*roles, *sorted(set(inline) - set(roles))]:
        if inline.get(role):
            size = inline[role]
            record.iam(
                "inline policies total", f"role {role}", size, MAX_ROLE_INLINE_CHARS, "per role"
            )
    for role in [*roles, *sorted(set(managed_count) - set(roles))]:
        count = managed_count.get(role, 0)
        if count:
            record.measure(
                "managed policies per role",
                f"role {role}",
                count,
                MAX_MANAGED_POLICIES_PER_ROLE,
                f"role {role}: {count} managed policies attached, over IAM's default "
                f"{MAX_MANAGED_POLICIES_PER_ROLE} per role",
            )


def _check_resource_policies(record: _Recorder, resources: Mapping[str, Any]) -> None:
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        props = resource["Properties"]
        if resource.get("Type") == "AWS::S3::BucketPolicy" and "PolicyDocument" in props:
            size = len(compact(props["PolicyDocument"]).encode())
            record.measure(
                "bucket policy bytes",
                name,
                size,
                MAX_BUCKET_POLICY_BYTES,
                f"{name}: bucket policy is {size:,} bytes, over S3's "
                f"{MAX_BUCKET_POLICY_BYTES:,} (20 KB)",
            )
        if resource.get("Type") == "AWS::KMS::Key" and "KeyPolicy" in props:
            size = len(compact(props["KeyPolicy"]).encode())
            record.measure(
                "key policy bytes",
                name,
                size,
                MAX_KEY_POLICY_BYTES,
                f"{name}: key policy is {size:,} bytes, over KMS's {MAX_KEY_POLICY_BYTES:,}",
            )


def survey_template(
    where: str, document: Mapping[str, Any], size: int, *, kind: str = "child"
) -> Survey:
    """Every limit of one template; `size` is its rendered size in bytes, `kind` as
    template_kind() says: a child is read from S3, the others are sent as the request body."""
    record = _Recorder(where)
    body_limit, body_kind = (
        (CHILD_BODY_BYTES, "a template in S3")
        if kind == "child"
        else (ROOT_BODY_BYTES, "a template body sent without a bucket")
    )
    record.measure(
        f"template bytes ({kind})",
        "",
        size,
        body_limit,
        f"{size:,} bytes exceed CloudFormation's {body_limit:,} for {body_kind}",
    )
    description = document.get("Description")
    if isinstance(description, str):
        length = len(description.encode())
        record.measure(
            "description bytes",
            "",
            length,
            MAX_DESCRIPTION_BYTES,
            f"description is {length:,} bytes, over CloudFormation's {MAX_DESCRIPTION_BYTES:,}",
        )
    resources = document.get("Resources")
    resources = resources if isinstance(resources, dict) else {}
    for section, limit, items in (
        ("resources", MAX_RESOURCES, resources),
        ("parameters", MAX_PARAMETERS, document.get("Parameters") or {}),
        ("outputs", MAX_OUTPUTS, document.get("Outputs") or {}),
    ):
        record.measure(
            section,
            "",
            len(items),
            limit,
            f"{len(items)} {section} exceed CloudFormation's {limit} per template",
        )
        _check_logical_ids(record, section[:-1], items)
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        props = resource["Properties"]
        resource_type = resource.get("Type")
        for (rule_type, prop), rule in NAME_RULES.items():
            if resource_type == rule_type and _is_literal(props.get(prop)):
                _check_name(record, name, rule, props[prop])
        if resource_type == "AWS::CodePipeline::Pipeline":
            _check_pipeline(record, name, props)
    _check_iam(record, resources)
    _check_resource_policies(record, resources)
    return Survey(record.measures, record.problems)


def survey(pipeline: str, files: Mapping[str, bytes]) -> Survey:
    """Every limit of one pipeline's rendered files (relative path -> bytes). Pure."""
    measures: list[Measure] = []
    problems: list[str] = []
    for relative in sorted(files, key=lambda r: (not r.startswith("root."), r)):
        kind = template_kind(relative)
        if kind is None:
            continue
        data = files[relative]
        document = parse(relative, data)
        if kind == "file" and "Resources" not in document:
            continue  # a data file beside the templates, not a template
        found = survey_template(f"{pipeline}/{relative}", document, len(data), kind=kind)
        measures += found.measures
        problems += found.problems
    return Survey(measures, problems)


def check_rendered(pipeline: str, files: Mapping[str, bytes]) -> list[str]:
    """The limits one pipeline's rendered files break, as messages; empty when all hold."""
    return survey(pipeline, files).problems


class _Rendered(Protocol):
    @property
    def pipeline(self) -> str: ...
    @property
    def files(self) -> dict[str, bytes]: ...


def enforce(sets: Iterable[_Rendered]) -> None:
    """Raise LimitExceeded naming every broken limit of every set."""
    problems = [p for s in sets for p in check_rendered(s.pipeline, s.files)]
    if problems:
        raise LimitExceeded(problems)


def tightest(measures: Iterable[Measure]) -> Iterator[Measure]:
    """Per quantity, the measure closest to (or furthest over) its limit, in quantity order."""
    best: dict[str, Measure] = {}
    for m in measures:
        known = best.get(m.quantity)
        if known is None or m.value / max(m.limit, 1) > known.value / max(known.limit, 1):
            best[m.quantity] = m
    yield from best.values()
