"""The Service Catalog portfolio: every pipeline as a self-service product with guardrails.

`catalog_set(specs, sets, template_format)` turns the rendered pipelines into the files of
output/service-catalog/, as a `RenderedSet` that the build stages, lints and swaps in like a
pipeline's:

  portfolio.<ext>           the portfolio, its principal association, TagOptions (the specs'
                            tags) and one nested stack per PRODUCTS_PER_STACK products
  stacks/products-NN.<ext>  per product: the CloudFormationProduct, whose one version loads the
                            published root template; its portfolio association; its launch role
                            and LaunchRoleConstraint; its LaunchTemplateConstraint

Pure: specs and rendered bytes in, bytes out.

Published layout (generator/publish.py uploads it; the product URLs here point into it):
  <prefix><pipeline>/<version>/...          one template set, never overwritten
  <prefix>service-catalog/<version>/...     this portfolio
where <version> is the generator version plus a short hash of the files (`set_version`). The
root templates take `TemplateBucketName`, `TemplateKeyPrefix` and `TemplateBucketRegion`; for a
published set they are the bucket, `<prefix><pipeline>/<version>/` and the bucket's region,
and the product's template constraint holds the launcher to exactly those values.

The launch role of a product may create exactly the resource types of that product's root and
nested stacks: generator/data/launch_role_permissions.yaml maps each type to its actions and
to ARN patterns scoped to the pipeline's names. Roles live under `/pipegen/<pipeline>/`, so
the launch role creates, changes and passes only those (iam:PassRole with
iam:PassedToService); the launch roles themselves live under `/pipegen/service-catalog/`,
beyond their own reach.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Tags, Template
from troposphere import iam as iam_resources
from troposphere.cloudformation import Stack
from troposphere.servicecatalog import (
    CloudFormationProduct,
    Info,
    LaunchRoleConstraint,
    LaunchTemplateConstraint,
    Portfolio,
    PortfolioPrincipalAssociation,
    PortfolioProductAssociation,
    ProvisioningArtifactProperties,
    TagOption,
    TagOptionAssociation,
)

from generator import __version__, limits
from generator.assembly.assemble import TEMPLATE_BUCKET, TEMPLATE_PREFIX, TEMPLATE_REGION
from generator.assembly.stack import RootParameter, pascal
from generator.components.iam import (
    POLICY_VERSION,
    managed_policy_documents,
    role_path,
    self_update_role_path,
    wildcard_only_actions,
)
from generator.errors import AssemblyError, PipegenError
from generator.output_cache import RenderedSet
from generator.rendering import render
from generator.spec.model import PipelineSpec

FOLDER = "service-catalog"  # output/<FOLDER>/, and <prefix><FOLDER>/<version>/ when published
PORTFOLIO = "portfolio"
PRODUCTS_PER_STACK = 25  # 6 to 8 resources and ~20-30 KB each: far below 500 resources and 1 MB
VERSION_HASH_CHARS = 10
LOCATION_PARAMETERS = (TEMPLATE_BUCKET.name, TEMPLATE_PREFIX.name, TEMPLATE_REGION.name)
# How Service Catalog names the stack of a provisioned product: SC-<account>-pp-<id>. Its nested
# stacks, and every name CloudFormation generates in them, begin with it.
PROVISIONED = "SC-${AWS::AccountId}-pp-"
SERVICE_CATALOG_TAG = "s3:ExistingObjectTag/servicecatalog:provisioning"
CATALOG_GROUP = "Portfolio"
# Two resources each (the TagOption and its association), in the portfolio template beside a few
# others and one stack per PRODUCTS_PER_STACK products: within CloudFormation's 500 resources.
TAG_OPTION_LIMIT = 200


# -- reading rendered templates --------------------------------------------------------------


def parse_template(relative: str, data: bytes) -> dict[str, Any]:
    """A rendered template (YAML or JSON, by its name) as the dict it was rendered from."""
    document = limits.parse(relative, data)
    if not document:
        raise AssemblyError(f"{relative} is not a template")
    return document


def root_name(files: Mapping[str, bytes]) -> str:
    return "root.json" if "root.json" in files else "root.yaml"


def nested_files(root: Mapping[str, Any]) -> list[str]:
    """The files the root nests (`stacks/...`), from its AWS::CloudFormation::Stack URLs."""
    found = []
    for resource in root.get("Resources", {}).values():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        url = resource.get("Properties", {}).get("TemplateURL")
        text = url.get("Fn::Sub") if isinstance(url, dict) else url
        if isinstance(text, str) and "stacks/" in text:
            found.append("stacks/" + text.rsplit("stacks/", 1)[1])
    return sorted(set(found))


# -- versions --------------------------------------------------------------------------------


def content_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over every path and its bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        digest.update(f"{path}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def set_version(files: Mapping[str, bytes]) -> str:
    """The version a published set goes under: generator version plus a short content hash,
    e.g. 0.2.0-1a2b3c4d5e. Same files, same version; any changed byte, another version."""
    return f"{__version__}-{content_hash(files)[:VERSION_HASH_CHARS]}"


def published_folder(name: str, version: str) -> str:
    """Where a set goes, relative to the publish prefix."""
    return f"{name}/{version}/"


def template_url(key: str) -> Sub:
    """The S3 URL of `key` under the template location parameters."""
    return Sub(
        "https://${TemplateBucketName}.s3.${TemplateBucketRegion}.${AWS::URLSuffix}/"
        "${TemplateKeyPrefix}" + key
    )


# -- launch roles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: str = ""  # canonical JSON of the Condition block, "" for none


@dataclass(frozen=True)
class TypePermissions:
    grants: tuple[tuple[str | None, Grant], ...]  # (when-property path, grant)
    passes_role: tuple[tuple[str, str], ...]  # (property path, service)
    beyond_handlers: str = ""


@cache
def permission_table() -> dict[str, TypePermissions]:
    """generator/data/launch_role_permissions.yaml, read once."""
    text = resources.files("generator.data").joinpath("launch_role_permissions.yaml").read_text()
    table: dict[str, TypePermissions] = {}
    for resource_type, entry in yaml.safe_load(text).items():
        grants = []
        for item in entry.get("grants", []):
            condition = item.get("condition")
            grant = Grant(
                tuple(item["actions"]),
                tuple(item["resources"]),
                json.dumps(condition, sort_keys=True) if condition else "",
            )
            grants.append((item.get("when"), grant))
        table[resource_type] = TypePermissions(
            tuple(grants),
            tuple(sorted((entry.get("passes_role") or {}).items())),
            entry.get("beyond_handlers", ""),
        )
    return table


def _fill(text: str, pipeline: str) -> str:
    return (
        text.replace("{pipeline}", pipeline)
        .replace("{provisioned_lower}", PROVISIONED.replace("SC-", "sc-"))
        .replace("{provisioned}", PROVISIONED)
    )


def _values_at(node: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value at a dotted path; `*` steps into each entry of a list."""
    if not path:
        yield node
        return
    step, rest = path[0], path[1:]
    if step == "*":
        if isinstance(node, list):
            for item in node:
                yield from _values_at(item, rest)
    elif isinstance(node, dict) and step in node:
        yield from _values_at(node[step], rest)


