"""microservice: build and scan a container image, verify contracts, and deploy it to ECS
(rolling, or CodeDeploy blue/green with canary or linear traffic shifting) or to EKS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from blueprints.microservice import parameters
from blueprints.microservice.spec import MicroserviceSpec
from generator.assembly.assemble import RootOutput, TemplateSet
from generator.assembly.stack import StackValue
from generator.blueprint import Blueprint
from generator.components import codebuild, ecr, ecs, eks, image_scan
from generator.components.alarms import AlarmThresholds, RollbackAlarm, target_group_alarms
from generator.components.source import SOURCE_ARTIFACT
from generator.composer import BUILD_ARTIFACT, BUILD_NAMESPACE, Defaults, PipelineComposer
from generator.pipeline_plan import Stage, Step
from generator.spec.checks import SpecIssue, check_single_account
from generator.spec.model import SecretReference, TestStage
from generator.templating import render_template

SEMGREP = (
    "pip install --quiet --disable-pip-version-check semgrep==1.95.0",
    "semgrep scan --config p/default --error --junit-xml "
    "--junit-xml-output=reports/sast/semgrep.xml",
)
DEFAULTS = Defaults(
    test_commands={
        "unit": ("make test-unit",),
        "contract": ("make test-contract",),
        "integration": ("make test-integration",),
        "security-scan": SEMGREP,
    },
    smoke_test=(
        "curl --fail --silent --show-error --retry 10 --retry-delay 6 --retry-all-errors "
        '--max-time 10 "$TARGET_URL/health"',
    ),
)
PRIVILEGED_REASON = (
    "Builds container images with the Docker daemon, which runs only in privileged mode. This "
    "is the pipeline's one privileged project; tests and scans run unprivileged."
)
BUILD_CACHE_TAG = "buildcache"
IMAGE_TAG = f"#{{{BUILD_NAMESPACE}.IMAGE_TAG}}"
TRAFFIC_FIELDS = frozenset({"percentage", "interval_minutes", "termination_wait_minutes"})
IMAGE_URI = f"#{{{BUILD_NAMESPACE}.IMAGE_URI}}"


class MicroserviceBlueprint(Blueprint):
    name = "microservice"
    summary = "Container service: image build and scan, contract tests, ECS blue/green or EKS"
    spec_model = MicroserviceSpec

    def checks(self, spec: Any) -> Iterator[SpecIssue]:
        yield from super().checks(spec)
        yield from check_single_account(spec, self.name)
        for index, env in enumerate(spec.environments):
            loc = ("environments", index, "deploy")
            deploy = env.deploy
            given = deploy.model_fields_set
            if spec.target == "eks":
                if deploy.cluster is None:
                    yield SpecIssue(
                        (*loc, "cluster"),
                        "target: eks needs deploy.cluster, the name of the EKS cluster "
                        f"{env.name} deploys to",
                    )
                if deploy.strategy not in (None, "rolling"):
                    yield SpecIssue(
                        (*loc, "strategy"),
                        f"strategy {deploy.strategy} needs CodeDeploy, which serves ECS only; "
                        "with target: eks use strategy: rolling (Kubernetes rolling update)",
                    )
                for field in sorted(given & {"service", *TRAFFIC_FIELDS}):
                    yield SpecIssue(
                        (*loc, field), f"{field} applies to target: ecs only; remove it"
                    )
                continue
            for field in sorted(given & {"namespace", "manifests"}):
                yield SpecIssue((*loc, field), f"{field} applies to target: eks only; remove it")
            if spec.strategy(index) == "rolling":
                for field in sorted(given & TRAFFIC_FIELDS):
                    yield SpecIssue(
                        (*loc, field),
                        f"{field} shapes blue/green traffic shifting, which a rolling deploy does "
                        "not do; remove it, or set strategy: canary, linear or all-at-once",
                    )

    def starter_spec(self, name: str) -> str:
        return render_template("blueprints.microservice", "starter", "spec.yaml.j2", name=name)

    def build(self, spec: MicroserviceSpec, template_format: str) -> TemplateSet:
        spec = with_contract_layer(spec)
        composer = PipelineComposer(
            spec,
            blueprint=self.name,
            template_format=template_format,
            defaults=DEFAULTS,
            key_grant_services=("ecr",),
        )
        names = composer.names
        ecs_params = (
            [self.ecs_parameters(spec, i) for i in range(len(spec.environments))]
            if spec.target == "ecs"
            else []
        )
        pullers: list[StackValue] = (
            [p.execution_role for p in ecs_params]
            if spec.target == "ecs"
            else [parameters.node_role(env.name) for env in spec.environments]
        )
        repository = ecr.image_repository(
            composer.store_stack,
            names,
            key_arn=composer.store_stack.use(composer.store.key_arn),
            keep_images=spec.image.keep_images,
            pullers=pullers,
            mutable_tags=[f"{BUILD_CACHE_TAG}*"] if spec.image.layer_cache == "registry" else [],
        )
        stages: list[Stage] = composer.ci_stages(
            self.image_build(spec, composer, repository, ecs_params),
            [self.scan_step(spec, composer)],
        )
        if spec.target == "ecs":
            stages += self.ecs_stages(spec, composer, ecs_params)
        else:
            stages += self.eks_stages(spec, composer)
        return composer.compose(
            stages,
            outputs=[
                RootOutput("ImageRepositoryUri", repository.uri, "Where the images are pushed")
            ],
            files=self.app_files(spec),
        )

    # -- build and scan --------------------------------------------------------------------

    def task_role_variables(
        self, spec: MicroserviceSpec, params: list[parameters.EcsParameters]
    ) -> dict[str, StackValue]:
        """The roles the build writes into each environment's task definition."""
        roles: dict[str, StackValue] = {}
        for env, p in zip(spec.environments, params, strict=False):
            if env.name in self.blue_green_environments(spec):
                roles[f"{env.name.upper()}_TASK_EXECUTION_ROLE_ARN"] = p.execution_role
                roles[f"{env.name.upper()}_TASK_ROLE_ARN"] = p.task_role
        return roles

    def image_build(
        self,
        spec: MicroserviceSpec,
        composer: PipelineComposer,
        repository: ecr.ImageRepository,
        ecs_params: list[parameters.EcsParameters],
    ) -> codebuild.ProjectSpec:
        image = spec.image
        return codebuild.ProjectSpec(
            purpose="build",
            description=f"Builds, tags with the commit and pushes the image of {spec.name}",
            image=spec.build.image,
            compute_type=spec.build.compute_type,
            timeout_minutes=spec.build.timeout_minutes,
            buildspec=render_template(
                "generator",
                "templates/buildspecs",
                "docker-build.yml.j2",
                dockerfile=image.dockerfile,
                context=image.context,
                container=image.container_name,
                layer_cache=image.layer_cache,
                cache_tag=BUILD_CACHE_TAG,
                manifests=None,
                extra_artifacts=self.deploy_files(spec),
                task_definitions=[
                    (ecs.task_definition_file(env), env.upper())
                    for env in self.blue_green_environments(spec)
                ],
            ),
            inline=True,
            reports=False,
            writes_artifacts=True,
            cache="local" if image.layer_cache == "local" else "none",
            local_cache_modes=codebuild.DOCKER_CACHE_MODES,
            variables={
                **spec.build.variables,
                "REPOSITORY_URI": repository.uri,
                **self.task_role_variables(spec, ecs_params),
            },
            secrets=tuple(spec.build.secrets),
            extra_grants=ecr.push_grants(composer.names),
            privileged_reason=PRIVILEGED_REASON,
        )

    def scan_step(self, spec: MicroserviceSpec, composer: PipelineComposer) -> Step:
        scan = spec.image.scan
        if scan.using == "inspector":
            composer.managed_compute_logs()
            role = composer.action_role(
                image_scan.inspector_role(
                    composer.iam_stack, composer.names, composer.store, composer.pipeline_role_arn
                )
            )
            return image_scan.inspector_step(composer.names, scan.fail_on, role, IMAGE_TAG)
        project = composer.project(
            image_scan.findings_gate_project(composer.names, spec.build.image, scan.fail_on)
        )
        return composer.codebuild_step(
            "ImageScan",
            project,
            inputs=(SOURCE_ARTIFACT,),
            variables=(("IMAGE_TAG", IMAGE_TAG),),
            category="Test",
        )

    # -- ECS -------------------------------------------------------------------------------

    def ecs_parameters(self, spec: MicroserviceSpec, index: int) -> parameters.EcsParameters:
        env = spec.environments[index]
        return parameters.ecs_parameters(
            env.name,
            blue_green=spec.strategy(index) != "rolling",
            creates_alarms=not env.deploy.alarms,
            cluster=env.deploy.cluster,
            service=env.deploy.service,
        )

    def ecs_stages(
        self,
        spec: MicroserviceSpec,
        composer: PipelineComposer,
        params: list[parameters.EcsParameters],
    ) -> list[Stage]:
        names = composer.names
        services = [
            ecs.EcsService(
                environment=env.name,
                cluster=p.cluster,
                service=p.service,
                task_roles=(p.execution_role, p.task_role),
            )
            for env, p in zip(spec.environments, params, strict=True)
        ]
        blue_green = {
            i: self.blue_green_target(spec, composer, i, services[i], params[i])
            for i in range(len(services))
            if spec.strategy(i) != "rolling"
        }
        if blue_green:
            service_role = composer.role(
                ecs.codedeploy_ecs_role(
                    composer.iam_stack, names, list(blue_green.values()), composer.store
                )
            )
            application = ecs.ecs_application(composer.deploy_stack, names)
        stages: list[Stage] = []
        for index, service in enumerate(services):
            target = blue_green.get(index)
            if target is None:
                role = composer.action_role(
                    ecs.rolling_deploy_role(
                        composer.iam_stack,
                        names,
                        service,
                        composer.store,
                        composer.pipeline_role_arn,
                    )
                )
                step = ecs.rolling_deploy_step(service, role, BUILD_ARTIFACT)
                alarms: tuple[RollbackAlarm, ...] = tuple(
                    RollbackAlarm(a) for a in spec.environments[index].deploy.alarms
                )
            else:
                group = ecs.ecs_deployment_group(
                    composer.deploy_stack, names, target, service_role, application
                )
                ecs.container_log_group(
                    composer.deploy_stack,
                    names,
                    service.environment,
                    composer.deploy_stack.use(composer.store.key_arn),
                    spec.log_retention_days,
                )
                role = composer.action_role(
                    ecs.blue_green_action_role(
                        composer.iam_stack,
                        names,
                        target,
                        composer.store,
                        composer.pipeline_role_arn,
                    )
                )
                step = ecs.blue_green_step(
                    application, group, role, BUILD_ARTIFACT, service.environment
                )
                alarms = target.alarms
            stages += composer.environment_stages(index, [step], alarms)
        return stages

    def blue_green_target(
        self,
        spec: MicroserviceSpec,
        composer: PipelineComposer,
        index: int,
        service: ecs.EcsService,
        params: parameters.EcsParameters,
    ) -> ecs.EcsBlueGreen:
        env = spec.environments[index]
        deploy = env.deploy
        assert params.blue_target_group and params.green_target_group
        assert params.production_listener and params.test_listener
        alarms: tuple[RollbackAlarm, ...]
        if deploy.alarms:
            alarms = tuple(RollbackAlarm(a) for a in deploy.alarms)
        else:
            assert params.load_balancer is not None
            thresholds = AlarmThresholds(
                error_5xx_count=deploy.error_5xx_threshold,
                latency_seconds=deploy.latency_threshold_seconds,
                latency_percentile=deploy.latency_percentile,
            )
            # Traffic alternates between the pair, so both target groups are watched.
            alarms = tuple(
                alarm
                for label, group in (
                    ("blue", params.blue_target_group),
                    ("green", params.green_target_group),
                )
                for alarm in target_group_alarms(
                    composer.deploy_stack,
                    composer.names,
                    env.name,
                    target_group_arn=group,
                    load_balancer_arn=params.load_balancer,
                    thresholds=thresholds,
                    label=label,
                )
            )
        strategy = spec.strategy(index)
        assert strategy != "rolling"
        return ecs.EcsBlueGreen(
            service=service,
            traffic=strategy,
            percentage=deploy.percentage,
            interval_minutes=deploy.interval_minutes,
            termination_wait_minutes=deploy.termination_wait_minutes,
            blue_target_group_arn=params.blue_target_group,
            green_target_group_arn=params.green_target_group,
            production_listener_arn=params.production_listener,
            test_listener_arn=params.test_listener,
            alarms=alarms,
        )

    # -- EKS -------------------------------------------------------------------------------

    def eks_stages(self, spec: MicroserviceSpec, composer: PipelineComposer) -> list[Stage]:
        names = composer.names
        composer.managed_compute_logs()
        stages: list[Stage] = []
        for index, env in enumerate(spec.environments):
            assert env.deploy.cluster is not None
            target = eks.EksTarget(
                environment=env.name,
                cluster=env.deploy.cluster,
                namespace=env.deploy.namespace,
                manifests=tuple(env.deploy.manifests),
            )
            role = composer.action_role(
                eks.deploy_role(
                    composer.iam_stack, names, target, composer.store, composer.pipeline_role_arn
                )
            )
            eks.namespace_access(composer.deploy_stack, target, role)
            step = eks.deploy_step(target, role, SOURCE_ARTIFACT, IMAGE_URI)
            alarms = tuple(RollbackAlarm(a) for a in env.deploy.alarms)
            stages += composer.environment_stages(index, [step], alarms)
        return stages

    # -- application starter files ---------------------------------------------------------

    @staticmethod
    def blue_green_environments(spec: MicroserviceSpec) -> list[str]:
        if spec.target != "ecs":
            return []
        return [e.name for i, e in enumerate(spec.environments) if spec.strategy(i) != "rolling"]

    def deploy_files(self, spec: MicroserviceSpec) -> list[str]:
        """What CodeDeployToECS reads from the build output, besides imageDetail.json."""
        environments = self.blue_green_environments(spec)
        if not environments:
            return []
        return [*(ecs.task_definition_file(env) for env in environments), "appspec.yaml"]

    def app_files(self, spec: MicroserviceSpec) -> dict[str, str]:
        def render(template: str, **extra: Any) -> str:
            return render_template(
                "blueprints.microservice",
                "starter",
                template,
                spec=spec,
                app=spec.name,
                image=spec.image,
                **extra,
            )

        if spec.target == "eks":
            return {"k8s/deployment.yaml": render("k8s/deployment.yaml.j2")}
        files = {
            ecs.task_definition_file(env): render("taskdef.json.j2", environment=env)
            for env in self.blue_green_environments(spec)
        }
        if files:
            files["appspec.yaml"] = render("appspec.yaml.j2")
        return files


