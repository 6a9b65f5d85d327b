"""Reading the generated CloudFormation: which files are templates, their checkov skips, and their
IAM policy documents rendered to plain JSON (what parliament needs).

Standard library and PyYAML only: the scan virtualenv runs it and so does the main test suite.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# --- YAML with CloudFormation's short-form tags ----------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Ref X`, `!GetAtt A.B`, `!Sub ...` into their long (JSON) form."""


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


def _plain(value: Any) -> Any:
    """YAML reads unquoted dates as date objects; a template means the string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def load(path: Path) -> Any:
    """Parse a YAML or JSON template (JSON is YAML)."""
    return _plain(yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader))


# --- Which files are templates ---------------------------------------------------------------

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")


def looks_like_template(doc: Any) -> bool:
    """A mapping with a Resources mapping and a CloudFormation marker (a SAM Transform counts)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        return False
    transform = doc.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return "AWSTemplateFormatVersion" in doc or any(
        isinstance(t, str) and t.startswith("AWS::") for t in transforms
    )


def is_sam(doc: Any) -> bool:
    transform = doc.get("Transform") if isinstance(doc, dict) else None
    transforms = transform if isinstance(transform, list) else [transform]
    return any(isinstance(t, str) and t.startswith("AWS::Serverless") for t in transforms)


def discover_templates(output_dir: Path) -> list[Path]:
    """Every CloudFormation template under output/, sorted.

    `<pipeline>/root.*` and `<pipeline>/stacks/*` are templates by position (a file there that is
    not one is returned anyway, so that checkov or the caller reports it). Anywhere else, under
    `app/` for instance, a file counts only if it parses to a template: `appspec.yaml` has a
    `Resources` key too, but it is a CodeDeploy file, not CloudFormation.
    """
    found: list[Path] = []
    for path in sorted(output_dir.rglob("*")):
        if not path.is_file() or path.suffix not in TEMPLATE_SUFFIXES:
            continue
        rel = path.relative_to(output_dir).parts
        by_position = (len(rel) == 2 and path.stem == "root") or (
            len(rel) == 3 and rel[1] == "stacks"
        )
        if by_position:
            found.append(path)
            continue
        try:
            doc = load(path)
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if looks_like_template(doc):
            found.append(path)
    return found


# --- checkov skips in resource Metadata --------------------------------------------------------


@dataclass(frozen=True)
class MetadataSkip:
    file: str  # relative to output/
    resource: str  # logical id
    resource_kind: str  # CloudFormation type
    check: str
    comment: str


def metadata_skips(template: Any, file: str) -> list[MetadataSkip]:
    """Every `Metadata.checkov.skip` entry of every resource (malformed entries included, with
    empty fields, so that a caller can report them)."""
    skips: list[MetadataSkip] = []
    resources = template.get("Resources") if isinstance(template, dict) else None
    for logical_id, resource in (resources or {}).items():
        if not isinstance(resource, dict):
            continue
        metadata = resource.get("Metadata")
        checkov = metadata.get("checkov") if isinstance(metadata, dict) else None
        entries = checkov.get("skip") if isinstance(checkov, dict) else None
        for entry in entries or []:
            entry = entry if isinstance(entry, dict) else {}
            skips.append(
                MetadataSkip(
                    file=file,
                    resource=logical_id,
                    resource_kind=str(resource.get("Type", "")),
                    check=str(entry.get("id") or ""),
                    comment=str(entry.get("comment") or "").strip(),
                )
            )
    return skips


# --- Rendering intrinsic functions to placeholder values ---------------------------------------

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT = "123456789012"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "placeholder-stack",
    "AWS::StackId": (
        f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/placeholder-stack/{KEY_ID}"
    ),
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:placeholder"],
}


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def _slug(name: str) -> str:
    """A logical id as a plausible resource name (lower case, valid for S3 too)."""
    return re.sub(r"[^a-z0-9-]", "", name.lower()) or "placeholder"


