"""Self-wiring child stacks and the assembler's contract check.

The contract check is tested by mutation: build the real web-app TemplateSet, break one
contract at a time, and expect exactly the problem that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from troposphere import GetAtt, Parameter, Ref, Sub, s3, sns

from generator.assembly.assemble import (
    TEMPLATE_LOCATION,
    RootOutput,
    TemplateSet,
    assemble,
    check_contracts,
)
from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.errors import AssemblyError
from generator.spec.loader import load_spec

REPO = Path(__file__).resolve().parent.parent
WEB_APP = REPO / "pipelines" / "web-app.yaml"
TAGS = {"pipegen:pipeline": "web-app", "pipegen:blueprint": "web-app"}

COLOUR = RootParameter(
    name="Colour",
    description="A colour",
    label="Colour",
    group="Look",
    default="blue",
    allowed_values=("blue", "green"),
)


# -- ChildStack.use ------------------------------------------------------------------------


class TestChildStack:
    def test_use_declares_the_parameter_once_and_records_its_source(self):
        stack = ChildStack("consumer", "uses things")
        first = stack.use(COLOUR)
        second = stack.use(COLOUR)
        assert first.to_dict() == {"Ref": "Colour"}
        assert second.to_dict() == {"Ref": "Colour"}
        parameters = stack.template.to_dict()["Parameters"]
        assert list(parameters) == ["Colour"]
        assert parameters["Colour"] == {"Type": "String", "Description": "A colour"}
        assert stack.inputs == {"Colour": COLOUR}

    def test_use_of_another_stacks_export_records_that_stack(self):
        producer = ChildStack("producer", "makes things")
        consumer = ChildStack("consumer", "uses things")
        handle = producer.export("ThingArn", GetAtt("Thing", "Arn"), "ARN of the thing")
        assert consumer.use(handle).to_dict() == {"Ref": "ThingArn"}
        assert consumer.inputs["ThingArn"] == handle
        assert consumer.inputs["ThingArn"].stack == "producer"
        declared = consumer.template.to_dict()["Parameters"]["ThingArn"]
        assert declared == {"Type": "String", "Description": "ARN of the thing"}
        assert producer.template.to_dict()["Outputs"]["ThingArn"]["Value"] == {
            "Fn::GetAtt": ["Thing", "Arn"]
        }

    def test_root_parameter_type_carries_over(self):
        stack = ChildStack("consumer", "uses things")
        stack.use(RootParameter("Count", "How many", "Count", "Sizes", type="Number"))
        assert stack.template.to_dict()["Parameters"]["Count"]["Type"] == "Number"

    def test_own_export_is_used_locally_without_a_parameter(self):
        stack = ChildStack("producer", "makes things")
        local = GetAtt("Thing", "Arn")
        handle = stack.export("ThingArn", local, "ARN of the thing")
        assert stack.use(handle) is local
        assert stack.inputs == {}
        assert "Parameters" not in stack.template.to_dict()

    def test_two_sources_for_one_parameter_are_refused(self):
        stack = ChildStack("consumer", "uses things")
        stack.use(Exported("a", "Thing", Ref("A"), "from a"))
        with pytest.raises(AssemblyError) as caught:
            stack.use(Exported("b", "Thing", Ref("B"), "from b"))
        assert str(caught.value) == (
            "stack consumer: parameter Thing would be fed by two different values"
        )

    def test_a_resource_defined_twice_is_refused(self):
        stack = ChildStack("store", "buckets")
        stack.add(s3.Bucket("Bucket"))
        with pytest.raises(AssemblyError) as caught:
            stack.add(s3.Bucket("Bucket"))
        assert str(caught.value) == "stack store: resource Bucket is defined twice"

    def test_names(self):
        stack = ChildStack("build-projects", "projects", "json")
        assert stack.logical_id == "BuildProjectsStack"
        assert stack.file_name == "build-projects.json"


# -- assemble ------------------------------------------------------------------------------


def two_children() -> tuple[ChildStack, ChildStack, Exported]:
    producer = ChildStack("producer", "makes topics")
    topic = producer.add(sns.Topic("Topic"))
    handle = producer.export("TopicArn", Ref(topic), "The topic")
    consumer = ChildStack("consumer", "uses the topic")
    consumer.add(sns.Topic("Other", DisplayName=Sub("${Arn}", Arn=consumer.use(handle))))
    consumer.use(COLOUR)
    return producer, consumer, handle


class TestAssemble:
    def test_wires_child_outputs_and_root_parameters(self):
        producer, consumer, handle = two_children()
        result = assemble(
            pipeline="demo",
            description="demo root",
            children=[producer, consumer],
            outputs=[RootOutput("TopicArn", handle, "The topic")],
            tags={"pipegen:pipeline": "demo"},
            regions=["us-east-1"],
        )
        root = result.root.to_dict()
        nested = root["Resources"]["ConsumerStack"]
        assert nested["Type"] == "AWS::CloudFormation::Stack"
        assert nested["Properties"]["Parameters"] == {
            "Colour": {"Ref": "Colour"},
            "TopicArn": {"Fn::GetAtt": ["ProducerStack", "Outputs.TopicArn"]},
        }
        assert "Parameters" not in root["Resources"]["ProducerStack"]["Properties"]
        assert root["Outputs"]["TopicArn"]["Value"] == {
            "Fn::GetAtt": ["ProducerStack", "Outputs.TopicArn"]
        }
        url = nested["Properties"]["TemplateURL"]["Fn::Sub"]
        assert url.endswith("${TemplateKeyPrefix}stacks/consumer.yaml")
        assert check_contracts(result) == []

    def test_root_declares_used_and_template_location_parameters(self):
        producer, consumer, _ = two_children()
        result = assemble(
            pipeline="demo",
            description="demo root",
            children=[producer, consumer],
            outputs=[],
            tags={},
            regions=["us-east-1"],
        )
        root = result.root.to_dict()
        names = list(root["Parameters"])
        assert names == ["Colour", *[p.name for p in TEMPLATE_LOCATION]]
        assert root["Parameters"]["Colour"]["AllowedValues"] == ["blue", "green"]
        assert root["Parameters"]["Colour"]["Default"] == "blue"
        interface = root["Metadata"]["AWS::CloudFormation::Interface"]
        assert interface["ParameterGroups"][0] == {
            "Label": {"default": "Look"},
            "Parameters": ["Colour"],
        }
        assert interface["ParameterLabels"]["Colour"] == {"default": "Colour"}

    def test_conflicting_root_parameters_are_refused(self):
        one = ChildStack("one", "first")
        one.add(sns.Topic("A"))
        one.use(COLOUR)
        two = ChildStack("two", "second")
        two.add(sns.Topic("B"))
        two.use(RootParameter("Colour", "A colour", "Colour", "Look", default="red"))
        with pytest.raises(AssemblyError) as caught:
            assemble(
                pipeline="demo",
                description="demo",
                children=[one, two],
                outputs=[],
                tags={},
                regions=[],
            )
        assert str(caught.value) == "root parameter Colour is declared twice, differently"

    def test_tags_reach_children_and_nested_stacks(self):
        producer, consumer, _ = two_children()
        result = assemble(
            pipeline="demo",
            description="demo",
            children=[producer, consumer],
            outputs=[],
            tags={"pipegen:pipeline": "demo", "Team": "core"},
            regions=[],
        )
        topic = producer.template.to_dict()["Resources"]["Topic"]["Properties"]
        assert {"Key": "pipegen:pipeline", "Value": "demo"} in topic["Tags"]
        assert {"Key": "Team", "Value": "core"} in topic["Tags"]
        nested = result.root.to_dict()["Resources"]["ProducerStack"]["Properties"]
        assert {"Key": "pipegen:pipeline", "Value": "demo"} in nested["Tags"]

    def test_export_of_a_missing_stack_is_an_assembly_error(self):
        _, consumer, _ = two_children()
        with pytest.raises(AssemblyError):
            assemble(
                pipeline="demo",
                description="demo",
                children=[consumer],
                outputs=[],
                tags={},
                regions=[],
            )


# -- check_contracts by mutation on the real web-app set ----------------------------------


@pytest.fixture
def web_app() -> TemplateSet:
    loaded: Any = load_spec(WEB_APP)
    # load_spec returns a LoadedSpec (older versions: a (blueprint, spec) tuple).
    blueprint, spec = (loaded.blueprint, loaded.spec) if hasattr(loaded, "spec") else loaded
    return blueprint.build(spec, "yaml")


def child(template_set: TemplateSet, logical_id: str) -> ChildStack:
    (found,) = [c for c in template_set.children if c.logical_id == logical_id]
    return found


def nested_parameters(template_set: TemplateSet, logical_id: str) -> dict[str, Any]:
    """The live Parameters dict of a nested Stack resource in the root, created if absent."""
    params: dict[str, Any] = template_set.root.resources[logical_id].properties.setdefault(
        "Parameters", {}
    )
    return params


class TestContracts:
    def test_the_real_set_holds(self, web_app: TemplateSet):
        assert check_contracts(web_app) == []
        assert [c.logical_id for c in web_app.children] == [
            "ArtifactStoreStack",
            "NotificationsStack",
            "IamStack",
            "BuildProjectsStack",
            "DeployTargetsStack",
            "PipelineStack",
            "MonitoringStack",
            "AuditStack",  # web-app's audit: block (the trail and its bucket)
        ]

    def test_required_parameter_not_passed(self, web_app: TemplateSet):
        del nested_parameters(web_app, "PipelineStack")["PipelineRoleArn"]
        assert check_contracts(web_app) == [
            "PipelineStack: required parameter PipelineRoleArn is not passed"
        ]

    def test_parameter_with_default_may_be_omitted(self, web_app: TemplateSet):
        pipeline = child(web_app, "PipelineStack").template
        pipeline.parameters["PipelineRoleArn"].Default = "arn:aws:iam::123456789012:role/x"
        del nested_parameters(web_app, "PipelineStack")["PipelineRoleArn"]
        assert check_contracts(web_app) == []

    def test_extra_parameter_passed(self, web_app: TemplateSet):
        nested_parameters(web_app, "IamStack")["Surplus"] = "value"
        assert check_contracts(web_app) == [
            "IamStack: passes Surplus, which the child does not declare"
        ]

    def test_get_att_to_a_missing_output(self, web_app: TemplateSet):
        del child(web_app, "IamStack").template.outputs["PipelineRoleArn"]
        assert check_contracts(web_app) == ["PipelineStack: IamStack has no output PipelineRoleArn"]

    def test_get_att_to_a_misspelt_output(self, web_app: TemplateSet):
        nested_parameters(web_app, "PipelineStack")["PipelineRoleArn"] = GetAtt(
            "IamStack", "Outputs.PipelineRole"
        )
        assert check_contracts(web_app) == ["PipelineStack: IamStack has no output PipelineRole"]

    def test_get_att_to_no_child(self, web_app: TemplateSet):
        nested_parameters(web_app, "PipelineStack")["PipelineRoleArn"] = GetAtt(
            "RolesStack", "Outputs.PipelineRoleArn"
        )
        assert check_contracts(web_app) == [
            "PipelineStack: takes RolesStack.Outputs.PipelineRoleArn from no child"
        ]

    def test_root_output_to_a_missing_output(self, web_app: TemplateSet):
        del child(web_app, "PipelineStack").template.outputs["PipelineName"]
        assert check_contracts(web_app) == [
            "root output refers to PipelineStack.Outputs.PipelineName, which is missing"
        ]

    def test_cycle_between_children(self, web_app: TemplateSet):
        # The artifact store now takes the pipeline's name, and the pipeline takes the store's
        # bucket: a cycle, with both parameters properly declared and passed.
        store = child(web_app, "ArtifactStoreStack").template
        store.add_parameter(Parameter("PipelineName", Type="String"))
        nested_parameters(web_app, "ArtifactStoreStack")["PipelineName"] = GetAtt(
            "PipelineStack", "Outputs.PipelineName"
        )
        assert check_contracts(web_app) == [
            "children depend on each other in a cycle: "
            "ArtifactStoreStack -> PipelineStack -> ArtifactStoreStack"
        ]

    def test_stack_without_a_child_template(self, web_app: TemplateSet):
        web_app.children = [c for c in web_app.children if c.logical_id != "DeployTargetsStack"]
        problems = check_contracts(web_app)
        assert problems[0] == "DeployTargetsStack: no child template"
        assert "PipelineStack: takes DeployTargetsStack.Outputs.ApplicationName from no child" in (
            problems
        )

    def test_child_missing_from_the_root(self, web_app: TemplateSet):
        del web_app.root.resources["PipelineStack"]
        assert check_contracts(web_app) != []

    def test_assemble_reports_a_broken_contract(self, web_app: TemplateSet):
        # Rebuild a set from the real children after breaking one: assemble() must refuse it.
        broken = child(web_app, "PipelineStack")
        broken.template.add_parameter(Parameter("Unwired", Type="String"))
        with pytest.raises(AssemblyError) as caught:
            assemble(
                pipeline="web-app",
                description="rebuilt",
                children=web_app.children,
                outputs=[],
                tags={},
                regions=["us-east-1"],
            )
        assert str(caught.value) == (
            "stack contract broken:\n  PipelineStack: required parameter Unwired is not passed"
        )


# -- tags ----------------------------------------------------------------------------------


def taggable(template_set: TemplateSet) -> list[tuple[str, str, str, Any]]:
    """(child, logical id, type, rendered resource) for every resource that takes Tags."""
    found = []
    for stack in template_set.children:
        rendered = stack.template.to_dict()["Resources"]
        for logical_id, resource in stack.template.resources.items():
            if "Tags" in resource.props:
                found.append((stack.name, logical_id, resource.resource_type, rendered[logical_id]))
    return found


def tag_map(rendered: dict[str, Any]) -> dict[str, str]:
    tags = rendered.get("Properties", {}).get("Tags", [])
    if isinstance(tags, dict):
        return dict(tags)
    return {t["Key"]: t["Value"] for t in tags}


def test_every_taggable_resource_carries_the_pipegen_tags(web_app: TemplateSet):
    resources = taggable(web_app)
    assert len(resources) > 20
    kinds = {r[2] for r in resources}
    assert {
        "AWS::S3::Bucket",
        "AWS::CodeBuild::Project",
        "AWS::CodePipeline::Pipeline",
        "AWS::IAM::Role",  # troposphere types these two with a validator, not the Tags class
        "AWS::KMS::Key",
    } <= kinds
    for stack, logical_id, _, rendered in resources:
        tags = tag_map(rendered)
        for key, value in TAGS.items():
            assert tags.get(key) == value, f"{stack}/{logical_id} lacks {key}"
        assert tags.get("Team") == "storefront", f"{stack}/{logical_id} lacks the spec's tags"


def test_nested_stacks_carry_the_pipegen_tags(web_app: TemplateSet):
    for logical_id, resource in web_app.root.to_dict()["Resources"].items():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            tags = tag_map(resource)
            for key, value in TAGS.items():
                assert tags.get(key) == value, logical_id