def with_contract_layer(spec: MicroserviceSpec) -> MicroserviceSpec:
    """`contract_tests` becomes a contract test layer that verifies against the broker."""
    contract = spec.contract_tests
    if contract is None:
        return spec
    port = spec.image.container_port
    start = " && ".join(contract.start)
    verify = [
        "gem install --no-document pact-provider-verifier rspec_junit_formatter",
        f"({start}) > provider.log 2>&1 &",
        f"for i in $(seq 1 60); do curl -fs http://127.0.0.1:{port}/health && break; sleep 2; done",
        "mkdir -p reports/contract",
        f"pact-provider-verifier --provider-base-url http://127.0.0.1:{port} "
        '--pact-broker-base-url "$PACT_BROKER_BASE_URL" --broker-token "$PACT_BROKER_TOKEN" '
        f"--provider {contract.provider} "
        '--provider-app-version "$CODEBUILD_RESOLVED_SOURCE_VERSION" '
        "--publish-verification-results --format RspecJunitFormatter "
        "--out reports/contract/pact.xml",
    ]
    given = {t.kind: t for t in spec.tests}
    layer = given.get("contract") or TestStage(kind="contract")
    layer = layer.model_copy(
        update={
            "commands": layer.commands or verify,
            "variables": {**layer.variables, "PACT_BROKER_BASE_URL": contract.broker_url},
            "secrets": [
                *layer.secrets,
                SecretReference(
                    name="PACT_BROKER_TOKEN", source="secrets-manager", ref=contract.token
                ),
            ],
        }
    )
    tests = [layer if t.kind == "contract" else t for t in spec.tests]
    if "contract" not in given:
        tests.append(layer)
    return spec.model_copy(update={"tests": tests})


BLUEPRINT = MicroserviceBlueprint()