# ARN of each CloudFormation type, from its name. `{name}` is the physical name.
_ARN_BY_TYPE = {
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role{path}{name}",
    "AWS::IAM::ManagedPolicy": "arn:{p}:iam::{a}:policy{path}{name}",
    "AWS::IAM::User": "arn:{p}:iam::{a}:user{path}{name}",
    "AWS::IAM::Group": "arn:{p}:iam::{a}:group{path}{name}",
    "AWS::IAM::InstanceProfile": "arn:{p}:iam::{a}:instance-profile{path}{name}",
    "AWS::S3::Bucket": "arn:{p}:s3:::{name}",
    "AWS::KMS::Key": "arn:{p}:kms:{r}:{a}:key/" + KEY_ID,
    "AWS::KMS::ReplicaKey": "arn:{p}:kms:{r}:{a}:key/" + KEY_ID,
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{name}",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{name}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::Serverless::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::CodeBuild::Project": "arn:{p}:codebuild:{r}:{a}:project/{name}",
    "AWS::CodeBuild::ReportGroup": "arn:{p}:codebuild:{r}:{a}:report-group/{name}",
    "AWS::CodePipeline::Pipeline": "arn:{p}:codepipeline:{r}:{a}:{name}",
    "AWS::Events::Rule": "arn:{p}:events:{r}:{a}:rule/{name}",
    "AWS::ECR::Repository": "arn:{p}:ecr:{r}:{a}:repository/{name}",
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::ECS::Cluster": "arn:{p}:ecs:{r}:{a}:cluster/{name}",
    "AWS::StepFunctions::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
    "AWS::SecretsManager::Secret": "arn:{p}:secretsmanager:{r}:{a}:secret:{name}-AbCdEf",
    "AWS::CodeStarConnections::Connection": (
        "arn:{p}:codestar-connections:{r}:{a}:connection/" + KEY_ID
    ),
    "AWS::CloudWatch::Alarm": "arn:{p}:cloudwatch:{r}:{a}:alarm:{name}",
}
# Types whose `Ref` is the ARN; for the others it is the name (KMS keys: the key id).
_REF_IS_ARN = {
    "AWS::IAM::ManagedPolicy",
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
    "AWS::CodeStarConnections::Connection",
    "AWS::StepFunctions::StateMachine",
}
# The property that holds each type's physical name, when the template sets it.
_NAME_PROPERTIES = (
    "RoleName",
    "ManagedPolicyName",
    "UserName",
    "GroupName",
    "BucketName",
    "TopicName",
    "QueueName",
    "FunctionName",
    "LogGroupName",
    "RepositoryName",
    "TableName",
    "StateMachineName",
    "AlarmName",
    "Name",
)
# ARN-valued parameters have no type that says what they point at: guess from the name. First
# match wins, so `PermissionsBoundaryArn` is a policy and `TaskExecutionRoleArn` a role.
_ARN_BY_PARAMETER_NAME = (
    ("Boundary", "arn:{p}:iam::{a}:policy/{name}"),
    ("Policy", "arn:{p}:iam::{a}:policy/{name}"),
    ("Role", "arn:{p}:iam::{a}:role/{name}"),
    ("Bucket", "arn:{p}:s3:::{name}"),
    ("Key", "arn:{p}:kms:{r}:{a}:key/" + KEY_ID),
    ("Topic", "arn:{p}:sns:{r}:{a}:{name}"),
    ("Queue", "arn:{p}:sqs:{r}:{a}:{name}"),
    ("Connection", "arn:{p}:codestar-connections:{r}:{a}:connection/" + KEY_ID),
    ("Listener", "arn:{p}:elasticloadbalancing:{r}:{a}:listener/app/{name}/0123456789abcdef/0"),
    ("TargetGroup", "arn:{p}:elasticloadbalancing:{r}:{a}:targetgroup/{name}/0123456789abcdef"),
    ("LoadBalancer", "arn:{p}:elasticloadbalancing:{r}:{a}:loadbalancer/app/{name}/0123456789"),
    ("Secret", "arn:{p}:secretsmanager:{r}:{a}:secret:{name}-AbCdEf"),
    ("Repository", "arn:{p}:ecr:{r}:{a}:repository/{name}"),
    ("LogGroup", "arn:{p}:logs:{r}:{a}:log-group:{name}:*"),
    ("Function", "arn:{p}:lambda:{r}:{a}:function:{name}"),
    ("Cluster", "arn:{p}:ecs:{r}:{a}:cluster/{name}"),
    ("Project", "arn:{p}:codebuild:{r}:{a}:project/{name}"),
    ("Table", "arn:{p}:dynamodb:{r}:{a}:table/{name}"),
    ("StateMachine", "arn:{p}:states:{r}:{a}:stateMachine:{name}"),
    ("Alarm", "arn:{p}:cloudwatch:{r}:{a}:alarm:{name}"),
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Renderer:
    """Renders a template's values with placeholders for everything known only at deploy time.

    Pseudo parameters get fixed values (`aws`, `us-east-1`, `123456789012`); a parameter its
    Default (else a placeholder guessed from its name, an ARN for `...Arn`); a resource in the
    template a name or ARN of its type; `Fn::If` its first (true) branch; `AWS::NoValue` drops
    the element. What it had to guess blindly is listed in `guesses`.
    """

    template: dict[str, Any]
    guesses: set[str] = field(default_factory=set)
    _naming: set[str] = field(default_factory=set)

    @property
    def parameters(self) -> dict[str, Any]:
        return self.template.get("Parameters") or {}

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources") or {}

    def _fill(self, pattern: str, name: str, path: str = "/") -> str:
        return pattern.format(p=PARTITION, r=REGION, a=ACCOUNT, name=name, path=path)

    # -- names and ARNs of things the template refers to

    def _resource_name(self, logical_id: str) -> str:
        properties = self.resources[logical_id].get("Properties") or {}
        for key in _NAME_PROPERTIES:
            if key in properties and logical_id not in self._naming:
                self._naming.add(logical_id)
                try:
                    value = self.render(properties[key])
                finally:
                    self._naming.discard(logical_id)
                if isinstance(value, str) and value:
                    return value
        return _slug(logical_id)

    def _resource_arn(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind = str(resource.get("Type", ""))
        name = self._resource_name(logical_id)
        path = (resource.get("Properties") or {}).get("Path")
        path = path if isinstance(path, str) and path.startswith("/") else "/"
        pattern = _ARN_BY_TYPE.get(kind)
        if pattern is None:
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "placeholder"
            pattern = "arn:{p}:" + service + ":{r}:{a}:" + kind.split("::")[-1].lower() + "/{name}"
        return self._fill(pattern, name, path)

    def _parameter_value(self, name: str) -> Any:
        parameter = self.parameters[name] or {}
        if "Default" in parameter:
            return parameter["Default"]
        allowed = parameter.get("AllowedValues")
        if isinstance(allowed, list) and allowed:
            return allowed[0]
        if str(parameter.get("Type", "")).startswith("List<") or parameter.get("Type") in (
            "CommaDelimitedList",
        ):
            return [_slug(name)]
        if name.endswith(("Arn", "ARN")):
            stem = name[:-3]
            for keyword, pattern in _ARN_BY_PARAMETER_NAME:
                if keyword in stem:
                    return self._fill(pattern, _slug(stem))
            self.guesses.add(f"parameter {name}: no ARN pattern for its name")
            return self._fill("arn:{p}:placeholder:{r}:{a}:placeholder/{name}", _slug(stem))
        return _slug(name)

    def ref(self, name: Any) -> Any:
        name = str(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self._parameter_value(name)
        if name in self.resources:
            kind = str(self.resources[name].get("Type", ""))
            if kind in _REF_IS_ARN:
                return self._resource_arn(name)
            if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
                return KEY_ID
            if kind == "AWS::SQS::Queue":
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self._resource_name(name)}"
            return self._resource_name(name)
        if "." in name:  # SAM: `!Ref Function.Version`, `!Ref Function.Alias`
            return self.get_att(name.split(".", 1))
        # Something CloudFormation or a transform creates (SAM's ServerlessDeploymentApplication).
        self.guesses.add(f"Ref {name}: not in the template")
        return _slug(name)

    def get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = str(arg[0]), str(self.render(arg[1]))
        if logical_id not in self.resources:
            self.guesses.add(f"GetAtt {logical_id}.{attribute}: not in the template")
            return f"{_slug(logical_id)}-{_slug(attribute)}"
        kind = str(self.resources[logical_id].get("Type", ""))
        if attribute in ("Arn", "TopicArn", "QueueArn", "KeyArn", "StateMachineArn"):
            return self._resource_arn(logical_id)
        if kind.endswith("::Function") and attribute in ("Version", "Alias"):
            suffix = "1" if attribute == "Version" else "live"
            return f"{self._resource_arn(logical_id)}:{suffix}"
        if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey") and attribute == "KeyId":
            return KEY_ID
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self._resource_name(logical_id)
        return f"{_slug(logical_id)}-{_slug(attribute)}"

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.render(v) for k, v in (variables or {}).items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if name in PSEUDO or name in self.parameters or name in self.resources:
                return str(self.ref(name))
            if "." in name and name.split(".", 1)[0] in self.resources:
                return str(self.get_att(name.split(".", 1)))
            self.guesses.add(f"Sub ${{{name}}}: unknown variable")
            return "placeholder"

        return _SUB_VARIABLE.sub(replace, str(text))

    def render(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.render(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(arg)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::If":
                return self.render(arg[1])
            if key == "Fn::Join":
                parts = self.render(arg[1])
                parts = parts if isinstance(parts, list) else [parts]
                return str(arg[0]).join(str(p) for p in parts)
            if key == "Fn::Select":
                items = self.render(arg[1])
                index = int(self.render(arg[0]))
                return items[index] if isinstance(items, list) and index < len(items) else "x"
            if key == "Fn::Split":
                return str(self.render(arg[1])).split(str(arg[0]))
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
            if key == "Fn::Base64":
                return self.render(arg)
            if key == "Fn::FindInMap":
                keys = [self.render(k) for k in arg]
                found: Any = self.template.get("Mappings") or {}
                for k in keys:
                    found = found.get(k) if isinstance(found, dict) else None
                if found is None:
                    self.guesses.add(f"FindInMap {keys}: not found")
                    return "placeholder"
                return self.render(found)
            if key == "Fn::ImportValue":
                self.guesses.add(f"ImportValue {arg}")
                return "placeholder"
        rendered = {k: self.render(v) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}


# --- IAM policy documents --------------------------------------------------------------------

IDENTITY = "identity"
TRUST = "trust"
RESOURCE = "resource"

# Resource-based policies: CloudFormation type -> property that holds the document.
RESOURCE_POLICY_PROPERTIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::KMS::ReplicaKey": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::ECR::Repository": "RepositoryPolicyText",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::Events::EventBusPolicy": "Statement",
}


@dataclass
class PolicyDocument:
    label: str  # "<file>#<LogicalId>[/<part>]", what allow-list `policy` globs match
    file: str
    resource: str
    resource_kind: str
    kind: str  # identity, trust or resource
    document: Any  # as written, intrinsics included
    rendered: Any = None  # intrinsics replaced by placeholders
    for_parliament: Any = None  # rendered, with the Resource a trust/resource policy implies


def _inline_policies(resource: dict[str, Any], logical_id: str) -> Iterator[tuple[str, Any]]:
    for index, policy in enumerate((resource.get("Properties") or {}).get("Policies") or []):
        if not isinstance(policy, dict):
            continue
        if "PolicyDocument" in policy:  # AWS::IAM::Role/User/Group
            name = policy.get("PolicyName")
            yield f"Policies/{name if isinstance(name, str) else index}", policy["PolicyDocument"]
        elif "Statement" in policy:  # SAM: an inline document (policy templates are skipped)
            yield f"Policies/{index}", policy


def policy_documents(template: Any, file: str) -> list[PolicyDocument]:
    """Every IAM policy document in a template, each with its place and whether parliament should
    read it as an identity, trust or resource-based policy."""
    found: list[PolicyDocument] = []
    resources = template.get("Resources") if isinstance(template, dict) else None
    for logical_id, resource in (resources or {}).items():
        if not isinstance(resource, dict):
            continue
        kind = str(resource.get("Type", ""))
        properties = resource.get("Properties") or {}

        def add(
            part: str | None,
            document: Any,
            policy_kind: str,
            logical_id: str = logical_id,
            kind: str = kind,
        ) -> None:
            label = f"{file}#{logical_id}" + (f"/{part}" if part else "")
            found.append(PolicyDocument(label, file, logical_id, kind, policy_kind, document))

        if kind in ("AWS::IAM::Role", "AWS::Serverless::Function") and isinstance(
            properties.get("AssumeRolePolicyDocument"), dict
        ):
            add("AssumeRolePolicyDocument", properties["AssumeRolePolicyDocument"], TRUST)
        if kind in (
            "AWS::IAM::Role",
            "AWS::IAM::User",
            "AWS::IAM::Group",
            "AWS::Serverless::Function",
            "AWS::Serverless::StateMachine",
        ):
            for part, document in _inline_policies(resource, logical_id):
                add(part, document, IDENTITY)
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and "PolicyDocument" in (
            properties
        ):
            add(None, properties["PolicyDocument"], IDENTITY)
        prop = RESOURCE_POLICY_PROPERTIES.get(kind)
        if prop and prop in properties:
            document = properties[prop]
            if kind == "AWS::Events::EventBusPolicy":
                document = {"Version": "2012-10-17", "Statement": [document]}
            add(None, document, RESOURCE)
    return found


def _owner_arn(document: PolicyDocument, renderer: Renderer) -> str | None:
    """The ARN a policy without a Resource element governs: the role a trust policy guards, the
    key of a key policy, the repository of an ECR policy, the topic/queue/bucket of theirs."""
    properties = renderer.resources[document.resource].get("Properties") or {}
    if document.kind == TRUST or document.resource_kind in (
        "AWS::KMS::Key",
        "AWS::KMS::ReplicaKey",
        "AWS::ECR::Repository",
    ):
        return renderer._resource_arn(document.resource)
    target: Any = None
    if document.resource_kind == "AWS::S3::BucketPolicy":
        bucket = renderer.render(properties.get("Bucket"))
        target = f"arn:{PARTITION}:s3:::{bucket}" if isinstance(bucket, str) else None
    elif document.resource_kind == "AWS::SNS::TopicPolicy":
        target = (renderer.render(properties.get("Topics")) or [None])[0]
    elif document.resource_kind == "AWS::SQS::QueuePolicy":
        url = (renderer.render(properties.get("Queues")) or [None])[0]
        if isinstance(url, str):
            target = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{url.rsplit('/', 1)[-1]}"
    return target if isinstance(target, str) else None


def _with_implicit_resource(rendered: Any, owner: str | None, resource_kind: str) -> Any:
    """Spell out the Resource that a trust or resource-based policy implies.

    parliament reads every statement as an identity-policy statement: it calls one without a
    Resource MALFORMED (trust policies and ECR repository policies have none) and reports
    `Resource: "*"` in a KMS key policy as RESOURCE_STAR, where "*" means "this key". Putting
    the owner's ARN there is what AWS evaluates, and lets parliament check the actions against
    the resource type and the condition keys against the actions.
    """
    if owner is None or not isinstance(rendered, dict):
        return rendered
    statements = rendered.get("Statement")
    single = isinstance(statements, dict)
    out = []
    for statement in [statements] if single else statements or []:
        implied = isinstance(statement, dict) and (
            ("Resource" not in statement and "NotResource" not in statement)
            # In a key policy, "*" means this key.
            or (
                resource_kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
                and statement.get("Resource") in ("*", ["*"])
            )
        )
        if implied and isinstance(statement, dict):
            statement = {**statement, "Resource": owner}
        out.append(statement)
    return {**rendered, "Statement": out[0] if single else out}


def render_policies(template: Any, file: str) -> tuple[list[PolicyDocument], set[str]]:
    """`policy_documents` with each document rendered (`rendered`) and, for trust and
    resource-based policies, the implied Resource spelled out (`for_parliament`); also what the
    renderer had to guess."""
    renderer = Renderer(template if isinstance(template, dict) else {})
    documents = policy_documents(template, file)
    for document in documents:
        rendered = renderer.render(document.document)
        if isinstance(rendered, str):  # ECR and others accept the document as a JSON string
            with contextlib.suppress(ValueError):
                rendered = json.loads(rendered)
        document.rendered = rendered
        document.for_parliament = rendered
        if document.kind in (TRUST, RESOURCE):
            owner = _owner_arn(document, renderer)
            document.for_parliament = _with_implicit_resource(
                rendered, owner, document.resource_kind
            )
    return documents, renderer.guesses