@dataclass
class ProductTemplates:
    """What a product deploys: its root and the stacks the root nests, parsed."""

    pipeline: str
    templates: dict[str, dict[str, Any]]  # relative path -> template

    def resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(file, logical id, resource) of every resource."""
        for relative, template in sorted(self.templates.items()):
            for logical_id, resource in template.get("Resources", {}).items():
                yield relative, logical_id, resource

    def types(self) -> list[str]:
        return sorted({resource["Type"] for _, _, resource in self.resources()})

    def sets(self, resource_type: str, path: str) -> bool:
        return any(
            True
            for _, _, resource in self.resources()
            if resource["Type"] == resource_type
            for _ in _values_at(resource.get("Properties", {}), path.split("."))
        )

    def values(self, resource_type: str, path: str) -> list[Any]:
        return [
            value
            for _, _, resource in self.resources()
            if resource["Type"] == resource_type
            for value in _values_at(resource.get("Properties", {}), path.split("."))
        ]


def product_templates(pipeline: str, files: Mapping[str, bytes]) -> ProductTemplates:
    root_file = root_name(files)
    root = parse_template(root_file, files[root_file])
    templates = {root_file: root}
    for relative in nested_files(root):
        if relative not in files:
            raise AssemblyError(f"{pipeline}/{root_file} nests {relative}, which is not rendered")
        templates[relative] = parse_template(relative, files[relative])
    return ProductTemplates(pipeline, templates)


@dataclass(frozen=True)
class LaunchPolicy:
    """The launch role's statements: scoped ones, and those that must name Resource '*'."""

    scoped: list[dict[str, Any]]
    wildcard_only: list[dict[str, Any]]


