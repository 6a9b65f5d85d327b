"""web-app: build, test and deploy a web application to EC2 Auto Scaling groups via CodeDeploy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from troposphere import GetAtt

from blueprints.web_app import parameters
from blueprints.web_app.spec import WebAppSpec
from generator.assembly.assemble import RootOutput, TemplateSet
from generator.blueprint import Blueprint
from generator.components import codedeploy
from generator.components.alarms import AlarmThresholds, RollbackAlarm, target_group_alarms
from generator.composer import BUILD_ARTIFACT, Defaults, PipelineComposer
from generator.pipeline_plan import Stage
from generator.spec.checks import SpecIssue, check_single_account
from generator.templating import render_template

BUILD_COMMANDS = ("make build",)  # rendered into the app's own buildspec.yml
DEFAULTS = Defaults(
    test_commands={
        "unit": ("make test-unit",),
        "contract": ("make test-contract",),
        "integration": ("make test-integration",),
        "security-scan": (
            "pip install --quiet --disable-pip-version-check semgrep==1.95.0",
            "semgrep scan --config p/default --error --junit-xml "
            "--junit-xml-output=reports/sast/semgrep.xml",
        ),
    },
    smoke_test=(
        "curl --fail --silent --show-error --retry 10 --retry-delay 6 --retry-all-errors "
        '--max-time 10 "$TARGET_URL/health"',
    ),
)


class WebAppBlueprint(Blueprint):
    name = "web-app"
    summary = "Web application on EC2 Auto Scaling groups behind an ALB, deployed by CodeDeploy"
    spec_model = WebAppSpec

    def checks(self, spec: Any) -> Iterator[SpecIssue]:
        yield from super().checks(spec)
        yield from check_single_account(spec, self.name)
        for index, env in enumerate(spec.environments):
            loc = ("environments", index)
            deploy = env.deploy
            for field, pattern_name in (
                ("auto_scaling_group", "auto_scaling_group"),
                ("target_group_arn", "target_group_arn"),
                ("load_balancer_arn", "load_balancer_arn"),
                ("instance_role_arn", "instance_role_arn"),
            ):
                value = getattr(deploy, field)
                if value is not None and not parameters.matches(pattern_name, value):
                    yield SpecIssue(
                        (*loc, "deploy", field),
                        f"{value!r} is not a valid {field.replace('_', ' ')}; expected something "
                        f"like {parameters.EXAMPLES[pattern_name]!r}",
                    )
            if deploy.alarms and deploy.load_balancer_arn is not None:
                yield SpecIssue(
                    (*loc, "deploy", "load_balancer_arn"),
                    "load_balancer_arn is used only for the alarms pipegen creates; with your own "
                    "alarms listed, remove it",
                )
            if spec.strategy(index) != "blue-green" and deploy.instance_role_arn is not None:
                yield SpecIssue(
                    (*loc, "deploy", "instance_role_arn"),
                    "instance_role_arn applies to blue-green deployments only; remove it, or "
                    "set deploy.strategy: blue-green",
                )

    def starter_spec(self, name: str) -> str:
        return render_template("blueprints.web_app", "starter", "spec.yaml.j2", name=name)

    def build(self, spec: WebAppSpec, template_format: str) -> TemplateSet:
        composer = PipelineComposer(
            spec,
            blueprint=self.name,
            template_format=template_format,
            defaults=DEFAULTS,
            instances_fetch_artifacts=True,  # the CodeDeploy agent downloads revisions
        )
        names = composer.names
        stages: list[Stage] = composer.ci_stages()
        targets = [self.target(composer, spec, i) for i in range(len(spec.environments))]
        service_role = composer.role(codedeploy.codedeploy_role(composer.iam_stack, names, targets))
        application = codedeploy.server_application(composer.deploy_stack, names)
        provider = self.blue_green_provider(composer, targets)
        for index, target in enumerate(targets):
            group = codedeploy.server_deployment_group(
                composer.deploy_stack, names, target, service_role, application, provider
            )
            role = composer.action_role(
                codedeploy.deploy_action_role(
                    composer.iam_stack,
                    names,
                    target.environment,
                    target.config_name,
                    composer.store,
                    composer.pipeline_role_arn,
                )
            )
            deploy = codedeploy.deploy_step(application, group, role, BUILD_ARTIFACT)
            stages += composer.environment_stages(index, [deploy], target.alarms)
        instance_policy = codedeploy.instance_artifact_policy(
            composer.iam_stack, names, composer.store
        )
        return composer.compose(
            stages,
            outputs=[
                RootOutput(
                    "InstanceArtifactReadPolicyArn",
                    instance_policy,
                    "Attach this managed policy to the instance role of every Auto Scaling group",
                )
            ],
            files=self.app_files(spec),
        )

    @staticmethod
    def blue_green_provider(
        composer: PipelineComposer, targets: list[codedeploy.ServerTarget]
    ) -> Any:
        """CloudFormation cannot create EC2 blue/green groups; a small function does."""
        if not any(t.strategy == "blue-green" for t in targets):
            return None
        role = composer.role(
            codedeploy.blue_green_provider_role(
                composer.names,
                targets,
                GetAtt("CodeDeployServiceRole", "Arn"),
                composer.iam_stack.use(composer.store.key_arn),
            )
        )
        return codedeploy.blue_green_provider(
            composer.deploy_stack,
            composer.names,
            role,
            composer.deploy_stack.use(composer.store.key_arn),
            composer.spec.log_retention_days,
        )

    def target(
        self, composer: PipelineComposer, spec: WebAppSpec, index: int
    ) -> codedeploy.ServerTarget:
        env = spec.environments[index]
        params = parameters.environment_parameters(
            env.name,
            blue_green=spec.strategy(index) == "blue-green",
            creates_alarms=not env.deploy.alarms,
            defaults={
                "auto_scaling_group": env.deploy.auto_scaling_group,
                "target_group_arn": env.deploy.target_group_arn,
                "load_balancer_arn": env.deploy.load_balancer_arn,
                "instance_role_arn": env.deploy.instance_role_arn,
            },
        )
        alarms: tuple[RollbackAlarm, ...]
        if env.deploy.alarms:
            alarms = tuple(RollbackAlarm(name) for name in env.deploy.alarms)
        else:
            assert params.load_balancer_arn is not None
            alarms = target_group_alarms(
                composer.deploy_stack,
                composer.names,
                env.name,
                target_group_arn=params.target_group_arn,
                load_balancer_arn=params.load_balancer_arn,
                thresholds=AlarmThresholds(
                    error_5xx_count=env.deploy.error_5xx_threshold,
                    latency_seconds=env.deploy.latency_threshold_seconds,
                    latency_percentile=env.deploy.latency_percentile,
                ),
            )
        return codedeploy.ServerTarget(
            environment=env.name,
            strategy=spec.strategy(index),
            deployment_config=env.deploy.deployment_config,
            auto_scaling_group=params.auto_scaling_group,
            target_group_arn=params.target_group_arn,
            alarms=alarms,
            termination_wait_minutes=env.deploy.termination_wait_minutes,
            instance_role_arn=params.instance_role_arn,
        )

    # -- application starter files ---------------------------------------------------------

    def app_files(self, spec: WebAppSpec) -> dict[str, str]:
        build = spec.build
        context = {
            "spec": spec,
            "build": build,
            "commands": build.commands or list(BUILD_COMMANDS),
            "app": spec.name,
        }
        files = {
            "buildspec.yml": "buildspec.yml.j2",
            "appspec.yml": "appspec.yml.j2",
            "scripts/application_stop.sh": "scripts/application_stop.sh.j2",
            "scripts/before_install.sh": "scripts/before_install.sh.j2",
            "scripts/after_install.sh": "scripts/after_install.sh.j2",
            "scripts/application_start.sh": "scripts/application_start.sh.j2",
            "scripts/validate_service.sh": "scripts/validate_service.sh.j2",
        }
        return {
            path: render_template("blueprints.web_app", "starter", template, **context)
            for path, template in files.items()
        }


BLUEPRINT = WebAppBlueprint()
