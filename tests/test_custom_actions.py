"""Custom actions (generator/components/custom_actions.py): the spec model's messages, the
cross-field checks, the action type, the job worker's role, the pipeline action, and a cfn-lint
run of everything with the guardrail rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.assembly.stack import ChildStack
from generator.components import custom_actions as ca
from generator.components.iam import wildcard_only_actions
from generator.components.pipeline import render_step
from generator.errors import SpecError
from generator.naming import Names
from generator.pipeline_plan import Stage, Step
from generator.spec.loader import SpecLoader, format_loc, validate_model
from generator.spec.model import CustomAction, Environment, PipelineSpec
from tests.component_lint import lint_stacks, pipeline_stack, spec_data

NAMES = Names("demo")
BASE = spec_data("demo", "dev")

# The two examples of the README (Jenkins build, Terraform plan): read as the CLI reads specs.
JENKINS = """
custom_actions:
  - category: Build
    provider: Jenkins
    version: 1
    stage: Build
    settings:
      entity_url_template: https://jenkins.example.com/job/{Config:ProjectName}
      execution_url_template: https://jenkins.example.com/job/{Config:ProjectName}/{ExternalExecutionId}
    configuration_properties:
      - {name: ProjectName, required: true, key: true, queryable: true,
         description: The Jenkins job to run}
    inputs: [Source]
    outputs: [JenkinsOutput]
    input_artifacts: {minimum: 0, maximum: 5}
    output_artifacts: {minimum: 0, maximum: 5}
    configuration: {ProjectName: my-shop-build}
    worker: {assumed_by: ec2}   # the Jenkins CodePipeline plugin polls with the instance profile
"""
TERRAFORM = """
custom_actions:
  - category: Build
    provider: TerraformPlan
    name: Plan
    stage: Plan
    configuration_properties:
      - {name: Workspace, required: true, key: true, queryable: true}
      - {name: Directory, description: Root module in the source}
      - {name: TfToken, required: true, secret: true, description: Terraform Cloud API token}
    inputs: [Source]
    outputs: [TerraformPlan]
    configuration: {Workspace: prod, Directory: infra}
    secrets:
      TfToken: {secret: terraform/cloud, json_key: token}
    namespace: PlanVariables
    worker:
      assumed_by: ecs-task
      command: >-
        TF_TOKEN_app_terraform_io="$PIPEGEN_CONFIG_TFTOKEN"
        terraform -chdir="$PIPEGEN_CONFIG_DIRECTORY" init -input=false &&
        terraform -chdir="$PIPEGEN_CONFIG_DIRECTORY" plan -input=false
        -out="$PIPEGEN_OUTPUT_DIR/tfplan"