def _literal_role_arns(values: Sequence[Any], pipeline: str) -> list[str]:
    """Role ARNs written into the templates (a string or a Sub without variables other than
    pseudo parameters) outside the pipeline's role path: passed by name."""
    found = []
    for value in values:
        text = value.get("Fn::Sub") if isinstance(value, dict) and len(value) == 1 else value
        if not isinstance(text, str) or ":role/" not in text:
            continue
        names = [part.split("}", 1)[0] for part in text.split("${")[1:]]
        if any(not name.startswith("AWS::") for name in names):
            continue
        if f":role{role_path(pipeline)}" not in text:
            found.append(text)
    return found


def _self_update_role(product: ProductTemplates) -> list[tuple[str | None, Grant]]:
    """The role a self-updating pipeline updates its stack with lives outside the pipeline's
    path (so that it cannot change itself); the launch role creates it too, and only it."""
    path = self_update_role_path(product.pipeline)
    if not any(
        resource["Type"] == "AWS::IAM::Role" and resource.get("Properties", {}).get("Path") == path
        for _, _, resource in product.resources()
    ):
        return []
    actions = tuple(
        f"iam:{a}"
        for a in (
            "CreateRole",
            "DeleteRole",
            "GetRole",
            "UpdateRole",
            "UpdateRoleDescription",
            "UpdateAssumeRolePolicy",
            "TagRole",
            "UntagRole",
            "ListRolePolicies",
            "ListAttachedRolePolicies",
            "AttachRolePolicy",
            "DetachRolePolicy",
        )
    )
    arn = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}*"
    return [("SelfUpdateRole", Grant(actions, (arn,)))]


