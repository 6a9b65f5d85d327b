"""The Service Catalog portfolio: products, launch roles, TagOptions, template constraints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import __version__, build, limits, service_catalog, writer
from generator.assembly.stack import pascal
from generator.components.iam import role_path, wildcard_only_actions
from generator.errors import AssemblyError, PipegenError
from generator.lint.cache import CACHE_ROOT, LintCache
from generator.lint.gate import LintJob, lint_one
from generator.output_cache import OutputCache, RenderedSet
from generator.rendering import render
from generator.service_catalog import parse_template

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))
OUTPUT = REPO / "output"
LOCATION = {
    "TemplateBucketName": "acme-templates",
    "TemplateKeyPrefix": "pipegen/",
    "TemplateBucketRegion": "eu-west-1",
}


@pytest.fixture(scope="module")
def rendered() -> tuple[list[Any], list[RenderedSet]]:
    sets, _ = build.render_all(SPECS, "yaml", OutputCache(CACHE_ROOT / "output"))
    return [item.spec for item in build.load_all(SPECS)], sets


@pytest.fixture(scope="module")
def catalog(rendered: tuple[list[Any], list[RenderedSet]]) -> RenderedSet:
    return service_catalog.catalog_set(*rendered, "yaml")


@pytest.fixture(scope="module")
def portfolio(catalog: RenderedSet) -> dict[str, Any]:
    return parse_template("portfolio.yaml", catalog.files["portfolio.yaml"])


@pytest.fixture(scope="module")
def products(catalog: RenderedSet) -> dict[str, Any]:
    """Every product stack's resources and outputs, merged."""
    merged: dict[str, Any] = {"Resources": {}, "Outputs": {}}
    for relative, data in catalog.files.items():
        if relative.startswith("stacks/"):
            template = parse_template(relative, data)
            merged["Resources"].update(template["Resources"])
            merged["Outputs"].update(template["Outputs"])
    return merged


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def policy_statements(products: dict[str, Any], pipeline: str) -> list[dict[str, Any]]:
    """Every statement of the managed policies attached to the pipeline's launch role."""
    role = f"{pascal(pipeline)}LaunchRole"
    return [
        statement
        for policy in of_type(products, "AWS::IAM::ManagedPolicy").values()
        if policy["Properties"]["Roles"] == [{"Ref": role}]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def text(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) else str(value)


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in s["Action"]}


def substituted(template: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: LOCATION.get(m.group(1), m.group(0)), template)


# -- the portfolio ------------------------------------------------------------------------------


def test_portfolio_nests_its_product_stacks_under_its_own_version(
    catalog: RenderedSet, portfolio: dict[str, Any]
) -> None:
    assert set(of_type(portfolio, "AWS::ServiceCatalog::Portfolio")) == {"Portfolio"}
    version = service_catalog.catalog_version(catalog.files)
    assert re.fullmatch(rf"{re.escape(__version__)}-[0-9a-f]{{10}}", version)
    stacks = of_type(portfolio, "AWS::CloudFormation::Stack")
    children = sorted(r for r in catalog.files if r.startswith("stacks/"))
    assert len(stacks) == len(children) >= 1
    for stack, relative in zip(stacks.values(), children, strict=True):
        assert text(stack["Properties"]["TemplateURL"]).endswith(
            f"${{TemplateKeyPrefix}}service-catalog/{version}/{relative}"
        )
        assert stack["Properties"]["Parameters"]["PortfolioId"] == {"Ref": "Portfolio"}


def test_principal_association_takes_the_principal_arn_as_a_parameter(
    portfolio: dict[str, Any],
) -> None:
    (association,) = of_type(portfolio, "AWS::ServiceCatalog::PortfolioPrincipalAssociation")
    props = portfolio["Resources"][association]["Properties"]
    assert props == {
        "PortfolioId": {"Ref": "Portfolio"},
        "PrincipalARN": {"Ref": "PrincipalArn"},
        "PrincipalType": "IAM",
    }
    pattern = portfolio["Parameters"]["PrincipalArn"]["AllowedPattern"]
    assert re.match(pattern, "arn:aws:iam::123456789012:role/developers")
    assert not re.match(pattern, "arn:aws:iam::123456789012:root")