"""


def spec_of(**fields: Any) -> PipelineSpec[Environment]:
    return PipelineSpec[Environment].model_validate({**BASE, **fields})


def snippet(text: str) -> PipelineSpec[Environment]:
    return spec_of(**yaml.load(text, Loader=SpecLoader))


def action(**fields: Any) -> CustomAction:
    return CustomAction.model_validate({"category": "Build", "provider": "Tool", **fields})


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as error:
        validate_model(PipelineSpec[Environment], {**BASE, **data}, "spec.yaml", {})
    return [(p.field, p.message) for p in error.value.problems]


def issues(*actions: dict[str, Any]) -> list[tuple[str, str]]:
    spec = spec_of(custom_actions=list(actions))
    return [(format_loc(i.loc), i.message) for i in ca.check_custom_actions(spec)]


def tool(**fields: Any) -> dict[str, Any]:
    return {"category": "Build", "provider": "Tool", **fields}


def prop(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


# -- the spec model --------------------------------------------------------------------------


class TestModel:
    @pytest.mark.parametrize("text", [JENKINS, TERRAFORM], ids=["jenkins", "terraform"])
    def test_readme_examples_are_accepted(self, text: str) -> None:
        spec = snippet(text)
        assert len(spec.custom_actions) == 1
        assert list(ca.check_custom_actions(spec)) == []

    def test_defaults(self) -> None:
        a = action()
        assert a.version == "1"
        assert a.stage == "Test"
        assert a.register_type is True
        assert a.worker.assumed_by == "ec2"
        assert a.input_counts().model_dump() == {"minimum": 0, "maximum": 0}
        assert spec_of().custom_actions == []

    def test_a_numeric_version_is_text(self) -> None:
        assert action(version=2).version == "2"

    def test_artifact_counts_default_to_the_listed_artifacts(self) -> None:
        a = action(inputs=["Source", "BuildOutput"], outputs=["Out"])
        assert a.input_counts().model_dump() == {"minimum": 2, "maximum": 2}
        assert a.output_counts().model_dump() == {"minimum": 1, "maximum": 1}

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (
                tool(category="Compute"),
                [
                    (
                        "custom_actions[0].category",
                        "'Compute' is not one of Source, Build, Test, Deploy, Invoke, Approval",
                    )
                ],
            ),
            (
                tool(provider="Jenkins CI", version="1.0"),
                [
                    (
                        "custom_actions[0].provider",
                        "'Jenkins CI' is not a valid provider: use 1-35 letters, digits, '_' "
                        "and '-' (CodePipeline)",
                    ),
                    (
                        "custom_actions[0].version",
                        "'1.0' is not a valid version: use 1-9 letters, digits, '_' and '-' "
                        "(CodePipeline)",
                    ),
                ],
            ),
            (
                tool(provider="P" * 36),
                [
                    (
                        "custom_actions[0].provider",
                        f"'{'P' * 36}' is not a valid provider: use 1-35 letters, digits, '_' "
                        "and '-' (CodePipeline)",
                    )
                ],
            ),
            (
                tool(version="1234567890"),
                [
                    (
                        "custom_actions[0].version",
                        "'1234567890' is not a valid version: use 1-9 letters, digits, '_' and "
                        "'-' (CodePipeline)",
                    )
                ],
            ),
            (
                tool(configuration_properties=[prop(f"P{i}") for i in range(11)]),
                [
                    (
                        "custom_actions[0].configuration_properties",
                        "has 11 items; at most 10 are allowed",
                    )
                ],
            ),
            (
                tool(configuration_properties=[prop("x" * 51, type="Integer")]),
                [
                    (
                        "custom_actions[0].configuration_properties[0].name",
                        "is 51 characters long; at most 50 are allowed",
                    ),
                    (
                        "custom_actions[0].configuration_properties[0].type",
                        "'Integer' is not one of String, Number, Boolean",
                    ),
                ],
            ),
            (
                tool(configuration_properties=[prop("P", description="d" * 161)]),
                [
                    (
                        "custom_actions[0].configuration_properties[0].description",
                        "is 161 characters long; at most 160 are allowed",
                    )
                ],
            ),
            (
                tool(input_artifacts={"minimum": -1, "maximum": 6}),
                [
                    (
                        "custom_actions[0].input_artifacts.maximum",
                        "6 is out of range; use a value at most 5",
                    ),
                    (
                        "custom_actions[0].input_artifacts.minimum",
                        "-1 is out of range; use a value at least 0",
                    ),
                ],
            ),
            (
                tool(settings={"entity_url_template": "ftp://jenkins/{Config:P}"}),
                [
                    (
                        "custom_actions[0].settings.entity_url_template",
                        "'ftp://jenkins/{Config:P}' is not an http(s):// URL",
                    )
                ],
            ),
            (
                tool(configuration={"A": [1, 2], "B": {"secret": "x"}}),
                [
                    (
                        "custom_actions[0].configuration.A",
                        "expected text, a number or true/false, got list [1, 2]; give the "
                        "values of secret properties under secrets",
                    ),
                    (
                        "custom_actions[0].configuration.B",
                        "expected text, a number or true/false, got dict {'secret': 'x'}; give "
                        "the values of secret properties under secrets",
                    ),
                ],
            ),
            (
                tool(
                    secrets={
                        "T": {"secret": "has space"},
                        "U": "plaintext",
                        "V": {"secret": "ok", "json_key": "a:b"},
                    }
                ),
                [
                    (
                        "custom_actions[0].secrets.T.secret",
                        "'has space' is not a valid Secrets Manager secret: give the secret's "
                        "name (letters, digits and /_+=.@-) or its ARN",
                    ),
                    ("custom_actions[0].secrets.U", "expected a mapping, got str 'plaintext'"),
                    (
                        "custom_actions[0].secrets.V.json_key",
                        "'a:b' is not a valid JSON key: use 1-256 characters other than : { }",
                    ),
                ],
            ),
            (
                tool(inputs=["bad name"], name="a b", namespace="x y"),
                [
                    (
                        "custom_actions[0].inputs[0]",
                        "'bad name' is not a valid artifact name: use 1-100 letters, digits, _ "
                        "and -",
                    ),
                    (
                        "custom_actions[0].name",
                        "'a b' is not a valid action name: use 1-100 letters, digits and . @ _ -",
                    ),
                    (
                        "custom_actions[0].namespace",
                        "'x y' is not a valid namespace: use 1-100 letters, digits and @ _ -",
                    ),
                ],
            ),
            (
                tool(
                    worker={
                        "assumed_by": "lambda",
                        "principal_arn": "arn:aws:iam::123456789012:root",
                    }
                ),
                [
                    (
                        "custom_actions[0].worker.assumed_by",
                        "'lambda' is not one of ec2, ecs-task, role",
                    ),
                    (
                        "custom_actions[0].worker.principal_arn",
                        "'arn:aws:iam::123456789012:root' is not a valid role ARN: write it like "
                        "arn:aws:iam::123456789012:role/jenkins",
                    ),
                ],
            ),
            (
                {"category": "Build", "providr": "Tool"},
                [
                    ("custom_actions[0].provider", "missing required field 'provider'; add it"),
                    (
                        "custom_actions[0].providr",
                        "unknown field 'providr'; did you mean 'provider'?",
                    ),
                ],
            ),
        ],
        ids=[
            "category",
            "provider-and-version-pattern",
            "provider-length",
            "version-length",
            "ten-properties",
            "property-name-and-type",
            "property-description",
            "artifact-counts",
            "settings-url",
            "configuration-values",
            "secret-references",
            "names",
            "worker",
            "unknown-field",
        ],
    )
    def test_bad_fields_name_the_field(
        self, data: dict[str, Any], expected: list[tuple[str, str]]
    ) -> None:
        assert problems({"custom_actions": [data]}) == expected


# -- cross-field checks ------------------------------------------------------------------------


QUERYABLE = prop("Project", required=True, queryable=True)


class TestChecks:
    @pytest.mark.parametrize(
        ("actions", "expected"),
        [
            (
                [tool(), tool(category="Test", name="Other"), tool(name="Again")],
                [
                    (
                        "custom_actions[2].provider",
                        "action type Custom/Build/Tool/1 is already declared at "
                        "custom_actions[0]; declare each category, provider and version once",
                    )
                ],
            ),
            (
                [tool(provider="my-tool"), tool(provider="my_tool")],
                [
                    (
                        "custom_actions[1].provider",
                        "Custom/Build/my_tool/1 and Custom/Build/my-tool/1 (custom_actions[0]) "
                        "differ only in '_' and '-', so their resources would have the same "
                        "names; rename one provider or version",
                    ),
                ],
            ),
            (
                [tool(name="Check"), tool(category="Test", name="Check")],
                [
                    (
                        "custom_actions[1].name",
                        "stage Test already has an action named Check (custom_actions[0]); "
                        "action names are unique within a stage: set name",
                    )
                ],
            ),
            (
                [tool(name="Check"), tool(category="Test", name="Check", stage="Verify")],
                [],
            ),
        ],
        ids=["same-type", "same-logical-ids", "same-action-name", "same-name-other-stage"],
    )
    def test_across_actions(
        self, actions: list[dict[str, Any]], expected: list[tuple[str, str]]
    ) -> None:
        assert issues(*actions) == expected

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (
                tool(configuration_properties=[prop("A"), prop("A")]),
                [
                    (
                        "custom_actions[0].configuration_properties[1].name",
                        "property 'A' is already declared at configuration_properties[0]",
                    )
                ],
            ),
            (
                tool(configuration_properties=[prop("Project-Name"), prop("project_name")]),
                [
                    (
                        "custom_actions[0].configuration_properties[1].name",
                        "'project_name' and 'Project-Name' both become PIPEGEN_CONFIG_PROJECT_NAME "
                        "for the job worker; rename one",
                    )
                ],
            ),
            (
                tool(
                    configuration_properties=[QUERYABLE, prop("Other", queryable=True)],
                    configuration={"Project": "p1"},
                ),
                [
                    (
                        "custom_actions[0].configuration_properties[1].queryable",
                        "an action type has at most one queryable property, and "
                        "configuration_properties[0] is one already",
                    ),
                    (
                        "custom_actions[0].configuration_properties[1].queryable",
                        "a queryable property must be required and not secret (CodePipeline); "
                        "set required: true and secret: false",
                    ),
                ],
            ),
            (
                tool(
                    configuration_properties=[
                        prop("Project", required=True, secret=True, queryable=True)
                    ],
                    secrets={"Project": {"secret": "s"}},
                ),
                [
                    (
                        "custom_actions[0].configuration_properties[0].queryable",
                        "a queryable property must be required and not secret (CodePipeline); "
                        "set required: true and secret: false",
                    )
                ],
            ),
            (
                tool(input_artifacts={"minimum": 3, "maximum": 1}),
                [
                    (
                        "custom_actions[0].input_artifacts.minimum",
                        "minimum 3 is more than maximum 1",
                    )
                ],
            ),
            (
                tool(inputs=["Source"], output_artifacts={"minimum": 1, "maximum": 2}),
                [
                    (
                        "custom_actions[0].outputs",
                        "0 output artifact(s) listed, but the action type takes 1 to 2 "
                        "(output_artifacts); list that many or change output_artifacts",
                    )
                ],
            ),
            (
                tool(
                    inputs=["Source", "Source"],
                    outputs=["Source"],
                    input_artifacts={"maximum": 5},
                    output_artifacts={"maximum": 5},
                ),
                [
                    (
                        "custom_actions[0].inputs[1]",
                        "artifact 'Source' is already listed at inputs[0]; list it once",
                    ),
                    (
                        "custom_actions[0].outputs[0]",
                        "'Source' is also an input; an action cannot write the artifact it reads",
                    ),
                ],
            ),
            (
                tool(category="Source", inputs=["Source"], outputs=["Out"]),
                [
                    (
                        "custom_actions[0].inputs",
                        "a Source action takes no input artifacts; remove inputs and set "
                        "input_artifacts maximum to 0",
                    )
                ],
            ),
            (
                tool(category="Source", outputs=["Out"], input_artifacts={"maximum": 1}),
                [
                    (
                        "custom_actions[0].input_artifacts",
                        "a Source action takes no input artifacts; remove inputs and set "
                        "input_artifacts maximum to 0",
                    )
                ],
            ),
            (
                tool(
                    configuration_properties=[prop("Project"), prop("Token", secret=True)],
                    settings={
                        "entity_url_template": "https://ci.example.com/{Config:Projekt}",
                        "execution_url_template": "https://ci.example.com/{Config:Token}",
                        "revision_url_template": "https://ci.example.com/{Config:Zzz}",
                    },
                ),
                [
                    (
                        "custom_actions[0].settings.entity_url_template",
                        "{Config:Projekt} names no configuration property; did you mean 'Project'?",
                    ),
                    (
                        "custom_actions[0].settings.execution_url_template",
                        "{Config:Token} would show the secret property Token in the console; "
                        "link with a property that is not secret",
                    ),
                    (
                        "custom_actions[0].settings.revision_url_template",
                        "{Config:Zzz} names no configuration property (declared: Project, Token)",
                    ),
                ],
            ),
            (
                tool(
                    configuration_properties=[
                        prop("Project", required=True),
                        prop("Token", required=True, secret=True),
                        prop("Plain"),
                    ],
                    configuration={"Projekt": "x", "Token": "hunter2"},
                    secrets={"Plain": {"secret": "s"}},
                ),
                [
                    (
                        "custom_actions[0].configuration.Projekt",
                        "'Projekt' is not a configuration property of this action; did you mean "
                        "'Project'?",
                    ),
                    (
                        "custom_actions[0].configuration.Token",
                        "Token is a secret property: give it under secrets as a Secrets Manager "
                        "reference ({secret: NAME, json_key: KEY}), never as a literal value",
                    ),
                    (
                        "custom_actions[0].secrets.Plain",
                        "Plain is not a secret property, so CodePipeline would show its value; "
                        "set secret: true on the property, or give a plain value under "
                        "configuration",
                    ),
                    (
                        "custom_actions[0].configuration",
                        "the required property Project has no value; add it under configuration",
                    ),
                ],
            ),
            (
                tool(
                    configuration_properties=[prop("Token", required=True, secret=True)],
                ),
                [
                    (
                        "custom_actions[0].secrets",
                        "the required property Token has no value; add it under secrets",
                    )
                ],
            ),
            (
                tool(
                    configuration_properties=[
                        prop("Flag", type="Boolean"),
                        prop("Count", type="Number"),
                        prop("Label"),
                        prop("Ok", type="Number"),
                    ],
                    configuration={"Flag": "yes", "Count": True, "Label": False, "Ok": 2.5},
                ),
                [
                    (
                        "custom_actions[0].configuration.Flag",
                        "Flag is a Boolean property: use true or false, not 'yes'",
                    ),
                    (
                        "custom_actions[0].configuration.Count",
                        "Count is a Number property: use a number, not True",
                    ),
                    (
                        "custom_actions[0].configuration.Label",
                        "Label is a String property: quote the value ('false')",
                    ),
                ],
            ),
            (
                tool(
                    configuration_properties=[QUERYABLE],
                    configuration={"Project": "my project, please"},
                ),
                [
                    (
                        "custom_actions[0].configuration.Project",
                        "'my project, please' cannot be the value of the queryable property "
                        "Project: use 1-20 letters, digits, _ and - (CodePipeline)",
                    )
                ],
            ),
            (
                tool(register_type=False, worker={"command": "make"}),
                [
                    (
                        "custom_actions[0].worker",
                        "worker applies only with register_type: true; the stack that "
                        "registers the action type also sets up its worker",
                    )
                ],
            ),
            (
                tool(worker={"principal_arn": "arn:aws:iam::123456789012:role/ci"}),
                [
                    (
                        "custom_actions[0].worker.principal_arn",
                        "principal_arn applies only with assumed_by: role, not ec2",
                    )
                ],
            ),
        ],
        ids=[
            "duplicate-property",
            "worker-variable-collision",
            "two-queryable",
            "queryable-secret",
            "minimum-above-maximum",
            "artifact-count",
            "artifact-names",
            "source-with-inputs",
            "source-input-range",
            "url-placeholders",
            "configuration-keys",
            "required-secret",
            "value-types",
            "queryable-value",
            "worker-without-type",
            "principal-without-role",
        ],
    )
    def test_one_action(self, data: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        assert issues(data) == expected


# -- the action type and the worker role --------------------------------------------------------


def built(*actions: CustomAction) -> tuple[ChildStack, list[ca.CustomActionResources]]:
    stack = ChildStack("custom-actions", "demo: custom actions")
    return stack, ca.custom_actions(stack, NAMES, actions)


def resources(stack: ChildStack) -> dict[str, Any]:
    return dict(stack.template.to_dict()["Resources"])


def terraform() -> CustomAction:
    return snippet(TERRAFORM).custom_actions[0]


def jenkins() -> CustomAction:
    return snippet(JENKINS).custom_actions[0]


class TestActionType:
    def test_properties(self) -> None:
        stack, _ = built(jenkins())
        p = resources(stack)["BuildJenkinsV1ActionType"]["Properties"]
        assert p["Category"] == "Build"
        assert p["Provider"] == "Jenkins"
        assert p["Version"] == "1"
        assert p["InputArtifactDetails"] == {"MinimumCount": 0, "MaximumCount": 5}
        assert p["OutputArtifactDetails"] == {"MinimumCount": 0, "MaximumCount": 5}
        assert p["Settings"] == {
            "EntityUrlTemplate": "https://jenkins.example.com/job/{Config:ProjectName}",
            "ExecutionUrlTemplate": "https://jenkins.example.com/job/{Config:ProjectName}"
            "/{ExternalExecutionId}",
        }
        assert p["ConfigurationProperties"] == [
            {
                "Name": "ProjectName",
                "Required": True,
                "Key": True,
                "Secret": False,
                "Queryable": True,
                "Type": "String",
                "Description": "The Jenkins job to run",
            }
        ]

    def test_counts_follow_the_listed_artifacts_and_settings_may_be_absent(self) -> None:
        stack, _ = built(terraform())
        p = resources(stack)["BuildTerraformPlanV1ActionType"]["Properties"]
        assert p["InputArtifactDetails"] == {"MinimumCount": 1, "MaximumCount": 1}
        assert p["OutputArtifactDetails"] == {"MinimumCount": 1, "MaximumCount": 1}
        assert "Settings" not in p
        assert [c["Secret"] for c in p["ConfigurationProperties"]] == [False, False, True]

    def test_logical_ids_come_from_the_type(self) -> None:
        assert ca.logical_prefix(action(provider="my-tool", version="2_b")) == "BuildMytoolV2b"
        assert ca.logical_prefix(terraform()) == "BuildTerraformPlanV1"

    def test_an_existing_type_adds_nothing(self) -> None:
        stack, (handles,) = built(action(register_type=False))
        assert resources(stack) == {}
        assert stack.template.to_dict().get("Outputs") is None
        assert handles.type_name is None and handles.worker_role_arn is None


def policies(stack: ChildStack, role: str) -> dict[str, list[dict[str, Any]]]:
    """Policy logical id -> its statements, for the policies attached to `role`."""
    return {
        name: res["Properties"]["PolicyDocument"]["Statement"]
        for name, res in resources(stack).items()
        if res["Type"] == "AWS::IAM::Policy" and res["Properties"]["Roles"] == [{"Ref": role}]
    }


class TestWorkerRole:
    def test_polls_only_its_own_action_type(self) -> None:
        stack, _ = built(jenkins(), terraform())
        for prefix, provider in (
            ("BuildJenkinsV1", "Jenkins"),
            ("BuildTerraformPlanV1", "TerraformPlan"),
        ):
            (poll,) = policies(stack, f"{prefix}WorkerRole")[f"{prefix}WorkerRolePolicy"]
            assert poll["Action"] == ["codepipeline:PollForJobs"]
            assert poll["Resource"] == [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:codepipeline:${AWS::Region}:"
                    f"${{AWS::AccountId}}:actiontype:Custom/Build/{provider}/1"
                }
            ]

    def test_star_only_for_the_job_calls_that_take_no_resource(self) -> None:
        stack, _ = built(jenkins())
        attached = policies(stack, "BuildJenkinsV1WorkerRole")
        assert set(attached) == {
            "BuildJenkinsV1WorkerRolePolicy",
            "BuildJenkinsV1WorkerRoleWildcardOnlyPolicy",
        }
        (jobs,) = attached["BuildJenkinsV1WorkerRoleWildcardOnlyPolicy"]
        assert jobs["Resource"] == ["*"]
        assert jobs["Action"] == [
            "codepipeline:AcknowledgeJob",
            "codepipeline:GetJobDetails",
            "codepipeline:PutJobSuccessResult",
            "codepipeline:PutJobFailureResult",
        ]
        documented = wildcard_only_actions()
        assert all(documented[a] for a in jobs["Action"])
        for statement in attached["BuildJenkinsV1WorkerRolePolicy"]:
            assert "*" not in statement["Resource"]

    def test_no_artifact_bucket_key_or_secret_access(self) -> None:
        """Jobs carry their own temporary artifact credentials, and secret values."""
        stack, _ = built(terraform())
        actions = {
            a
            for statements in policies(stack, "BuildTerraformPlanV1WorkerRole").values()
            for s in statements
            for a in s["Action"]
        }
        assert all(a.startswith("codepipeline:") for a in actions)
        assert len(actions) == 5

    def test_ec2_gets_an_instance_profile(self) -> None:
        stack, (handles,) = built(jenkins())
        res = resources(stack)
        trust = res["BuildJenkinsV1WorkerRole"]["Properties"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
        profile = res["BuildJenkinsV1WorkerInstanceProfile"]["Properties"]
        assert profile == {"Path": "/pipegen/demo/", "Roles": [{"Ref": "BuildJenkinsV1WorkerRole"}]}
        assert handles.worker_instance_profile is not None
        assert handles.worker_principal is None

    def test_ecs_tasks_of_this_account_only(self) -> None:
        stack, (handles,) = built(terraform())
        role = resources(stack)["BuildTerraformPlanV1WorkerRole"]["Properties"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}
        assert statement["Condition"] == {
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"
                }
            },
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        }
        assert "BuildTerraformPlanV1WorkerInstanceProfile" not in resources(stack)
        assert handles.worker_instance_profile is None

    def test_a_named_role_through_a_launch_parameter(self) -> None:
        arn = "arn:aws:iam::123456789012:role/ci-runner"
        a = action(worker={"assumed_by": "role", "principal_arn": arn})
        stack, (handles,) = built(a)
        role = resources(stack)["BuildToolV1WorkerRole"]["Properties"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"AWS": [{"Ref": "BuildToolV1WorkerPrincipalArn"}]}
        (parameter,) = ca.custom_action_parameters(
            [a, jenkins(), action(provider="X", register_type=False)]
        )
        assert handles.worker_principal == parameter
        assert parameter.name == "BuildToolV1WorkerPrincipalArn"
        assert parameter.default == arn
        assert parameter.allowed_pattern == ca.ROLE_ARN_PATTERN

    def test_role_arn_and_type_are_exported(self) -> None:
        stack, (handles,) = built(jenkins())
        assert handles.worker_role_arn is not None and handles.type_name is not None
        outputs = stack.template.to_dict()["Outputs"]
        assert outputs["BuildJenkinsV1WorkerRoleArn"]["Value"] == {
            "Fn::GetAtt": ["BuildJenkinsV1WorkerRole", "Arn"]
        }
        assert outputs["BuildJenkinsV1ActionTypeName"]["Value"] == {
            "Ref": "BuildJenkinsV1ActionType"
        }


class TestWorkerEnvironment:
    def test_the_worker_polls_for_this_pipelines_jobs(self) -> None:
        env = ca.worker_environment(terraform())
        assert env["PIPEGEN_WORKER_CATEGORY"] == "Build"
        assert env["PIPEGEN_WORKER_PROVIDER"] == "TerraformPlan"
        assert env["PIPEGEN_WORKER_VERSION"] == "1"
        assert env["PIPEGEN_WORKER_QUERY"] == "Workspace=prod"
        assert env["PIPEGEN_WORKER_COMMAND"].startswith('TF_TOKEN_app_terraform_io="$PIPEGEN')

    def test_without_a_command_or_a_queryable_property(self) -> None:
        env = ca.worker_environment(action())
        assert set(env) == {
            "PIPEGEN_WORKER_CATEGORY",
            "PIPEGEN_WORKER_PROVIDER",
            "PIPEGEN_WORKER_VERSION",
        }

    def test_variable_names_match_the_worker(self) -> None:
        assert ca.worker_variable("TfToken") == "PIPEGEN_CONFIG_TFTOKEN"
        assert ca.worker_variable("project-name") == "PIPEGEN_CONFIG_PROJECT_NAME"


# -- the pipeline action ---------------------------------------------------------------------


class TestStep:
    def test_owner_custom_and_the_types_version(self) -> None:
        a = action(version="2", name="Check", inputs=["Source"], namespace="CheckVariables")
        step = ca.custom_step(a, run_order=3)
        rendered = render_step(ChildStack("pipeline", "p"), step).to_dict()
        assert rendered["ActionTypeId"] == {
            "Category": "Build",
            "Owner": "Custom",
            "Provider": "Tool",
            "Version": "2",
        }
        assert rendered["Name"] == "Check"
        assert rendered["RunOrder"] == 3
        assert rendered["InputArtifacts"] == [{"Name": "Source"}]
        assert "OutputArtifacts" not in rendered
        assert rendered["Namespace"] == "CheckVariables"
        assert "RoleArn" not in rendered  # custom actions run as the pipeline, not a role

    def test_aws_actions_keep_owner_aws_and_version_1(self) -> None:
        step = Step(name="Build", category="Build", provider="CodeBuild", configuration={})
        rendered = render_step(ChildStack("pipeline", "p"), step).to_dict()
        assert rendered["ActionTypeId"]["Owner"] == "AWS"
        assert rendered["ActionTypeId"]["Version"] == "1"

    def test_configuration_is_text_and_secrets_are_dynamic_references(self) -> None:
        a = action(
            configuration_properties=[
                prop("Flag", type="Boolean"),
                prop("Count", type="Number"),
                prop("Token", secret=True),
                prop("Whole", secret=True),
            ],
            configuration={"Flag": True, "Count": 3},
            secrets={
                "Token": {"secret": "ci/token", "json_key": "value"},
                "Whole": {
                    "secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCdEf"
                },
            },
        )
        assert ca.custom_step(a, 1).configuration == {
            "Count": "3",
            "Flag": "true",
            "Token": "{{resolve:secretsmanager:ci/token:SecretString:value}}",
            "Whole": "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:"
            "secret:ci-AbCdEf}}",
        }

    def test_the_name_defaults_to_the_provider(self) -> None:
        assert ca.custom_step(jenkins(), 1).name == "Jenkins"


# -- cfn-lint --------------------------------------------------------------------------------


def test_templates_pass_cfn_lint_and_the_guardrails(tmp_path: Path) -> None:
    """The custom-action stack (all three worker kinds) and a pipeline with two custom steps
    produce no finding at all: no error, warning or informational."""
    role_worker = action(
        provider="Inhouse",
        category="Deploy",
        inputs=["JenkinsOutput"],
        worker={"assumed_by": "role"},
    )
    actions = [jenkins(), terraform(), role_worker]
    stack, _ = built(*actions)
    build = Stage("Build", (ca.custom_step(actions[0], 1), ca.custom_step(actions[1], 1)))
    deploy = Stage("Deploy", (ca.custom_step(actions[2], 1),))
    assert lint_stacks(tmp_path, stack, pipeline_stack("demo", build, deploy)) == []