def launch_policy(product: ProductTemplates) -> LaunchPolicy:
    """What the launch role of `product` may do, derived from its resource types."""
    pipeline = product.pipeline
    table = permission_table()
    unknown = [t for t in product.types() if t not in table]
    if unknown:
        raise AssemblyError(
            f"{pipeline}: no launch-role permissions for {', '.join(unknown)}; add them to "
            "generator/data/launch_role_permissions.yaml"
        )
    bucket = "arn:${AWS::Partition}:s3:::${TemplateBucketName}/${TemplateKeyPrefix}"
    bucket_objects = f"{bucket}{pipeline}/*"
    grants: list[tuple[str | None, Grant]] = [  # (Sid, grant); None: named by its service
        # Service Catalog reads the product template and validates it before it creates the
        # stack: both calls name a template, not a stack (wildcard_only_actions.yaml).
        (
            None,
            Grant(("cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate"), ("*",)),
        ),
        *_self_update_role(product),
        # The nested stacks' templates, read by CloudFormation with the launch role.
        ("PublishedTemplates", Grant(("s3:GetObject",), (bucket_objects,))),
        # The copy of the root template Service Catalog keeps in a bucket of its own; AWS
        # documents this statement with Resource "*": objects, tagged by Service Catalog.
        (
            "ServiceCatalogCopy",
            Grant(
                ("s3:GetObject",),
                ("arn:${AWS::Partition}:s3:::*/*",),
                json.dumps({"StringEquals": {SERVICE_CATALOG_TAG: "true"}}, sort_keys=True),
            ),
        ),
    ]
    passed_to: set[str] = set()
    extra_roles: list[str] = []
    # The root stack itself is an AWS::CloudFormation::Stack Service Catalog creates.
    for resource_type in sorted({"AWS::CloudFormation::Stack", *product.types()}):
        entry = table[resource_type]
        for when, grant in entry.grants:
            if when is None or product.sets(resource_type, when):
                grants.append((None, grant))
        for path, service in entry.passes_role:
            values = product.values(resource_type, path)
            if values:
                passed_to.add(service)
                extra_roles += _literal_role_arns(values, pipeline)
    statements: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for sid, grant in grants:
        resources_ = tuple(_fill(r, pipeline) for r in grant.resources)
        condition = _fill(grant.condition, pipeline)
        key = (resources_, condition)
        statement = statements.setdefault(
            key, {"Sid": sid or "", "Effect": "Allow", "Action": [], "Resource": list(resources_)}
        )
        statement["Action"] += [a for a in grant.actions if a not in statement["Action"]]
        if condition:
            statement["Condition"] = json.loads(condition)
    if passed_to:
        roles = [
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{role_path(pipeline)}*",
            *sorted(set(extra_roles)),
        ]
        statements[((), "PassRole")] = {
            "Sid": "PassRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": sorted(passed_to)}},
        }
    scoped: list[dict[str, Any]] = []
    wildcard_only: list[dict[str, Any]] = []
    used_sids: dict[str, int] = {}
    for statement in statements.values():
        statement["Action"] = sorted(statement["Action"], key=str.lower)
        if statement["Resource"] == ["*"]:
            statement["Sid"] = "ActionsWithoutResourceTypes"
        elif not statement["Sid"]:
            statement["Sid"] = pascal(statement["Action"][0].split(":", 1)[0])
        count = used_sids[statement["Sid"]] = used_sids.get(statement["Sid"], 0) + 1
        if count > 1:
            statement["Sid"] = f"{statement['Sid']}{count}"
        check_statement(pipeline, statement)
        target = wildcard_only if statement["Resource"] == ["*"] else scoped
        target.append(_substituted(statement))
    return LaunchPolicy(scoped, wildcard_only)


def _substituted(node: Any) -> Any:
    """Strings with ${...} inside a Fn::Sub, everywhere in a statement."""
    if isinstance(node, str):
        return {"Fn::Sub": node} if "${" in node else node
    if isinstance(node, list):
        return [_substituted(item) for item in node]
    if isinstance(node, dict):
        return {key: _substituted(value) for key, value in node.items()}
    return node


def check_statement(pipeline: str, statement: Mapping[str, Any]) -> None:
    """The house rules of generator/components/iam.py, for the launch role."""
    where = f"{pipeline} launch role, {statement['Sid']}"
    actions = list(statement["Action"])
    for action in actions:
        if "*" in action or "?" in action:
            raise AssemblyError(f"{where}: wildcard action {action}")
    if statement["Resource"] == ["*"]:
        allowed = {a.lower() for a in wildcard_only_actions()}
        unknown = [a for a in actions if a.lower() not in allowed]
        if unknown:
            raise AssemblyError(
                f"{where}: Resource '*' for {', '.join(unknown)}, which accept narrower "
                "resources (generator/data/wildcard_only_actions.yaml)"
            )
    elif "*" in statement["Resource"]:
        raise AssemblyError(f"{where}: mixes '*' with ARNs")
    if "iam:passrole" in {a.lower() for a in actions}:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        if "iam:PassedToService" not in condition:
            raise AssemblyError(f"{where}: iam:PassRole needs an iam:PassedToService condition")


# -- template constraints --------------------------------------------------------------------