def test_one_product_per_spec_loads_its_published_root(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    _, sets = rendered
    found = of_type(products, "AWS::ServiceCatalog::CloudFormationProduct")
    assert sorted(p["Properties"]["Name"] for p in found.values()) == sorted(
        s.pipeline for s in sets
    )
    for rendered_set in sets:
        logical = pascal(rendered_set.pipeline)
        product = found[f"{logical}Product"]["Properties"]
        (artifact,) = product["ProvisioningArtifactParameters"]
        version = service_catalog.set_version(rendered_set.files)
        assert artifact["Name"] == version
        assert text(artifact["Info"]["LoadTemplateFromURL"]) == (
            "https://${TemplateBucketName}.s3.${TemplateBucketRegion}.${AWS::URLSuffix}/"
            f"${{TemplateKeyPrefix}}{rendered_set.pipeline}/{version}/root.yaml"
        )
        association = products["Resources"][f"{logical}PortfolioAssociation"]["Properties"]
        assert association == {
            "PortfolioId": {"Ref": "PortfolioId"},
            "ProductId": {"Ref": f"{logical}Product"},
        }


def test_a_version_is_the_generator_version_and_a_hash_of_every_file(
    rendered: tuple[list[Any], list[RenderedSet]],
) -> None:
    files = dict(rendered[1][0].files)
    version = service_catalog.set_version(files)
    assert version.startswith(f"{__version__}-") and len(version) == len(__version__) + 11
    assert service_catalog.set_version(dict(reversed(list(files.items())))) == version
    for relative in (next(iter(files)), next(r for r in files if r.startswith("app/"))):
        changed = {**files, relative: files[relative] + b"\n"}
        assert service_catalog.set_version(changed) != version, relative


def test_tag_options_are_the_specs_tags_on_the_portfolio(
    rendered: tuple[list[Any], list[RenderedSet]], portfolio: dict[str, Any]
) -> None:
    specs, _ = rendered
    options = of_type(portfolio, "AWS::ServiceCatalog::TagOption")
    pairs = {(o["Properties"]["Key"], o["Properties"]["Value"]) for o in options.values()}
    assert pairs == {(k, v) for spec in specs for k, v in spec.tags.items()}
    assert {("CostCenter", "4410"), ("Team", "orders")} <= pairs
    associations = of_type(portfolio, "AWS::ServiceCatalog::TagOptionAssociation")
    assert sorted(a["Properties"]["TagOptionId"]["Ref"] for a in associations.values()) == sorted(
        options
    )
    assert all(a["Properties"]["ResourceId"] == {"Ref": "Portfolio"} for a in associations.values())


# -- launch roles -------------------------------------------------------------------------------


def test_each_product_launches_with_its_own_role(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    for rendered_set in rendered[1]:
        logical = pascal(rendered_set.pipeline)
        role = products["Resources"][f"{logical}LaunchRole"]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["servicecatalog.amazonaws.com"]},
                "Action": ["sts:AssumeRole"],
            }
        ]
        # Outside every pipeline's role path: it can create and change only those roles,
        # never itself.
        assert role["Path"] == "/pipegen/service-catalog/"
        assert not role["Path"].startswith(role_path(rendered_set.pipeline))
        assert "ManagedPolicyArns" not in role and "Policies" not in role
        constraint = products["Resources"][f"{logical}LaunchConstraint"]
        assert constraint["Properties"]["RoleArn"] == {
            "Fn::GetAtt": [f"{logical}LaunchRole", "Arn"]
        }
        assert constraint["Properties"]["ProductId"] == {"Ref": f"{logical}Product"}
        assert f"{logical}PortfolioAssociation" in constraint["DependsOn"]
        assert policy_statements(products, rendered_set.pipeline)


