"""multi-region: one pipeline in a tooling account delivers a CloudFormation application to
accounts and regions in waves, through cross-account CloudFormation actions (Region set per
action, artifacts replicated to a store in every region) or through StackSets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from awacs import cloudformation as cfn
from troposphere import GetAtt, Parameter, Ref, Sub

from blueprints.multi_region.spec import MultiRegionSpec
from blueprints.serverless.blueprint import service_catalogue
from generator.assembly.assemble import TemplateSet
from generator.assembly.stack import ChildStack
from generator.blueprint import Blueprint
from generator.components import cloudformation_deploy as deploy
from generator.components import codebuild, cross_account
from generator.components.artifact_store import artifact_store
from generator.components.grants import artifact_read, key_decrypt
from generator.components.iam import action_role
from generator.components.pipeline import console_url
from generator.composer import BUILD_ARTIFACT, Defaults, PipelineComposer, deploy_stage_name
from generator.naming import Names
from generator.pipeline_plan import JsonText, OnFailure, RegionalStore, Stage, Step
from generator.spec.checks import SpecIssue
from generator.templating import render_template

LOG = logging.getLogger("pipegen")
OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-")  # not the aws partition
ACTIONS_PER_STAGE = 50  # CodePipeline's quota of actions in one stage
PIPELINE_NAME_LIMIT = 27  # <pipeline>-<account>-<region>-logs stays within S3's 63
ALWAYS = ("cloudwatch",)
DEFAULTS = Defaults(
    test_commands={
        "unit": ("make test-unit",),
        "contract": ("make test-contract",),
        "integration": ("make test-integration",),
        "security-scan": (
            "pip install --quiet --disable-pip-version-check checkov==3.3.30",
            "checkov --quiet --framework cloudformation --skip-download -f template.yaml",
        ),
    },
    smoke_test=("true",),
)
STACKSET_OPERATION = "StackSet"
REGIONAL_STORE = "regional-artifact-store"  # the child template of each regional store
REGIONAL_STORES_STACKSET = "RegionalArtifactStores"  # the root's StackSet of them


class MultiRegionBlueprint(Blueprint):
    name = "multi-region"
    summary = "Cross-account, cross-region delivery in waves (CloudFormation or StackSets)"
    spec_model = MultiRegionSpec

    def checks(self, spec: Any) -> Iterator[SpecIssue]:
        yield from super().checks(spec)
        for option in ("load_test", "chaos", "feature_flags"):
            if getattr(spec, option) is not None:
                yield SpecIssue(
                    (option,),
                    f"multi-region pipelines do not support {option} yet: their waves deploy "
                    "to many accounts and regions, and it targets one environment's URL and "
                    "alarms; remove it (web-app, microservice and serverless support it)",
                )
        if len(spec.name) > PIPELINE_NAME_LIMIT:
            yield SpecIssue(
                ("name",),
                f"multi-region pipeline names are at most {PIPELINE_NAME_LIMIT} characters "
                f"({spec.name} has {len(spec.name)}): regional bucket names carry the account "
                "and region, within S3's 63",
            )
        for index, env in enumerate(spec.environments):
            loc = ("environments", index)
            for field in ("account", "region"):
                if getattr(env, field) is not None:
                    yield SpecIssue(
                        (*loc, field),
                        f"a wave deploys to its deploy.targets; remove {field} and list the "
                        "accounts and regions there",
                    )
            wave = env.deploy
            seen: dict[tuple[str, str], int] = {}
            for t_index, target in enumerate(wave.targets):
                for r_index, region in enumerate(target.regions):
                    earlier = seen.setdefault((target.name, region), t_index)
                    if earlier != t_index or target.regions.index(region) != r_index:
                        yield SpecIssue(
                            (*loc, "deploy", "targets", t_index, "regions", r_index),
                            f"{target.name} already gets {region} in this wave (targets"
                            f"[{earlier}]); list each account or OU and region once",
                        )
            for t_index, target in enumerate(wave.targets):
                for r_index, region in enumerate(target.regions):
                    if region.startswith(OTHER_PARTITIONS):
                        yield SpecIssue(
                            (*loc, "deploy", "targets", t_index, "regions", r_index),
                            f"{region} is in another AWS partition, which a pipeline in "
                            f"{spec.region} cannot reach; deploy there from a pipeline in "
                            "that partition",
                        )
                if spec.deploy_mode == "cloudformation" and target.ou is not None:
                    yield SpecIssue(
                        (*loc, "deploy", "targets", t_index, "ou"),
                        "deploy_mode cloudformation deploys to accounts it can name; list "
                        "accounts, or set deploy_mode: stacksets to deploy to OUs",
                    )
                if spec.deploy_mode == "stacksets" and target.account is not None:
                    yield SpecIssue(
                        (*loc, "deploy", "targets", t_index, "account"),
                        "deploy_mode stacksets deploys to OUs (a service-managed StackSet with "
                        "auto-deployment); list OU ids, or use deploy_mode: cloudformation for "
                        "accounts",
                    )
            if spec.deploy_mode == "cloudformation" and wave.failure_tolerance_percentage:
                yield SpecIssue(
                    (*loc, "deploy", "failure_tolerance_percentage"),
                    "in deploy_mode cloudformation any failed deployment fails the stage; "
                    "remove failure_tolerance_percentage, or use deploy_mode: stacksets",
                )
            count = sum(len(t.regions) for t in wave.targets)
            if (
                spec.deploy_mode == "cloudformation"
                and count > ACTIONS_PER_STAGE
                and not spec.split_large_waves
            ):
                yield SpecIssue(
                    (*loc, "deploy", "targets"),
                    f"wave {env.name} has {count} deployments, more than the "
                    f"{ACTIONS_PER_STAGE} actions CodePipeline allows in a stage; set "
                    "split_large_waves: true, or move targets to another wave",
                )

    def starter_spec(self, name: str) -> str:
        return render_template("blueprints.multi_region", "starter", "spec.yaml.j2", name=name)

    def build(self, spec: MultiRegionSpec, template_format: str) -> TemplateSet:
        names = Names(spec.name)
        tooling = cross_account.Tooling(spec.tooling_account, spec.region)
        accounts = sorted(
            {t.account for env in spec.environments for t in env.deploy.targets if t.account}
        )
        readers = [
            arn for account in accounts for arn in cross_account.target_role_arns(names, account)
        ]
        composer = PipelineComposer(
            spec,
            blueprint=self.name,
            template_format=template_format,
            defaults=DEFAULTS,
            pipeline_role_name=cross_account.role_name(names, cross_account.PIPELINE_ROLE),
            key_decrypters=readers,
            artifact_bucket_names=(
                cross_account.regional_bucket(names, tooling.account, tooling.region),
                cross_account.regional_log_bucket(names, tooling.account, tooling.region),
            ),
            key_home="multi-region-primary" if self.cross_region(spec) else "single-region",
        )
        app = self.app_stack(spec)
        stages: list[Stage] = composer.ci_stages(self.build_project(spec))
        if spec.deploy_mode == "cloudformation":
            composer.assume_roles([cross_account.target_role_arns(names, a)[0] for a in accounts])
            stages += self.cloudformation_waves(spec, composer, app)
        else:
            stages += self.stackset_waves(spec, composer, app)
        other_regions = [r for r in spec.target_regions() if r != spec.region]
        cross_region = self.cross_region(spec)
        template_set = composer.compose(
            stages,
            regions=sorted({spec.region, *spec.target_regions()}),
            regional_stores=[
                RegionalStore(region, cross_account.regional_bucket(names, tooling.account, region))
                for region in other_regions
            ]
            if cross_region
            else [],
            root_resources=[self.regional_stores(composer, tooling, other_regions, template_format)]
            if cross_region
            else [],
        )
        return self.with_prerequisites(spec, template_set, names, tooling, app, readers)

    @staticmethod
    def regional_stores(
        composer: PipelineComposer,
        tooling: cross_account.Tooling,
        regions: list[str],
        template_format: str,
    ) -> Any:
        """The root's StackSet of regional stores (one store per region besides the
        pipeline's), made from the primary key the artifact-store stack outputs."""
        ext = "json" if template_format == "json" else "yaml"
        url = Sub(
            "https://${TemplateBucketName}.s3.${TemplateBucketRegion}.${AWS::URLSuffix}/"
            f"${{TemplateKeyPrefix}}stacks/{REGIONAL_STORE}.{ext}"
        )
        primary = GetAtt(composer.store_stack.logical_id, "Outputs.ArtifactKeyArn")
        return cross_account.regional_stores_stackset(
            ChildStack("root", "root"), composer.names, tooling, regions, url, primary
        )

    @staticmethod
    def cross_region(spec: MultiRegionSpec) -> bool:
        """CloudFormation actions in regions other than the pipeline's need stores there."""
        return spec.deploy_mode == "cloudformation" and any(
            r != spec.region for r in spec.target_regions()
        )

    # -- build -----------------------------------------------------------------------------

    def build_project(self, spec: MultiRegionSpec) -> codebuild.ProjectSpec:
        template = spec.application.template
        return codebuild.ProjectSpec(
            purpose="build",
            description=f"Validates {template} of {spec.name} for every wave",
            image=spec.build.image,
            compute_type=spec.build.compute_type,
            timeout_minutes=spec.build.timeout_minutes,
            buildspec=render_template(
                "blueprints.multi_region", "starter", "buildspec.yml.j2", template=template
            ),
            inline=True,
            reports=False,
            writes_artifacts=True,
            variables=dict(spec.build.variables),
            secrets=tuple(spec.build.secrets),
        )

    def app_stack(self, spec: MultiRegionSpec) -> deploy.AppStack:
        catalogue = service_catalogue()
        services = sorted({*spec.application.app_services, *ALWAYS})
        return deploy.AppStack(
            environment="target",
            stack_name=spec.application.stack_name or spec.name,
            capabilities=tuple(spec.application.capabilities),
            template=f"{BUILD_ARTIFACT}::{spec.application.template}",
            configuration="",
            services=tuple(catalogue[s] for s in services),
            alarms=(),
            region="*",  # one set of target roles serves every region of an account
        )

    # -- cloudformation mode ---------------------------------------------------------------

    def cloudformation_waves(
        self, spec: MultiRegionSpec, composer: PipelineComposer, app: deploy.AppStack
    ) -> list[Stage]:
        names = composer.names
        stages: list[Stage] = []
        for index, env in enumerate(spec.environments):
            gate = composer.approval_stage(index, review_link=console_url(spec.name))
            if gate is not None:
                stages.append(gate)
            wave = env.deploy
            deployments = [(t.account, r) for t in wave.targets for r in t.regions]
            batch = max(1, len(deployments) * wave.max_concurrent_percentage // 100)
            steps = [
                self.cloudformation_step(
                    names,
                    app,
                    account or "",
                    region,
                    position // batch + 1,
                    wave.parameters,
                    spec.region,
                )
                for position, (account, region) in enumerate(deployments)
            ]
            parts = [
                steps[i : i + ACTIONS_PER_STAGE] for i in range(0, len(steps), ACTIONS_PER_STAGE)
            ]
            if len(parts) > 1:
                LOG.info(
                    "%s: wave %s has %d deployments; split into %d stages of at most %d actions",
                    spec.name,
                    env.name,
                    len(steps),
                    len(parts),
                    ACTIONS_PER_STAGE,
                )
            for number, part in enumerate(parts, start=1):
                first = min(s.run_order for s in part)
                stages.append(
                    Stage(
                        name=deploy_stage_name(env.name) + (f"Part{number}" if number > 1 else ""),
                        steps=tuple(
                            Step(**{**s.__dict__, "run_order": s.run_order - first + 1})
                            for s in part
                        ),
                        on_failure=OnFailure(mode=env.on_failure, retry_mode=env.retry_mode),
                        entry=composer.production_entry(index) if number == 1 else None,
                    )
                )
        return stages

    @staticmethod
    def cloudformation_step(
        names: Names,
        app: deploy.AppStack,
        account: str,
        region: str,
        run_order: int,
        parameters: dict[str, str],
        home_region: str,
    ) -> Step:
        deploy_role, execution_role = cross_account.target_role_arns(names, account)
        configuration: dict[str, Any] = {
            "ActionMode": "CREATE_UPDATE",
            "StackName": app.stack_name,
            "TemplatePath": app.template,
            "Capabilities": ",".join(app.capabilities),
            "RoleArn": execution_role,
        }
        if parameters:
            configuration["ParameterOverrides"] = JsonText(dict(sorted(parameters.items())))
        return Step(
            name=f"{account}-{region}",
            category="Deploy",
            provider="CloudFormation",
            configuration=configuration,
            role=deploy_role,
            inputs=(BUILD_ARTIFACT,),
            run_order=run_order,
            region=region if region != home_region else None,
        )

    # -- stacksets mode --------------------------------------------------------------------

    def stackset_waves(
        self, spec: MultiRegionSpec, composer: PipelineComposer, app: deploy.AppStack
    ) -> list[Stage]:
        names = composer.names
        stack_set = f"{app.stack_name}-app"
        role = composer.action_role(self.stackset_action_role(composer, stack_set))
        stages: list[Stage] = []
        first = True
        for index, env in enumerate(spec.environments):
            gate = composer.approval_stage(index, review_link=console_url(spec.name))
            if gate is not None:
                stages.append(gate)
            wave = env.deploy
            # A StackSet operation gives every target every region it names, so targets that
            # want different regions get operations of their own, one after another.
            groups: dict[tuple[str, ...], list[str]] = {}
            for target in wave.targets:
                groups.setdefault(tuple(target.regions), []).append(target.ou or "")
            steps = []
            for number, (regions, ous) in enumerate(groups.items(), start=1):
                configuration: dict[str, Any] = {
                    "StackSetName": stack_set,
                    "DeploymentTargets": ",".join(ous),
                    "Regions": ",".join(regions),
                    "FailureTolerancePercentage": str(wave.failure_tolerance_percentage),
                    "MaxConcurrentPercentage": str(wave.max_concurrent_percentage),
                }
                if first:
                    provider = "CloudFormationStackSet"
                    configuration |= {
                        "TemplatePath": app.template,
                        "PermissionModel": "SERVICE_MANAGED",
                        "OrganizationsAutoDeployment": "EnabledWithStackRetention",
                        "Capabilities": ",".join(app.capabilities),
                        "Description": f"{names.pipeline}: the application, by wave",
                    }
                else:
                    provider = "CloudFormationStackInstances"
                if wave.parameters:
                    key = "Parameters" if first else "ParameterOverrides"
                    configuration[key] = " ".join(
                        f"ParameterKey={k},ParameterValue={v}"
                        for k, v in sorted(wave.parameters.items())
                    )
                steps.append(
                    Step(
                        name=STACKSET_OPERATION if number == 1 else f"{STACKSET_OPERATION}{number}",
                        category="Deploy",
                        provider=provider,
                        configuration=configuration,
                        role=role,
                        inputs=(BUILD_ARTIFACT,) if first else (),
                        run_order=number,
                    )
                )
                first = False
            stages.append(
                Stage(
                    name=deploy_stage_name(env.name),
                    steps=tuple(steps),
                    on_failure=OnFailure(mode=env.on_failure, retry_mode=env.retry_mode),
                    entry=composer.production_entry(index),
                )
            )
        return stages

    @staticmethod
    def stackset_action_role(composer: PipelineComposer, stack_set: str) -> Any:
        names = composer.names
        role = action_role(
            "StackSetActionRole",
            f"StackSet actions of {names.pipeline}",
            names.pipeline,
            composer.pipeline_role_arn,
        )
        role.allow(
            "OperateTheApplicationStackSet",
            [
                cfn.CreateStackSet,
                cfn.UpdateStackSet,
                cfn.DescribeStackSet,
                cfn.DescribeStackSetOperation,
                cfn.ListStackSetOperationResults,
                cfn.CreateStackInstances,
                cfn.UpdateStackInstances,
                cfn.ListStackInstances,
            ],
            [
                Sub(
                    f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stackset/{stack_set}:*"
                ),
                Sub(
                    f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stackset-target/{stack_set}:*/*"
                ),
                Sub("arn:${AWS::Partition}:cloudformation:*::type/resource/*"),
            ],
        )
        bucket = composer.iam_stack.use(composer.store.bucket_arn)
        role.allow(*artifact_read(bucket))
        role.allow(*key_decrypt(composer.iam_stack.use(composer.store.key_arn)))
        return role

    # -- prerequisites and the regional stores ----------------------------------------------

    def with_prerequisites(
        self,
        spec: MultiRegionSpec,
        template_set: TemplateSet,
        names: Names,
        tooling: cross_account.Tooling,
        app: deploy.AppStack,
        readers: list[Any],
    ) -> TemplateSet:
        ext = template_set.children[0].file_name.rsplit(".", 1)[1]
        if spec.deploy_mode == "cloudformation":
            targets = ChildStack(
                "target-roles",
                f"{spec.name}: roles the pipeline uses in each target account",
                ext,
            )
            cross_account.target_roles(targets, names, tooling, spec.target_regions(), [app])
            template_set.extra_templates[f"prerequisites/{targets.file_name}"] = targets.template
        if self.cross_region(spec):
            regional = ChildStack(
                REGIONAL_STORE, f"{spec.name}: artifact bucket and key of a region", ext
            )
            primary = regional.template.add_parameter(
                Parameter(
                    "PrimaryKeyArn",
                    Type="String",
                    Description="The pipeline's multi-Region artifact key; this region gets a "
                    "replica",
                    AllowedPattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/mrk-[0-9a-f]+$",
                )
            )
            artifact_store(
                regional,
                names,
                retention_days=spec.artifact_retention_days,
                log_retention_days=spec.log_retention_days,
                decrypters=readers,
                bucket_name=Sub(f"{names.pipeline}-${{AWS::AccountId}}-${{AWS::Region}}"),
                log_bucket_name=Sub(f"{names.pipeline}-${{AWS::AccountId}}-${{AWS::Region}}-logs"),
                key_home=Ref(primary),
            )
            admin = ChildStack(
                "stackset-roles", f"{spec.name}: StackSet roles for the regional stores", ext
            )
            cross_account.stackset_roles(admin, names, tooling)
            self.wait_for_regional_stores(template_set)
            template_set.extra_templates.update(
                {
                    f"prerequisites/{admin.file_name}": admin.template,
                    f"stacks/{regional.file_name}": regional.template,
                }
            )
        template_set.documents["LAUNCH.md"] = self.launch_order(spec, names, tooling, ext)
        return template_set

    @staticmethod
    def wait_for_regional_stores(template_set: TemplateSet) -> None:
        """CodePipeline checks its artifact stores when the pipeline is created: the pipeline
        stack waits for the root's StackSet of regional stores."""
        root = template_set.root
        for child in template_set.children:
            if child.name.startswith("pipeline"):
                resource = root.resources[child.logical_id]
                waits = list(getattr(resource, "DependsOn", []) or [])
                resource.DependsOn = sorted({*waits, REGIONAL_STORES_STACKSET})

    def launch_order(
        self, spec: MultiRegionSpec, names: Names, tooling: cross_account.Tooling, ext: str
    ) -> str:
        ous = sorted({t.ou for env in spec.environments for t in env.deploy.targets if t.ou})
        accounts = sorted(
            {t.account for env in spec.environments for t in env.deploy.targets if t.account}
        )
        return render_template(
            "blueprints.multi_region",
            "starter",
            "LAUNCH.md.j2",
            spec=spec,
            names=names,
            tooling=tooling,
            ext=ext,
            ous=ous,
            accounts=accounts,
            regions=spec.target_regions(),
            cross_region=self.cross_region(spec),
            admin_role=cross_account.role_name(names, cross_account.STACKSET_ADMIN),
            execution_role=cross_account.role_name(names, cross_account.STACKSET_EXECUTION),
        )


BLUEPRINT = MultiRegionBlueprint()