def template_rules(
    pipeline: str, region: str, version: str, root_parameters: Sequence[str]
) -> dict[str, Any]:
    """The product's template constraint: where it may be launched, and from which templates.

    The region is the one the spec fixes (its pipeline region; environments elsewhere are
    reached from there). The template location must be the published set this version names,
    so a launcher cannot point the nested stacks at other templates. `${...}` are the
    portfolio's own parameters (the rules are a Fn::Sub)."""
    rules: dict[str, Any] = {
        "PipelineRegion": {
            "Assertions": [
                {
                    "Assert": {"Fn::Contains": [[region], {"Ref": "AWS::Region"}]},
                    "AssertDescription": f"{pipeline} is built for {region}: launch it in "
                    f"{region}.",
                }
            ]
        }
    }
    folder = published_folder(pipeline, version)
    expected = {
        TEMPLATE_BUCKET.name: ("${TemplateBucketName}", "Template bucket"),
        TEMPLATE_PREFIX.name: ("${TemplateKeyPrefix}" + folder, "Template key prefix"),
        TEMPLATE_REGION.name: ("${TemplateBucketRegion}", "Template bucket region"),
    }
    assertions = [
        {
            "Assert": {"Fn::Equals": [{"Ref": name}, value]},
            "AssertDescription": f"{label} must be {value}, where version {version} of "
            f"{pipeline} is published.",
        }
        for name, (value, label) in expected.items()
        if name in root_parameters
    ]
    if assertions:
        rules["PublishedTemplates"] = {"Assertions": assertions}
    return rules


# -- the portfolio ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    pipeline: str
    version: str
    region: str
    description: str
    tags: dict[str, str]
    root_file: str
    root_parameters: tuple[str, ...]
    policy: LaunchPolicy = field(compare=False)

    @property
    def logical(self) -> str:
        return pascal(self.pipeline)


def product_of(spec: PipelineSpec[Any], rendered: RenderedSet) -> Product:
    product = product_templates(rendered.pipeline, rendered.files)
    root = product.templates[root_name(rendered.files)]
    roles = [
        (relative, logical_id)
        for relative, logical_id, resource in product.resources()
        if resource["Type"] == "AWS::IAM::Role"
        and resource.get("Properties", {}).get("Path")
        not in (role_path(rendered.pipeline), self_update_role_path(rendered.pipeline))
    ]
    if roles:
        listed = ", ".join(f"{relative}#{logical_id}" for relative, logical_id in roles)
        raise AssemblyError(
            f"{rendered.pipeline}: roles outside {role_path(rendered.pipeline)} ({listed}); "
            "the launch role creates and passes only roles under the pipeline's path"
        )
    return Product(
        pipeline=rendered.pipeline,
        version=set_version(rendered.files),
        region=spec.region,
        description=spec.description or str(root.get("Description", "")),
        tags=dict(sorted(spec.tags.items())),
        root_file=root_name(rendered.files),
        root_parameters=tuple(root.get("Parameters", {})),
        policy=launch_policy(product),
    )


CATALOG_LOCATION_GROUP = "Published templates"


def _parameter(param: RootParameter, description: str) -> RootParameter:
    return replace(param, description=description, group=CATALOG_LOCATION_GROUP)


CATALOG_PARAMETERS = (
    RootParameter(
        name="PortfolioName",
        description="Name of the portfolio, as end users see it in Service Catalog.",
        label="Portfolio name",
        group=CATALOG_GROUP,
        default="Delivery pipelines",
        allowed_pattern=r"^[\w .,:/()+-]{1,100}$",
        min_length=1,
        max_length=100,
        constraint_description="1-100 letters, digits, spaces and . , : / ( ) + - _",
    ),
    RootParameter(
        name="ProviderName",
        description="Who provides the products (the portfolio's provider and the products' owner).",
        label="Provider",
        group=CATALOG_GROUP,
        default="Platform team",
        allowed_pattern=r"^[\w .,:/()+@-]{1,50}$",
        min_length=1,
        max_length=50,
        constraint_description="1-50 letters, digits, spaces and . , : / ( ) + - _ @",
    ),
    RootParameter(
        name="PrincipalArn",
        description="ARN of the IAM role, user or group whose members may launch the pipelines "
        "(for example the role developers sign in with).",
        label="End users (IAM principal ARN)",
        group=CATALOG_GROUP,
        allowed_pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user|group)/[\w+=,.@/-]{1,512}$",
        min_length=20,
        max_length=1600,
        constraint_description="An IAM role, user or group ARN: arn:aws:iam::ACCOUNT:role/NAME.",
    ),
    _parameter(
        TEMPLATE_BUCKET,
        "S3 bucket that `pipegen publish` uploaded the templates to.",
    ),
    _parameter(
        TEMPLATE_PREFIX,
        "The --prefix of `pipegen publish` (empty, or ending in /); each product loads "
        "<prefix><pipeline>/<version>/ from the bucket.",
    ),
    _parameter(TEMPLATE_REGION, "Region of the template bucket."),
)