def test_launch_roles_have_no_wildcard_actions_and_star_only_where_aws_allows_nothing_else(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    allowed = {a.lower() for a in wildcard_only_actions()}
    for rendered_set in rendered[1]:
        pipeline = rendered_set.pipeline
        for statement in policy_statements(products, pipeline):
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action and "?" not in action, (pipeline, action)
            resources = [text(r) for r in statement["Resource"]]
            if resources == ["*"]:
                assert {a.lower() for a in statement["Action"]} <= allowed, statement
                continue
            assert "*" not in resources
            for resource in resources:
                # Scoped to the pipeline's names, to the stacks Service Catalog names for a
                # provisioned product, or (where AWS names things by id) to the account.
                assert (
                    pipeline in resource
                    or "pp-*" in resource
                    or resource.endswith((":key/*", ":connection/*", ":cluster/*"))
                    or resource.endswith(":deploymentconfig:CodeDeployDefault*")  # AWS's own
                    or "${TemplateKeyPrefix}" in resource
                    or resource.endswith("-stackset-admin")
                    # action types are named by their provider, once per account and region
                    or resource.endswith(":actiontype:Custom/*")
                    # AppConfig and FIS name their resources by generated ids
                    or resource.endswith(
                        (":application/*", ":deploymentstrategy/*", ":experiment-template/*")
                    )
                    or resource.endswith(":fis:${AWS::Region}:${AWS::AccountId}:action/*")
                    or (resource == "arn:${AWS::Partition}:s3:::*/*" and "Condition" in statement)
                ), (pipeline, resource)


def test_pass_role_only_for_the_products_roles_and_named_services(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    for rendered_set in rendered[1]:
        pipeline = rendered_set.pipeline
        statements = policy_statements(products, pipeline)
        passing = [s for s in statements if "iam:PassRole" in s["Action"]]
        assert len(passing) == 1
        (statement,) = passing
        assert statement["Action"] == ["iam:PassRole"]
        roles = [text(r) for r in statement["Resource"]]
        assert (
            roles[0]
            == f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/pipegen/{pipeline}/*"
        )
        assert all("*" not in role for role in roles[1:]), "others only by name"
        services = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        assert "codepipeline.amazonaws.com" in services
        assert "codebuild.amazonaws.com" in services
        assert "events.amazonaws.com" not in services, "no rule target takes a role"


def test_launch_role_follows_the_products_resource_types(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    for rendered_set in rendered[1]:
        templates = service_catalog.product_templates(rendered_set.pipeline, rendered_set.files)
        types = set(templates.types())
        actions = actions_of(policy_statements(products, rendered_set.pipeline))
        for resource_type, marker in (
            ("AWS::ECR::Repository", "ecr:CreateRepository"),
            ("AWS::Lambda::Function", "lambda:CreateFunction"),
            ("AWS::CodeDeploy::DeploymentGroup", "codedeploy:CreateDeploymentGroup"),
            ("AWS::CodeDeploy::DeploymentConfig", "codedeploy:CreateDeploymentConfig"),
            ("AWS::CloudWatch::Alarm", "cloudwatch:PutMetricAlarm"),
            ("AWS::CloudFormation::StackSet", "cloudformation:UpdateStackSet"),
            ("Custom::CodeDeployBlueGreenGroup", "lambda:InvokeFunction"),
            ("AWS::CodePipeline::Pipeline", "codepipeline:CreatePipeline"),
            ("AWS::IAM::Role", "iam:CreateRole"),
        ):
            assert (marker in actions) == (resource_type in types), (
                rendered_set.pipeline,
                resource_type,
            )
        # Reading the nested templates, and the copy Service Catalog keeps of the root.
        assert {"s3:GetObject", "cloudformation:CreateStack"} <= actions
        assert not any(a.startswith(("ec2:", "rds:", "dynamodb:")) for a in actions)


def test_every_action_is_one_cloudformation_needs_for_its_type() -> None:
    """Each action of the table is in its type's handler permissions (the resource provider
    schema), or the entry says why it is needed beyond them."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    for resource_type, entry in service_catalog.permission_table().items():
        if resource_type.startswith("Custom::"):
            assert "lambda:InvokeFunction" in entry.beyond_handlers
            continue
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
        handlers = schema.get("handlers")
        if not handlers:  # a type without a provider schema's handler lists (CodeBuild)
            continue
        # IAM action names are case-insensitive (CloudTrail's handlers spell "CloudTrail:").
        known = {a.lower() for h in handlers.values() for a in h.get("permissions", [])}
        for _, grant in entry.grants:
            for action in grant.actions:
                assert action.lower() in known or action in entry.beyond_handlers, (
                    resource_type,
                    action,
                )


def test_unknown_resource_type_is_refused_with_the_table_to_extend() -> None:
    root = {"Resources": {"Box": {"Type": "AWS::EC2::Instance", "Properties": {}}}}
    product = service_catalog.ProductTemplates("shop", {"root.yaml": root})
    with pytest.raises(AssemblyError, match=re.escape("launch_role_permissions.yaml")):
        service_catalog.launch_policy(product)


def test_a_stack_set_admin_role_is_passed_by_name_to_cloudformation() -> None:
    admin = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/shop-stackset-admin"
    root = {
        "Resources": {
            "Stores": {
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": "shop-stores",
                    "AdministrationRoleARN": {"Fn::Sub": admin},
                },
            }
        }
    }
    policy = service_catalog.launch_policy(
        service_catalog.ProductTemplates("shop", {"root.yaml": root})
    )
    (passing,) = [s for s in policy.scoped if s["Sid"] == "PassRoles"]
    assert [text(r) for r in passing["Resource"]][1:] == [admin]
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "cloudformation.amazonaws.com"
    ]


def test_a_role_outside_the_pipeline_path_is_refused(
    rendered: tuple[list[Any], list[RenderedSet]],
) -> None:
    specs, sets = rendered
    files = dict(sets[0].files)
    root = parse_template("root.yaml", files["root.yaml"])
    root["Resources"]["Stray"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {}, "Path": "/"},
    }
    files["root.yaml"] = render(root, "yaml").encode()
    spec = next(s for s in specs if s.name == sets[0].pipeline)
    stray = RenderedSet(sets[0].pipeline, sets[0].regions, files, sets[0].local_root)
    with pytest.raises(AssemblyError, match=re.escape("root.yaml#Stray")):
        service_catalog.catalog_set([spec], [stray], "yaml")


# -- template constraints -----------------------------------------------------------------------


def rules_of(products: dict[str, Any], pipeline: str) -> dict[str, Any]:
    constraint = products["Resources"][f"{pascal(pipeline)}TemplateConstraint"]
    return json.loads(substituted(text(constraint["Properties"]["Rules"])))


def test_template_constraint_holds_the_region_and_the_published_templates(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any]
) -> None:
    specs, sets = rendered
    for rendered_set in sets:
        spec = next(s for s in specs if s.name == rendered_set.pipeline)
        rules = rules_of(products, rendered_set.pipeline)
        (region,) = rules["PipelineRegion"]["Assertions"]
        assert region["Assert"] == {"Fn::Contains": [[spec.region], {"Ref": "AWS::Region"}]}
        version = service_catalog.set_version(rendered_set.files)
        expected = {
            **LOCATION,
            "TemplateKeyPrefix": f"pipegen/{rendered_set.pipeline}/{version}/",
        }
        asserted = {
            a["Assert"]["Fn::Equals"][0]["Ref"]: a["Assert"]["Fn::Equals"][1]
            for a in rules["PublishedTemplates"]["Assertions"]
        }
        assert asserted == expected
        assert all(a["AssertDescription"] for r in rules.values() for a in r["Assertions"])


def test_template_constraint_rules_are_valid_rules_of_the_root(
    rendered: tuple[list[Any], list[RenderedSet]], products: dict[str, Any], tmp_path: Path
) -> None:
    """cfn-lint checks the rules as the root's own Rules section: functions, and that every
    Ref names a parameter of the root or a pseudo parameter."""
    for rendered_set in rendered[1]:
        root = parse_template("root.yaml", rendered_set.files["root.yaml"])
        root["Rules"] = rules_of(products, rendered_set.pipeline)
        path = tmp_path / f"{rendered_set.pipeline}.yaml"
        path.write_text(render(root, "yaml"))
        job = LintJob(path, path.name, rendered_set.regions)
        assert lint_one(job) == [], rendered_set.pipeline


# -- the catalog as a whole ----------------------------------------------------------------------


def test_catalog_passes_the_lint_gate(catalog: RenderedSet, tmp_path: Path) -> None:
    """cfn-lint and the guardrail rules, with the parent/child contract (E3043) on the local
    copy of the portfolio, exactly as the build lints a pipeline."""
    writer.write_tree(tmp_path / catalog.pipeline, catalog.files)
    findings, stats = build.lint_staged(
        tmp_path, [catalog], "yaml", cache=LintCache(CACHE_ROOT / "lint"), workers=1
    )
    assert findings == []
    assert stats.templates == len(catalog.files) + 1


def test_roots_are_ready_for_the_console(
    rendered: tuple[list[Any], list[RenderedSet]], portfolio: dict[str, Any]
) -> None:
    """Every parameter has a label, a group, a description, constraints and a constraint
    description; every output says what it is."""
    roots = {s.pipeline: parse_template("root.yaml", s.files["root.yaml"]) for s in rendered[1]}
    for name, root in {**roots, "portfolio": portfolio}.items():
        interface = root["Metadata"]["AWS::CloudFormation::Interface"]
        grouped = {p for g in interface["ParameterGroups"] for p in g["Parameters"]}
        for parameter, spec in root["Parameters"].items():
            where = f"{name}.{parameter}"
            assert interface["ParameterLabels"][parameter]["default"], where
            assert parameter in grouped, where
            assert spec.get("Description"), where
            assert {"AllowedPattern", "AllowedValues"} & set(spec), where
            assert spec.get("ConstraintDescription"), where
        assert all(output.get("Description") for output in root["Outputs"].values()), name


def test_products_split_into_stacks_and_each_stack_stays_within_limits(
    rendered: tuple[list[Any], list[RenderedSet]],
    catalog: RenderedSet,
    products: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    specs, sets = rendered
    # A full stack of the largest product stays below CloudFormation's 500 resources and 1 MB.
    count = len(sets)
    size = sum(len(d) for r, d in catalog.files.items() if r.startswith("stacks/"))
    per_product = {
        s.pipeline: [k for k in products["Resources"] if k.startswith(pascal(s.pipeline))]
        for s in sets
    }
    assert max(len(v) for v in per_product.values()) * service_catalog.PRODUCTS_PER_STACK < 500
    assert size / count * 1.5 * service_catalog.PRODUCTS_PER_STACK < limits.CHILD_BODY_BYTES
    assert limits.check_rendered(catalog.pipeline, catalog.files) == []
    # Past PRODUCTS_PER_STACK products, another stack; the portfolio names every product.
    monkeypatch.setattr(service_catalog, "PRODUCTS_PER_STACK", 2)
    split = service_catalog.catalog_set(specs, sets, "yaml")
    children = sorted(r for r in split.files if r.startswith("stacks/"))
    assert len(children) == (count + 1) // 2
    portfolio = parse_template("portfolio.yaml", split.files["portfolio.yaml"])
    assert len(of_type(portfolio, "AWS::CloudFormation::Stack")) == len(children)
    assert len(portfolio["Outputs"]) == count + 1
    named = {
        output["Value"]["Fn::GetAtt"][0]
        for name, output in portfolio["Outputs"].items()
        if name != "PortfolioId"
    }
    assert named == set(of_type(portfolio, "AWS::CloudFormation::Stack"))


def test_a_pipeline_named_like_the_catalog_folder_is_refused(
    rendered: tuple[list[Any], list[RenderedSet]],
) -> None:
    specs, sets = rendered
    spec = specs[0].model_copy(update={"name": service_catalog.FOLDER})
    with pytest.raises(PipegenError, match="reserved"):
        service_catalog.catalog_set([spec], [sets[0]], "yaml")


def test_catalog_is_deterministic_and_reads_back(
    rendered: tuple[list[Any], list[RenderedSet]], catalog: RenderedSet
) -> None:
    assert service_catalog.catalog_set(*rendered, "yaml").files == catalog.files
    for relative, data in catalog.files.items():
        assert render(parse_template(relative, data), "yaml").encode() == data
    assert yaml.safe_load(catalog.local_root.replace(b"!", b"")) is not None


def test_catalog_in_json(rendered: tuple[list[Any], list[RenderedSet]]) -> None:
    specs, _ = rendered
    web_app = [REPO / "pipelines" / "web-app.yaml"]
    sets, _ = build.render_all(web_app, "json", OutputCache(CACHE_ROOT / "output"))
    catalog = service_catalog.catalog_set(specs, sets, "json")
    assert sorted(catalog.files) == ["portfolio.json", "stacks/products-01.json"]
    products = json.loads(catalog.files["stacks/products-01.json"])
    url = products["Resources"]["WebAppProduct"]["Properties"]["ProvisioningArtifactParameters"]
    assert url[0]["Info"]["LoadTemplateFromURL"]["Fn::Sub"].endswith("/root.json")


def test_committed_catalog_matches_a_fresh_build(catalog: RenderedSet) -> None:
    on_disk = {
        p.relative_to(OUTPUT / catalog.pipeline).as_posix(): p.read_bytes()
        for p in sorted((OUTPUT / catalog.pipeline).rglob("*"))
        if p.is_file()
    }
    assert on_disk == catalog.files, "output/service-catalog is stale: make templates"
