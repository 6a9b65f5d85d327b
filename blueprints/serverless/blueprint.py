"""serverless: build and package an AWS SAM application, then deploy it per environment
through CloudFormation change sets: create, (compliance check, approval,) execute. Lambda
traffic shifts by canary or linear steps with alarm rollback, inside the application stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from blueprints.serverless.spec import TRAFFIC_TYPES, ServerlessSpec
from generator.assembly.assemble import RootOutput, TemplateSet
from generator.assembly.stack import Exported
from generator.blueprint import Blueprint
from generator.components import cloudformation_deploy as deploy
from generator.components import codebuild, compliance_gate
from generator.components.alarms import RollbackAlarm
from generator.components.lambda_function import hardened_function
from generator.composer import BUILD_ARTIFACT, Defaults, PipelineComposer
from generator.pipeline_plan import Stage, Step
from generator.spec.checks import SpecIssue, check_single_account
from generator.templating import render_template

PACKAGED_TEMPLATE = "packaged.yaml"
PACKAGE_PREFIX = "sam-packages"
# CodeDeploy invokes only hooks named CodeDeployHook_*: CodeDeployHook_<stack>-post <= 64.
HOOK_STACK_NAME_LIMIT = 64 - len("CodeDeployHook_") - len("-post")
# Granted whatever app_services says: the starter's alarms and its traffic shifting need them.
ALWAYS = ("cloudwatch", "codedeploy")
DEFAULTS = Defaults(
    test_commands={
        "unit": (
            "pip install --quiet --disable-pip-version-check -r requirements-dev.txt",
            "python -m pytest tests -q --junitxml=reports/unit/junit.xml",
        ),
        "contract": ("make test-contract",),
        "integration": ("make test-integration",),
        "security-scan": (
            "pip install --quiet --disable-pip-version-check semgrep==1.95.0 cfn-lint==1.58.0",
            "semgrep scan --config p/default --error --junit-xml "
            "--junit-xml-output=reports/sast/semgrep.xml",
            "cfn-lint template.yaml",
        ),
    },
    smoke_test=(
        "curl --fail --silent --show-error --retry 10 --retry-delay 6 --retry-all-errors "
        '--max-time 10 "$TARGET_URL/health"',
    ),
)


@cache
def service_catalogue() -> dict[str, deploy.ServiceGrants]:
    """app_services.yaml: what each AWS service lets the application deploy and use."""
    text = resources.files("blueprints.serverless").joinpath("app_services.yaml").read_text()

    def grants(entries: list[dict[str, Any]]) -> tuple[deploy.ScopedGrant, ...]:
        return tuple(
            deploy.ScopedGrant(tuple(e["actions"]), tuple(e["resources"])) for e in entries
        )

    return {
        name: deploy.ServiceGrants(
            service=name,
            deploy=grants(entry["deploy"]),
            runtime=grants(entry["runtime"]),
            pass_to=tuple(entry["pass_to"]),
        )
        for name, entry in yaml.safe_load(text).items()
    }


@dataclass(frozen=True)
class StarterEnvironment:
    """What the starter templates need to know about one environment."""

    name: str
    stack_name: str
    deployment_preference: str
    configuration_json: str


class ServerlessBlueprint(Blueprint):
    name = "serverless"
    summary = "AWS SAM application: change-set deploys, Lambda canaries, compliance gate"
    spec_model = ServerlessSpec

    def checks(self, spec: Any) -> Iterator[SpecIssue]:
        yield from super().checks(spec)
        yield from check_single_account(spec, self.name)
        if spec.execution_mode == "PARALLEL":
            yield SpecIssue(
                ("execution_mode",),
                "PARALLEL runs would prepare and execute change sets of one stack at the same "
                "time; use QUEUED or SUPERSEDED",
            )
        names = [env.name for env in spec.environments]
        before = spec.compliance.before
        if spec.compliance.enabled and before is not None and before not in names:
            yield SpecIssue(
                ("compliance", "before"),
                f"no environment is named {before!r}; use one of {', '.join(names)}",
            )
        seen: dict[str, int] = {}
        for index, env in enumerate(spec.environments):
            loc = ("environments", index, "deploy")
            stack = spec.stack_name(index)
            if stack in seen:
                yield SpecIssue(
                    (*loc, "stack_name"),
                    f"stack {stack} is already deployed by "
                    f"{spec.environments[seen[stack]].name}; give each environment its own stack",
                )
            seen.setdefault(stack, index)
            if len(stack) > HOOK_STACK_NAME_LIMIT:
                yield SpecIssue(
                    (*loc, "stack_name"),
                    f"stack name {stack} is {len(stack)} characters; the traffic hooks are "
                    f"named CodeDeployHook_<stack>-post, which Lambda caps at 64 characters, so "
                    f"use at most {HOOK_STACK_NAME_LIMIT}",
                )
            minutes = env.deploy.interval_minutes
            strategy = spec.strategy(index)
            if minutes is not None and minutes not in TRAFFIC_TYPES[strategy]:
                if strategy == "all-at-once":
                    message = "all-at-once shifts traffic in one step; remove interval_minutes"
                else:
                    allowed = ", ".join(str(m) for m in TRAFFIC_TYPES[strategy])
                    message = (
                        f"{strategy} traffic shifting takes interval_minutes {allowed} "
                        f"(SAM's predefined configurations), not {minutes}"
                    )
                yield SpecIssue((*loc, "interval_minutes"), message)

    def starter_spec(self, name: str) -> str:
        return render_template("blueprints.serverless", "starter", "spec.yaml.j2", name=name)

    def build(self, spec: ServerlessSpec, template_format: str) -> TemplateSet:
        composer = PipelineComposer(
            spec, blueprint=self.name, template_format=template_format, defaults=DEFAULTS
        )
        apps = [self.app_stack(spec, i) for i in range(len(spec.environments))]
        stages: list[Stage] = composer.ci_stages(self.build_project(spec, composer))
        execution_roles: list[Exported] = []
        traffic_roles: list[Exported] = []
        for app in apps:
            traffic = composer.role(deploy.traffic_shifting_role(composer.names, app))
            traffic_roles.append(traffic)
            execution_roles.append(
                composer.role(
                    deploy.execution_role(
                        composer.names,
                        app,
                        artifact_grants=deploy.packaged_code_grants(
                            composer.store, composer.iam_stack
                        ),
                        traffic_role=composer.iam_stack.use(traffic),
                    )
                )
            )
        boundaries = [
            composer.iam_stack.export(
                f"{app.title}PermissionsBoundaryArn",
                deploy.permissions_boundary(composer.iam_stack, composer.names, app).ref(),
                f"Permissions boundary of the roles stack {app.stack_name} creates",
            )
            for app in apps
        ]
        action_role = composer.action_role(
            deploy.change_set_action_role(
                composer.names,
                apps,
                composer.store,
                composer.iam_stack,
                composer.pipeline_role_arn,
                execution_roles,
            )
        )
        for index, app in enumerate(apps):
            stages.append(
                self.deploy_stage(
                    spec,
                    composer,
                    index,
                    app,
                    action_role=action_role,
                    execution_role=execution_roles[index],
                    boundary=boundaries[index],
                    traffic_role=traffic_roles[index],
                )
            )
        return composer.compose(
            stages,
            outputs=[
                RootOutput(
                    f"{app.title}PermissionsBoundaryArn",
                    boundary,
                    f"Every role stack {app.stack_name} creates must carry this boundary",
                )
                for app, boundary in zip(apps, boundaries, strict=True)
            ],
            files=self.app_files(spec),
        )

    # -- build -----------------------------------------------------------------------------

    def build_project(
        self, spec: ServerlessSpec, composer: PipelineComposer
    ) -> codebuild.ProjectSpec:
        store = composer.store
        return codebuild.ProjectSpec(
            purpose="build",
            description=f"sam build and sam package of {spec.name}, one configuration per "
            "environment",
            image=spec.build.image,
            compute_type=spec.build.compute_type,
            timeout_minutes=spec.build.timeout_minutes,
            buildspec=self.buildspec(spec),
            inline=True,
            reports=True,
            writes_artifacts=True,
            cache=spec.build.cache,
            variables={
                **spec.build.variables,
                "ARTIFACT_BUCKET": store.bucket_name,
                "ARTIFACT_KEY_ARN": store.key_arn,
                "S3_PREFIX": f"{PACKAGE_PREFIX}/{spec.name}",
            },
            secrets=tuple(spec.build.secrets),
        )

    def buildspec(self, spec: ServerlessSpec) -> str:
        # Also shipped as app/buildspec.yml; inline here so spec changes reach the build.
        return self.render(spec, "buildspec.yml.j2").replace("${", "${!")

    # -- deploy ----------------------------------------------------------------------------

    def app_stack(self, spec: ServerlessSpec, index: int) -> deploy.AppStack:
        env = spec.environments[index]
        stack_name = spec.stack_name(index)
        catalogue = service_catalogue()
        services = sorted({*spec.application.app_services, *ALWAYS})
        return deploy.AppStack(
            environment=env.name,
            stack_name=stack_name,
            capabilities=tuple(spec.application.capabilities),
            template=f"{BUILD_ARTIFACT}::{PACKAGED_TEMPLATE}",
            configuration=f"{BUILD_ARTIFACT}::{env.name}.json",
            services=tuple(catalogue[s] for s in services),
            alarms=tuple(self.alarm_names(spec, index)),
        )

    @staticmethod
    def alarm_names(spec: ServerlessSpec, index: int) -> list[str]:
        given = spec.environments[index].deploy.alarms
        stack = spec.stack_name(index)
        return list(given) if given else [f"{stack}-errors", f"{stack}-throttles"]

    def deploy_stage(
        self,
        spec: ServerlessSpec,
        composer: PipelineComposer,
        index: int,
        app: deploy.AppStack,
        *,
        action_role: Exported,
        execution_role: Exported,
        boundary: Exported,
        traffic_role: Exported,
    ) -> Stage:
        steps: list[Step] = [
            deploy.create_change_set_step(
                app,
                action_role=action_role,
                execution_role=execution_role,
                parameter_overrides={
                    "PermissionsBoundaryArn": boundary,
                    "CodeDeployRoleArn": traffic_role,
                },
                inputs=(BUILD_ARTIFACT,),
            )
        ]
        if spec.compliance_index() == index:
            steps.append(self.compliance_step(spec, composer, app, run_order=len(steps) + 1))
        gate = composer.approval_step(
            index,
            instructions=(
                f"Review change set {app.change_set} of stack {app.stack_name} (Change sets "
                f"tab) before it executes in {app.environment}: commit "
                "#{SourceVariables.CommitId}."
            ),
            review_link=deploy.change_set_review_link(app),
            run_order=len(steps) + 1,
        )
        if gate is not None:
            steps.append(gate)
        namespace = f"{app.title}Stack"
        steps.append(
            deploy.execute_change_set_step(
                app, action_role=action_role, run_order=len(steps) + 1, namespace=namespace
            )
        )
        output = spec.application.api_url_output
        return composer.deploy_stage(
            index,
            steps,
            [RollbackAlarm(name) for name in app.alarms],
            target_url=f"#{{{namespace}.{output}}}" if output else None,
        )

    def compliance_step(
        self, spec: ServerlessSpec, composer: PipelineComposer, app: deploy.AppStack, run_order: int
    ) -> Step:
        settings = spec.compliance
        function = compliance_gate.gate_function(
            settings.ticket_pattern, settings.stateful_types, settings.forbid_wildcard_actions
        )
        role = composer.role(
            compliance_gate.gate_role(
                composer.names,
                function,
                composer.iam_stack.use(composer.store.key_arn),
                app.stack_name,
            )
        )
        hardened_function(
            composer.deploy_stack,
            composer.names,
            function,
            role,
            composer.deploy_stack.use(composer.store.key_arn),
            spec.log_retention_days,
        )
        invoker = composer.action_role(
            compliance_gate.invoker_role(composer.names, function, composer.pipeline_role_arn)
        )
        return compliance_gate.gate_step(
            composer.names,
            function,
            role=invoker,
            stack_name=app.stack_name,
            change_set=app.change_set,
            run_order=run_order,
        )

    # -- the starter application -----------------------------------------------------------

    def starter_environments(self, spec: ServerlessSpec) -> list[StarterEnvironment]:
        tags = {**dict(sorted(spec.tags.items())), "pipegen:pipeline": spec.name}
        environments = []
        for index, env in enumerate(spec.environments):
            preference = spec.deployment_preference(index)
            configuration = {
                "Parameters": {
                    "Environment": env.name,
                    "DeploymentPreferenceType": preference,
                    **dict(sorted(env.deploy.parameters.items())),
                },
                "Tags": {**tags, "pipegen:environment": env.name},
            }
            environments.append(
                StarterEnvironment(
                    name=env.name,
                    stack_name=spec.stack_name(index),
                    deployment_preference=preference,
                    configuration_json=json.dumps(configuration, indent=2),
                )
            )
        return environments

    def render(self, spec: ServerlessSpec, template: str) -> str:
        return render_template(
            "blueprints.serverless",
            "starter",
            template,
            app=spec.name,
            runtime=spec.application.runtime,
            sam_cli_version=spec.application.sam_cli_version,
            log_retention_days=spec.log_retention_days,
            environments=self.starter_environments(spec),
        )

    def app_files(self, spec: ServerlessSpec) -> dict[str, str]:
        files = {
            "template.yaml": "template.yaml.j2",
            "buildspec.yml": "buildspec.yml.j2",
            "src/app.py": "src/app.py.j2",
            "src/hooks.py": "src/hooks.py.j2",
            "src/requirements.txt": "src/requirements.txt.j2",
            "tests/test_app.py": "tests/test_app.py.j2",
            "tests/test_hooks.py": "tests/test_hooks.py.j2",
            "requirements-dev.txt": "requirements-dev.txt.j2",
        }
        return {path: self.render(spec, template) for path, template in files.items()}


BLUEPRINT = ServerlessBlueprint()