def _interface(parameters: Sequence[RootParameter]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for param in parameters:
        groups.setdefault(param.group, []).append(param.name)
    return {
        "AWS::CloudFormation::Interface": {
            "ParameterGroups": [
                {"Label": {"default": label}, "Parameters": names}
                for label, names in groups.items()
            ],
            "ParameterLabels": {p.name: {"default": p.label} for p in parameters},
        }
    }


def _products_stack(products: Sequence[Product]) -> Template:
    """The products of one nested stack, each with its constraints and launch role."""
    template = Template(
        Description="pipegen Service Catalog products: " + ", ".join(p.pipeline for p in products)
    )
    template.set_version()
    for name, description in (
        ("PortfolioId", "The portfolio the products join."),
        ("ProviderName", "Owner of the products."),
        ("TemplateBucketName", "Bucket of the published templates."),
        ("TemplateKeyPrefix", "Key prefix the templates were published under."),
        ("TemplateBucketRegion", "Region of the template bucket."),
    ):
        template.parameters[name] = _child_parameter(name, description)
    for product in products:
        _add_product(template, product)
    return template


def _child_parameter(name: str, description: str) -> Parameter:
    return Parameter(name, Type="String", Description=description)


def _add_product(template: Template, product: Product) -> None:
    logical = product.logical
    folder = published_folder(product.pipeline, product.version)
    pipeline_tags = {
        **product.tags,
        "pipegen:pipeline": product.pipeline,
        "pipegen:version": product.version,
    }
    item = CloudFormationProduct(
        f"{logical}Product",
        Name=product.pipeline,
        Owner=Ref("ProviderName"),
        Distributor="pipegen",
        Description=(product.description or f"The {product.pipeline} pipeline")[:8191],
        SupportDescription=f"Generated by pipegen {__version__} from pipelines/"
        f"{product.pipeline}.yaml; change the spec, not the stack.",
        ProvisioningArtifactParameters=[
            ProvisioningArtifactProperties(
                Name=product.version,
                Description=f"pipegen {__version__}, templates {product.version}: "
                f"{folder} in the template bucket.",
                Info=Info(LoadTemplateFromURL=template_url(f"{folder}{product.root_file}")),
                Type="CLOUD_FORMATION_TEMPLATE",
            )
        ],
        Tags=Tags(**pipeline_tags),
    )
    template.resources[item.title] = item
    association = PortfolioProductAssociation(
        f"{logical}PortfolioAssociation",
        PortfolioId=Ref("PortfolioId"),
        ProductId=Ref(item),
    )
    template.resources[association.title] = association
    role = iam_resources.Role(
        f"{logical}LaunchRole",
        Description=f"Service Catalog launch role of {product.pipeline}: creates its stacks "
        "and nothing else",
        Path=role_path(FOLDER),
        MaxSessionDuration=3600,
        AssumeRolePolicyDocument={
            "Version": POLICY_VERSION,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["servicecatalog.amazonaws.com"]},
                    "Action": ["sts:AssumeRole"],
                }
            ],
        },
        Tags=Tags(**{"pipegen:pipeline": product.pipeline}),
    )
    template.resources[role.title] = role
    policies = []
    documents = managed_policy_documents(
        product.pipeline,
        "launch role",
        f"{logical}Launch",
        product.policy.scoped,
        product.policy.wildcard_only,
    )
    for name, statements in documents:
        policy = iam_resources.ManagedPolicy(
            name,
            Description=f"What the launch role of {product.pipeline} may do "
            + ("(actions that take only Resource '*')" if "Wildcard" in name else "(scoped)"),
            Path=role_path(FOLDER),
            Roles=[Ref(role)],
            PolicyDocument={"Version": POLICY_VERSION, "Statement": statements},
        )
        template.resources[policy.title] = policy
        policies.append(policy.title)
    launch = LaunchRoleConstraint(
        f"{logical}LaunchConstraint",
        Description=f"Launches {product.pipeline} with its own least-privilege role",
        PortfolioId=Ref("PortfolioId"),
        ProductId=Ref(item),
        RoleArn=GetAtt(role, "Arn"),
        DependsOn=[association.title, *policies],
    )
    template.resources[launch.title] = launch
    rules = template_rules(
        product.pipeline, product.region, product.version, product.root_parameters
    )
    constraint = LaunchTemplateConstraint(
        f"{logical}TemplateConstraint",
        Description=f"{product.pipeline}: launch region and published templates",
        PortfolioId=Ref("PortfolioId"),
        ProductId=Ref(item),
        Rules=Sub(json.dumps(rules, sort_keys=True, separators=(",", ":"))),
        DependsOn=[association.title],
    )
    template.resources[constraint.title] = constraint
    template.add_output(
        Output(f"{logical}ProductId", Value=Ref(item), Description=f"Product {product.pipeline}")
    )
    template.add_output(
        Output(
            f"{logical}LaunchRoleArn",
            Value=GetAtt(role, "Arn"),
            Description=f"Launch role of {product.pipeline}",
        )
    )


def tag_options(products: Sequence[Product]) -> list[tuple[str, str]]:
    pairs = sorted({(k, v) for p in products for k, v in p.tags.items()})
    if len(pairs) > TAG_OPTION_LIMIT:
        raise PipegenError(
            f"the specs' tags make {len(pairs)} distinct key/value pairs; the portfolio template "
            f"holds at most {TAG_OPTION_LIMIT} TagOptions: use fewer distinct tag values"
        )
    return pairs


def _portfolio(
    products: Sequence[Product], chunk_files: Sequence[str], catalog_version: str
) -> Template:
    template = Template(
        Description=f"pipegen Service Catalog portfolio: {len(products)} pipeline(s) as "
        "self-service products, each with a least-privilege launch role and template constraint"
    )
    template.set_version()
    for param in CATALOG_PARAMETERS:
        template.add_parameter(param.to_parameter())
    template.set_metadata(_interface(CATALOG_PARAMETERS))
    portfolio = template.add_resource(
        Portfolio(
            "Portfolio",
            DisplayName=Ref("PortfolioName"),
            ProviderName=Ref("ProviderName"),
            Description="Delivery pipelines generated by pipegen; each launches with its own "
            "least-privilege role, in the region its spec names.",
        )
    )
    template.add_resource(
        PortfolioPrincipalAssociation(
            "EndUsers",
            PortfolioId=Ref(portfolio),
            PrincipalARN=Ref("PrincipalArn"),
            PrincipalType="IAM",
        )
    )
    for key, value in tag_options(products):
        digest = hashlib.sha256(f"{key}\0{value}".encode()).hexdigest()[:8]
        name = f"TagOption{pascal(key)[:40]}{digest}"
        option = template.add_resource(TagOption(name, Key=key, Value=value, Active=True))
        template.add_resource(
            TagOptionAssociation(
                f"{name}Association", ResourceId=Ref(portfolio), TagOptionId=Ref(option)
            )
        )
    for index, relative in enumerate(chunk_files, 1):
        template.add_resource(
            Stack(
                f"Products{index:02d}Stack",
                TemplateURL=template_url(f"{published_folder(FOLDER, catalog_version)}{relative}"),
                Parameters={
                    "PortfolioId": Ref(portfolio),
                    "ProviderName": Ref("ProviderName"),
                    "TemplateBucketName": Ref("TemplateBucketName"),
                    "TemplateKeyPrefix": Ref("TemplateKeyPrefix"),
                    "TemplateBucketRegion": Ref("TemplateBucketRegion"),
                },
                DeletionPolicy="Delete",
                UpdateReplacePolicy="Delete",
            )
        )
    template.add_output(Output("PortfolioId", Value=Ref(portfolio), Description="The portfolio"))
    if len(products) < 200:  # CloudFormation's 200 outputs per template
        for index, chunk in enumerate(_chunks(products), 1):
            for product in chunk:
                template.add_output(
                    Output(
                        f"{product.logical}ProductId",
                        Value=GetAtt(
                            f"Products{index:02d}Stack", f"Outputs.{product.logical}ProductId"
                        ),
                        Description=f"Product {product.pipeline}, version {product.version}",
                    )
                )
    return template


def _chunks(products: Sequence[Product]) -> list[list[Product]]:
    return [
        list(products[i : i + PRODUCTS_PER_STACK])
        for i in range(0, len(products), PRODUCTS_PER_STACK)
    ]


PLACEHOLDER_VERSION = "0.0.0-catalog"


def catalog_set(
    specs: Sequence[PipelineSpec[Any]], sets: Sequence[RenderedSet], template_format: str
) -> RenderedSet:
    """output/service-catalog/ for `sets` (every pipeline built), with `specs` their specs.

    The portfolio names its nested stacks by the catalog's own version, a hash that covers the
    portfolio too: it is computed with a placeholder in that place, then filled in."""
    by_name = {spec.name: spec for spec in specs}
    if FOLDER in by_name:
        raise PipegenError(
            f"pipeline name {FOLDER!r} is reserved: output/{FOLDER}/ holds the Service Catalog "
            "portfolio; rename the pipeline"
        )
    missing = [s.pipeline for s in sets if s.pipeline not in by_name]
    if missing:
        raise AssemblyError(f"no spec for rendered pipeline(s) {', '.join(missing)}")
    products = [product_of(by_name[s.pipeline], s) for s in sorted(sets, key=lambda s: s.pipeline)]
    ext = "json" if template_format == "json" else "yaml"
    children: dict[str, bytes] = {}
    for index, chunk in enumerate(_chunks(products), 1):
        children[f"stacks/products-{index:02d}.{ext}"] = render(
            _products_stack(chunk).to_dict(), template_format
        ).encode()
    portfolio_file = f"{PORTFOLIO}.{ext}"
    placeholder = render(
        _portfolio(products, list(children), PLACEHOLDER_VERSION).to_dict(), template_format
    ).encode()
    version = set_version({**children, portfolio_file: placeholder})
    root = _portfolio(products, list(children), version)
    files = {portfolio_file: render(root.to_dict(), template_format).encode(), **children}
    local = root.to_dict()
    for resource in local["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = resource["Properties"]["TemplateURL"]["Fn::Sub"]
            resource["Properties"]["TemplateURL"] = "stacks/" + url.rsplit("stacks/", 1)[1]
    regions = tuple(sorted({p.region for p in products} | {r for s in sets for r in s.regions}))
    return RenderedSet(FOLDER, regions, files, render(local, template_format).encode())


def catalog_version(files: Mapping[str, bytes]) -> str:
    """The version the portfolio in `files` (output/service-catalog/) names for itself."""
    portfolio_file = next(f for f in files if f.startswith(f"{PORTFOLIO}."))
    root = parse_template(portfolio_file, files[portfolio_file])
    for resource in root.get("Resources", {}).values():
        if resource.get("Type") == "AWS::CloudFormation::Stack":
            url = resource["Properties"]["TemplateURL"]["Fn::Sub"]
            return str(url.split(f"{FOLDER}/", 1)[1].split("/", 1)[0])
    raise AssemblyError(f"{FOLDER}/{portfolio_file} nests no product stack")
