"""What every blueprint's pipeline shares, composed once: artifact store, notifications, source,
build and test projects, the pipeline role, approvals, smoke tests and final assembly.

A blueprint creates a `PipelineComposer`, adds its deploy targets and stages, and calls
`compose()`. The child stacks are fixed: artifact-store, (source-connection), notifications,
iam, build-projects, deploy-targets and pipeline, in dependency order.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files as package_files
from typing import Any

from awacs import cloudwatch as cw
from awacs import codebuild as cb
from awacs import s3 as s3_actions
from awacs import sns as sns_actions
from awacs import sts
from awacs.aws import Condition, StringEquals
from troposphere import AWSObject, GetAtt, Ref, Sub

from generator.assembly.assemble import RootOutput, TemplateSet, assemble
from generator.assembly.stack import ChildStack, Exported, RootParameter, StackValue
from generator.components import (
    approval,
    audit,
    chaos,
    chat,
    codebuild,
    custom_actions,
    dora,
    feature_flags,
    load_test,
    monitoring,
    notifications,
    self_update,
    source,
)
from generator.components.alarms import RollbackAlarm, alarm_arns
from generator.components.artifact_store import artifact_store
from generator.components.grants import artifact_read, artifact_write, key_use
from generator.components.iam import RoleBuilder, action_role, service
from generator.components.pipeline import console_url, managed_compute_log_group, pipeline
from generator.naming import Names, environment_group
from generator.pipeline_plan import (
    ActionEnvironment,
    AlarmWatch,
    EntryCondition,
    GitTrigger,
    OnFailure,
    PipelinePlan,
    RegionalStore,
    Stage,
    Step,
)
from generator.spec.model import Environment, PipelineSpec, TestStage

BUILD_ARTIFACT = "BuildOutput"
SOURCE_STAGE = "Source"
BUILD_NAMESPACE = "BuildVariables"
URL_PATTERN = r'^https?://[^\s"\\]+$'  # no quote or backslash: it is embedded in JSON
TEST_ACTION_NAMES = {
    "unit": "UnitTests",
    "contract": "ContractTests",
    "integration": "IntegrationTests",
    "security-scan": "SecurityScan",
}
# Fast layers first: unit tests and the scan run together, integration tests after them.
TEST_RUN_ORDER = {"unit": 1, "contract": 1, "security-scan": 1, "integration": 2}


@cache
def job_worker_source() -> str:
    return package_files("generator.workers").joinpath("job_worker.py").read_text(encoding="utf-8")


def deploy_stage_name(environment: str) -> str:
    return f"Deploy{environment.capitalize()}"


@dataclass(frozen=True)
class Defaults:
    """A blueprint's defaults for commands the spec leaves empty."""

    test_commands: Mapping[str, tuple[str, ...]]
    smoke_test: tuple[str, ...]


class PipelineComposer:
    def __init__(
        self,
        spec: PipelineSpec[Any],
        *,
        blueprint: str,
        template_format: str,
        defaults: Defaults,
        key_grant_services: Sequence[str] = (),
        instances_fetch_artifacts: bool = False,
        pipeline_role_name: str | None = None,
        key_decrypters: Sequence[Any] = (),
        artifact_bucket_names: tuple[Any, Any] | None = None,
        key_home: str = "single-region",
    ) -> None:
        self.spec = spec
        self.blueprint = blueprint
        self.template_format = template_format
        self.defaults = defaults
        self.names = Names(spec.name)
        ext = "json" if template_format == "json" else "yaml"
        self.store_stack = ChildStack(
            "artifact-store", f"{spec.name}: KMS key, artifact and access-log buckets", ext
        )
        self.source_stack = (
            ChildStack("source-connection", f"{spec.name}: repository connection", ext)
            if source.uses_connection(spec.source) and spec.source.connection == "create"
            else None
        )
        self.notify_stack = ChildStack(
            "notifications", f"{spec.name}: topics and EventBridge notification rules", ext
        )
        self.iam_stack = ChildStack("iam", f"{spec.name}: one least-privilege role per job", ext)
        self.build_stack = ChildStack(
            "build-projects", f"{spec.name}: CodeBuild projects, logs and reports", ext
        )
        self.deploy_stack = ChildStack(
            "deploy-targets", f"{spec.name}: deployment targets and rollback alarms", ext
        )
        self.pipeline_stack = ChildStack("pipeline", f"{spec.name}: the CodePipeline (V2)", ext)
        self.custom_stack = ChildStack(
            "custom-actions", f"{spec.name}: custom action types and their workers' roles", ext
        )
        self.audit_stack = ChildStack(
            "audit", f"{spec.name}: CloudTrail trail, audit log and its locked bucket", ext
        )
        self.monitor_stack = ChildStack(
            "monitoring", f"{spec.name}: dashboard, execution-event log and alarms", ext
        )

        self.store = artifact_store(
            self.store_stack,
            self.names,
            retention_days=spec.artifact_retention_days,
            log_retention_days=spec.log_retention_days,
            grant_services=key_grant_services,
            decrypt_through_s3=instances_fetch_artifacts,
            decrypters=key_decrypters,
            bucket_name=artifact_bucket_names[0] if artifact_bucket_names else None,
            log_bucket_name=artifact_bucket_names[1] if artifact_bucket_names else None,
            key_home=key_home,
        )
        self.connection: StackValue | None = (
            source.connection(self.source_stack, spec.source, self.names)
            if source.uses_connection(spec.source)
            else None
        )
        gated = {
            env.name: notifications.approver_email(env.name, gate.approvers_email)
            for env, gate in self.gates()
        }
        alarm_arns, approval_alarm_arns = monitoring.alarm_publishers(self.names, list(gated))
        self.notifications = notifications.notifications(
            self.notify_stack,
            self.names,
            key_arn=self.store.key_arn,
            events_wanted=spec.notifications.events,
            email=notifications.notification_email(spec.notifications.email),
            approval_emails=gated,
            alarm_arns=alarm_arns,
            approval_alarm_arns=approval_alarm_arns,
        )
        if spec.chat is not None:
            chat.chat_channel(
                self.notify_stack,
                self.names,
                settings=spec.chat,
                key_arn=self.store.key_arn,
                events_wanted=chat.chat_events(spec),
            )
        self._roles: list[RoleBuilder] = []
        self._pipeline_role = RoleBuilder(
            logical_id="PipelineRole",
            description=f"CodePipeline {spec.name}",
            trust=service("codepipeline"),
            pipeline=spec.name,
            trust_condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
            role_name=pipeline_role_name,
        )
        self._assumable: list[Any] = []
        self._watched_alarms: list[Any] = []
        self._build_action_builder = action_role(
            "BuildActionRole",
            f"CodeBuild actions of {spec.name}",
            spec.name,
            self.pipeline_role_arn,
        )
        self._build_action_role = self.action_role(self._build_action_builder)
        self._project_arns: list[Any] = []
        self._smoke_project: Exported | None = None
        self._approver_policies: dict[str, Exported] = {}
        self._approval_stages: dict[str, str] = {}  # environment -> the stage that approves it
        self._gates: list[tuple[str, Any, str]] = []  # (environment, gate, its stage) opened
        self._project_names: list[Exported] = []
        self._rollback_alarms: list[RollbackAlarm] = []  # in this account and region
        self._flags: feature_flags.FlagResources | None = None
        self._flags_role: Exported | None = None
        self._managed_logs = False

    # -- roles -----------------------------------------------------------------------------

    @property
    def pipeline_role_arn(self) -> Any:
        return GetAtt("PipelineRole", "Arn")

    def role(self, builder: RoleBuilder) -> Exported:
        """Register a role for the iam stack; its ARN is exported for the other stacks."""
        self._roles.append(builder)
        return self.iam_stack.export(
            f"{builder.logical_id}Arn", GetAtt(builder.logical_id, "Arn"), builder.description
        )

    def action_role(self, builder: RoleBuilder) -> Exported:
        """A role the pipeline assumes to run one kind of action."""
        self._assumable.append(GetAtt(builder.logical_id, "Arn"))
        return self.role(builder)

    def assume_roles(self, arns: Sequence[Any]) -> None:
        """Roles of other accounts that actions run as."""
        self._assumable.extend(arns)

    def managed_compute_logs(self) -> str:
        """The log group of CodePipeline-managed compute, created once; returns its name."""
        if not self._managed_logs:
            managed_compute_log_group(
                self.build_stack,
                self.names,
                self.build_stack.use(self.store.key_arn),
                self.spec.log_retention_days,
            )
            self._managed_logs = True
        return self.names.pipeline_log_group()

    def watch_alarms(self, alarm_arns: Sequence[Any]) -> None:
        """Let stage conditions read these alarms."""
        self._watched_alarms.extend(alarm_arns)

    # -- build and test --------------------------------------------------------------------

    def project(self, spec: codebuild.ProjectSpec) -> Exported:
        role = self.role(codebuild.project_role(self.names, spec, self.store, self.iam_stack))
        handle = codebuild.build_project(
            self.build_stack,
            self.names,
            spec,
            role_arn=role,
            store=self.store,
            log_retention_days=self.spec.log_retention_days,
        )
        self._project_arns.append(self.names.project_arn(self.names.project(spec.purpose)))
        self._project_names.append(handle)
        return handle

    def codebuild_step(
        self,
        name: str,
        project: Exported,
        *,
        inputs: tuple[str, ...],
        outputs: tuple[str, ...] = (),
        run_order: int = 1,
        variables: tuple[tuple[str, Any], ...] = (),
        category: str = "Build",
        namespace: str | None = None,
    ) -> Step:
        configuration: dict[str, Any] = {"ProjectName": project}
        if len(inputs) > 1:
            configuration["PrimarySource"] = inputs[0]
        if variables:
            configuration["EnvironmentVariables"] = ActionEnvironment(variables)
        return Step(
            name=name,
            category=category,  # type: ignore[arg-type]
            provider="CodeBuild",
            configuration=configuration,
            role=self._build_action_role,
            inputs=inputs,
            outputs=outputs,
            run_order=run_order,
            namespace=namespace,
        )

    def source_stage(self) -> Stage:
        role = self.action_role(
            source.source_role(
                self.names,
                self.spec.source,
                self.iam_stack,
                self.store,
                self.connection,
                self.pipeline_role_arn,
            )
        )
        return Stage(SOURCE_STAGE, (source.source_step(self.spec.source, self.connection, role),))

    def repository_build_project(self) -> codebuild.ProjectSpec:
        """The default build: the application repository's own buildspec."""
        build = self.spec.build
        return codebuild.ProjectSpec(
            purpose="build",
            description=f"Builds {self.spec.name} with the repository's {build.buildspec}",
            image=build.image,
            compute_type=build.compute_type,
            timeout_minutes=build.timeout_minutes,
            buildspec=build.buildspec,
            inline=False,
            reports=True,
            writes_artifacts=True,
            cache=build.cache,
            variables=dict(build.variables),
            secrets=tuple(build.secrets),
        )

    def build_stage(self, project: codebuild.ProjectSpec | None = None) -> Stage:
        handle = self.project(project or self.repository_build_project())
        step = self.codebuild_step(
            "Build",
            handle,
            inputs=(source.SOURCE_ARTIFACT,),
            outputs=(BUILD_ARTIFACT,),
            namespace=BUILD_NAMESPACE,
        )
        return Stage("Build", (step,))

    def test_project(self, test: TestStage) -> codebuild.ProjectSpec:
        build = self.spec.build
        commands = test.commands or list(self.defaults.test_commands[test.kind])
        return codebuild.ProjectSpec(
            purpose=f"{test.kind}-tests" if test.kind != "security-scan" else "security-scan",
            description=f"{test.kind} tests of {self.spec.name}",
            image=build.image,
            compute_type=test.compute_type or build.compute_type,
            timeout_minutes=test.timeout_minutes,
            buildspec=codebuild.pipeline_step_buildspec(
                commands,
                install=build.install,
                reports=test.reports,
                cache_paths=build.cache_paths if build.cache != "none" else (),
            ),
            inline=True,
            reports=True,
            writes_artifacts=False,
            cache=build.cache,
            variables={**build.variables, **test.variables},
            # A scanner reads source and installs nothing: it gets no build secrets.
            secrets=(*(build.secrets if test.kind != "security-scan" else ()), *test.secrets),
        )

    def test_stage(self, extra_steps: Sequence[Step] = ()) -> Stage | None:
        """Test layers from the spec plus the blueprint's own checks (an image scan, ...)."""
        if not self.spec.tests and not extra_steps:
            return None
        steps = list(extra_steps)
        for test in sorted(self.spec.tests, key=lambda t: TEST_RUN_ORDER[t.kind]):
            project = self.project(self.test_project(test))
            steps.append(
                self.codebuild_step(
                    TEST_ACTION_NAMES[test.kind],
                    project,
                    inputs=(source.SOURCE_ARTIFACT,),
                    run_order=TEST_RUN_ORDER[test.kind],
                    category="Test",
                )
            )
        return Stage("Test", tuple(sorted(steps, key=lambda step: step.run_order)))

    def ci_stages(
        self,
        build_project: codebuild.ProjectSpec | None = None,
        extra_test_steps: Sequence[Step] = (),
    ) -> list[Stage]:
        stages = [self.source_stage(), self.build_stage(build_project)]
        test = self.test_stage(extra_test_steps)
        return [*stages, test] if test else stages

    def smoke_test_project(self) -> Exported:
        """One project serves every environment; the action passes the URL."""
        if self._smoke_project is None:
            self._smoke_project = self.project(
                codebuild.ProjectSpec(
                    purpose="smoke-test",
                    description=f"Smoke tests {self.spec.name} after each deployment",
                    image=self.spec.build.image,
                    compute_type="BUILD_GENERAL1_SMALL",
                    timeout_minutes=15,
                    buildspec=codebuild.pipeline_step_buildspec(
                        self.spec.smoke_test or self.defaults.smoke_test
                    ),
                    inline=True,
                    reports=False,
                    writes_artifacts=False,
                )
            )
        return self._smoke_project

    # -- environments ----------------------------------------------------------------------

    def gates(self) -> list[tuple[Environment, Any]]:
        gates = []
        for index, env in enumerate(self.spec.environments):
            gate = self.spec.approval_for(index)
            if gate is not None:
                gates.append((env, gate))
        return gates

    def url_parameter(self, index: int) -> RootParameter:
        env = self.spec.environments[index]
        return RootParameter(
            name=f"{env.name.capitalize()}Url",
            description=f"Base URL of {env.name}; the smoke test calls it after each deployment.",
            label=f"{env.name} URL",
            group=environment_group(env.name),
            default=env.url,
            allowed_pattern=URL_PATTERN,
            constraint_description="An http:// or https:// URL.",
            min_length=1,
        )

    def _open_gate(self, index: int, stage: str) -> tuple[Any, Exported] | None:
        """Register the gate in front of environments[index], approved in `stage`: the
        pipeline may notify its approvers, and its approver policy approves only it."""
        gate = self.spec.approval_for(index)
        if gate is None:
            return None
        env = self.spec.environments[index]
        topic = self.notifications.approval_topic_arns[env.name]
        self._pipeline_role.allow(
            f"Notify{env.name.capitalize()}Approvers",
            [sns_actions.Publish],
            [self.iam_stack.use(topic)],
        )
        self._approver_policies[env.name] = approval.approver_policy(
            self.iam_stack, self.names, env.name, gate, stage
        )
        self._approval_stages[env.name] = stage
        self._gates.append((env.name, gate, stage))
        return gate, topic

    def production_entry(self, index: int) -> EntryCondition | None:
        """The release-branch check of environments[index] when it is production: a run of
        any other branch fails there. None elsewhere, and for s3 sources (no branch)."""
        branch = self.spec.release_branch_name()
        if branch is None or index != self.spec.production_index():
            return None
        return source.release_branch_check(branch)

    def approval_stage(self, index: int, review_link: Any = None) -> Stage | None:
        """The gate in front of environments[index], linking the previous environment (its
        URL parameter unless `review_link` is given)."""
        env = self.spec.environments[index]
        opened = self._open_gate(index, approval.gate_stage_name(env.name))
        if opened is None:
            return None
        gate, topic = opened
        previous = self.spec.environments[index - 1].name
        link = review_link if review_link is not None else self.url_parameter(index - 1)
        stage = approval.gate_stage(env.name, previous, gate, topic, link)
        # Checked before the approvers are asked, not only before the deploy.
        return replace(stage, entry=self.production_entry(index))

    def approval_step(
        self, index: int, *, instructions: str, review_link: StackValue | None, run_order: int
    ) -> Step | None:
        """The gate as an action inside the environment's deploy stage (between preparing a
        change and applying it)."""
        opened = self._open_gate(index, deploy_stage_name(self.spec.environments[index].name))
        if opened is None:
            return None
        gate, topic = opened
        return approval.approval_step(
            gate, topic, approval.with_instructions(instructions, gate), review_link, run_order
        )

    def deploy_stage(
        self,
        index: int,
        deploy_steps: Sequence[Step],
        alarms: Sequence[RollbackAlarm],
        target_url: StackValue | str | None = None,
    ) -> Stage:
        """Deploy, then smoke-test the environment (its URL parameter unless `target_url`
        says otherwise); a failure rolls the stage back (or retries), and after success the
        stage watches `alarms` for the bake time."""
        env = self.spec.environments[index]
        url = target_url if target_url is not None else self.url_parameter(index)
        deploy_steps = [*deploy_steps, *self._flags_steps(env.name, deploy_steps, alarms)]
        smoke = self.codebuild_step(
            "SmokeTest",
            self.smoke_test_project(),
            inputs=(source.SOURCE_ARTIFACT,),
            run_order=max(step.run_order for step in deploy_steps) + 1,
            variables=(("TARGET_URL", url), ("DEPLOY_ENVIRONMENT", env.name)),
            category="Test",
        )
        after = self._after_smoke_test(env.name, smoke.run_order, url, alarms)
        self.watch_alarms(alarm_arns(self.names, list(alarms)))
        if env.account is None and (env.region or self.spec.region) == self.spec.region:
            self._rollback_alarms.extend(alarms)  # the dashboard names alarms of its own region
        return Stage(
            name=deploy_stage_name(env.name),
            steps=(*deploy_steps, smoke, *after),
            on_failure=OnFailure(mode=env.on_failure, retry_mode=env.retry_mode),
            entry=self.production_entry(index),
            watch=AlarmWatch(
                alarm_names=tuple(a.handle or a.name for a in alarms),
                wait_minutes=env.bake_minutes,
            ),
        )

    def _flags_steps(
        self, environment: str, deploy_steps: Sequence[Step], alarms: Sequence[RollbackAlarm]
    ) -> list[Step]:
        """With feature flags, the environment's AppConfig deploy after the code deploy; its
        AppConfig environment rolls back on the same alarms."""
        settings = self.spec.feature_flags
        if settings is None:
            return []
        if self._flags is None:
            self._flags = feature_flags.flag_application(self.deploy_stack, self.names, settings)
            self._flags_role = self.action_role(
                feature_flags.deploy_action_role(
                    self.names, self.store, self.iam_stack, self.pipeline_role_arn
                )
            )
        monitors = list(alarms)[: feature_flags.MAX_MONITORS]
        alarm_role = (
            self.role(feature_flags.alarm_role(self.names, environment, monitors))
            if monitors
            else None
        )
        feature_flags.flag_environment(
            self.deploy_stack, self.names, self._flags, environment, monitors, alarm_role
        )
        assert self._flags_role is not None
        return [
            feature_flags.flags_step(
                self._flags,
                environment,
                settings,
                role=self._flags_role,
                run_order=max(step.run_order for step in deploy_steps) + 1,
            )
        ]

    def _after_smoke_test(
        self,
        environment: str,
        smoke_order: int,
        url: StackValue | str,
        alarms: Sequence[RollbackAlarm],
    ) -> list[Step]:
        """The load test and the chaos experiment of the environment the spec names, in that
        order, after its smoke test (never production: the spec check refuses it)."""
        steps: list[Step] = []
        order = smoke_order
        load = self.spec.load_test
        if load is not None and load.environment == environment:
            order += 1
            project = self.project(
                load_test.load_test_project(self.spec, self.store, self.iam_stack)
            )
            steps.append(
                self.codebuild_step(
                    load_test.ACTION_NAME,
                    project,
                    inputs=(source.SOURCE_ARTIFACT,),
                    run_order=order,
                    variables=load_test.step_variables(self.spec, url),
                    category="Test",
                )
            )
        settings = self.spec.chaos
        if settings is not None and settings.environment == environment:
            order += 1
            stops = list(alarms)[: chaos.MAX_STOP_CONDITIONS]
            template_id = chaos.experiment_template(
                self.deploy_stack,
                self.names,
                settings,
                role_arn=self.role(chaos.experiment_role(self.names, settings)),
                alarms=stops,
                key_arn=self.store.key_arn,
                log_retention_days=self.spec.log_retention_days,
            )
            runner = self.project(
                chaos.runner_project(self.names, settings, stops, image=self.spec.build.image)
            )
            steps.append(
                chaos.chaos_step(
                    settings, runner, template_id, role=self._build_action_role, run_order=order
                )
            )
        return steps

    def environment_stages(
        self, index: int, deploy_steps: Sequence[Step], alarms: Sequence[RollbackAlarm]
    ) -> list[Stage]:
        """The optional approval stage and the deploy stage of environments[index]."""
        gate = self.approval_stage(index)
        deploy = self.deploy_stage(index, deploy_steps, alarms)
        return [gate, deploy] if gate is not None else [deploy]

    # -- assembly --------------------------------------------------------------------------

    def _emit_roles(self) -> None:
        store = self.store
        iam_stack = self.iam_stack
        bucket_arn = iam_stack.use(store.bucket_arn)
        pipeline_role = self._pipeline_role
        pipeline_role.allow(*artifact_read(bucket_arn))
        pipeline_role.allow(*artifact_write(bucket_arn))
        pipeline_role.allow(*key_use(iam_stack.use(store.key_arn)))
        pipeline_role.allow("AssumeActionRoles", [sts.AssumeRole], list(self._assumable))
        if self.connection is not None:
            # Reported to be checked against the pipeline role too, not only the action role.
            for grant in source.connection_grants(iam_stack.use(self.connection)):
                pipeline_role.allow(*grant)
        if self._watched_alarms:
            pipeline_role.allow(
                "ReadStageConditionAlarms", [cw.DescribeAlarms], list(self._watched_alarms)
            )
        pipeline_role.build(iam_stack)
        if self._project_arns:
            self._build_action_builder.allow(
                "RunThisPipelinesProjects",
                [cb.StartBuild, cb.BatchGetBuilds, cb.StopBuild],
                list(self._project_arns),
            )
        for builder in self._roles:
            builder.build(iam_stack)
        iam_stack.export("PipelineRoleArn", self.pipeline_role_arn, "CodePipeline service role")

    def _use_regional_stores(self, stores: Sequence[RegionalStore]) -> None:
        """CodePipeline copies artifacts into each action region's store as the pipeline
        role."""
        buckets = [f"arn:${{AWS::Partition}}:s3:::{store.bucket}" for store in stores]
        home_key = self.iam_stack.use(self.store.key_arn)
        role = self._pipeline_role
        role.allow(
            "ReadRegionalArtifacts",
            [
                s3_actions.GetObject,
                s3_actions.GetObjectVersion,
                s3_actions.GetBucketLocation,
                s3_actions.GetBucketVersioning,
                s3_actions.ListBucket,
            ],
            [*(Sub(b) for b in buckets), *(Sub(f"{b}/*") for b in buckets)],
        )
        role.allow(
            "WriteRegionalArtifacts",
            [s3_actions.PutObject],
            [Sub(f"{b}/*") for b in buckets],
        )
        _, actions, _ = key_use(home_key)
        role.allow("UseRegionalArtifactKeys", actions, [s.key_arn(home_key) for s in stores])

    def _trigger(self, update: self_update.SelfUpdate | None) -> GitTrigger | None:
        """With path filters, a change of the committed templates starts the pipeline too, so
        that it updates itself (the spec check keeps a place free for the path)."""
        trigger = source.git_trigger(self.spec.source, self.spec.release_branch_name())
        if trigger is None or update is None or not trigger.include_paths:
            return trigger
        templates = f"{update.template_path}/**"
        if templates in trigger.include_paths:
            return trigger
        return replace(trigger, include_paths=(*trigger.include_paths, templates))

    def _self_update(self) -> self_update.SelfUpdate | None:
        """The UpdatePipeline stage's parts; its project counts among the pipeline's."""
        if not self.spec.self_update:
            return None
        update = self_update.self_update_stage(
            self.names,
            path=self_update.template_path(self.spec),
            build_stack=self.build_stack,
            iam_stack=self.iam_stack,
            store=self.store,
            action_role=self._build_action_role,
            add_role=self.role,
            log_retention_days=self.spec.log_retention_days,
        )
        self._project_arns.append(update.project_arn)
        self._project_names.append(update.project)
        return update

    def _dora_metrics(self, stages: Sequence[Stage]) -> list[dict[str, Any]]:
        """The delivery metrics function, watching the last deploy stage; its dashboard widgets."""
        production = next((s.name for s in reversed(stages) if s.name.startswith("Deploy")), None)
        if not self.spec.dora or production is None:
            return []
        function = dora.dora_function(self.names, production)
        role = self.role(
            dora.dora_role(self.names, function, self.iam_stack.use(self.store.key_arn))
        )
        dora.dora_metrics(
            self.monitor_stack,
            self.names,
            key_arn=self.store.key_arn,
            production_stage=production,
            log_retention_days=self.spec.log_retention_days,
            role_arn=role,
        )
        return dora.dora_widgets(self.names, region=monitoring.REGION)

    def _load_test_files(self) -> dict[str, str]:
        """The baseline comparison the load test runs, for the repository root."""
        if self.spec.load_test is None:
            return {}
        return {load_test.APP_FILE: load_test.perf_baseline_source()}

    def _worker_files(self) -> dict[str, str]:
        """The job worker of the custom actions, and one environment file per action type."""
        if not self.spec.custom_actions:
            return {}
        files = {"worker/job_worker.py": job_worker_source()}
        for action in self.spec.custom_actions:
            variables = custom_actions.worker_environment(action)
            files[f"worker/{action.provider}-{action.version}.env"] = "".join(
                f"{key}={shlex.quote(value)}\n" for key, value in sorted(variables.items())
            )
        return files

    def _with_custom_actions(self, stages: Sequence[Stage]) -> list[Stage]:
        """Each custom action joins the end of its stage; a stage that does not exist yet is
        added after the last stage before the first deployment or approval."""
        actions = self.spec.custom_actions
        if not actions:
            return list(stages)
        custom_actions.custom_actions(
            self.custom_stack, self.names, [a for a in actions if a.register_type]
        )
        result = list(stages)
        for action in actions:
            index = next((i for i, s in enumerate(result) if s.name == action.stage), None)
            if index is None:
                index = next(
                    (i for i, s in enumerate(result) if s.name.startswith(("Deploy", "Approve"))),
                    len(result),
                )
                result.insert(index, Stage(name=action.stage, steps=()))
            stage = result[index]
            order = max((step.run_order for step in stage.steps), default=0) + 1
            result[index] = replace(
                stage, steps=(*stage.steps, custom_actions.custom_step(action, order))
            )
        return result

    def compose(
        self,
        stages: Sequence[Stage],
        *,
        outputs: Sequence[RootOutput] = (),
        files: Mapping[str, str] | None = None,
        regions: Sequence[str] = (),
        regional_stores: Sequence[RegionalStore] = (),
        root_resources: Sequence[AWSObject] = (),
    ) -> TemplateSet:
        """The template set. `root_resources`: resources of the root itself besides the nested
        stacks (multi-region's StackSet of regional stores); the self-update role covers them."""
        start_role = source.start_rule_role(self.names, self.spec.source)
        start_role_arn = self.role(start_role) if start_role else None
        if regional_stores:
            self._use_regional_stores(regional_stores)
        stages = self._with_custom_actions(stages)
        update = self._self_update()
        if update is not None:
            source_at = next(i for i, s in enumerate(stages) if s.name == SOURCE_STAGE)
            stages.insert(source_at + 1, update.stage)
        trail = (
            audit.audit(
                self.audit_stack,
                self.names,
                self.spec.audit,
                region=self.spec.region,
                key_arn=self.store.key_arn,
                add_role=self.role,
            )
            if self.spec.audit is not None
            else None
        )
        dora_widgets = self._dora_metrics(stages)
        self._emit_roles()
        plan = PipelinePlan(
            name=self.spec.name,
            execution_mode=self.spec.execution_mode,
            stages=tuple(stages),
            role=Exported(
                "iam", "PipelineRoleArn", self.pipeline_role_arn, "CodePipeline service role"
            ),
            trigger=self._trigger(update),
            regional_stores=tuple(regional_stores),
            restart_on_update=update is not None,
        )
        pipeline(self.pipeline_stack, plan, self.store)
        # Actions need their projects, groups, cluster access and action types before a run.
        self.pipeline_stack.after += [self.build_stack, self.deploy_stack]
        if self.custom_stack.template.resources:
            self.pipeline_stack.after.append(self.custom_stack)
        source.start_rule(self.pipeline_stack, self.names, self.spec.source, start_role_arn)
        pipeline_name = self.pipeline_stack.export("PipelineName", Ref("Pipeline"), "Pipeline name")
        watched = monitoring.monitoring(
            self.monitor_stack,
            self.names,
            key_arn=self.store.key_arn,
            settings=self.spec.monitoring,
            log_retention_days=self.spec.log_retention_days,
            topic_arn=self.notifications.topic_arn,
            approvals={
                env: monitoring.ApprovalWatch(stage, self.notifications.approval_topic_arns[env])
                for env, stage in self._approval_stages.items()
            },
            project_names=list(dict.fromkeys(self._project_names)),
            deployment_alarms=self._rollback_alarms,
            extra_widgets=dora_widgets,
        )
        children = [
            self.store_stack,
            *([self.source_stack] if self.source_stack else []),
            self.notify_stack,
            self.iam_stack,
            self.build_stack,
            self.deploy_stack,
            self.custom_stack,
            self.pipeline_stack,
            self.monitor_stack,
            self.audit_stack,
        ]
        if update is not None:
            extra_root = {r.title: r.to_dict() for r in root_resources}
            live = [c for c in children if c.template.resources]
            self_update.scope_execution_role(
                update,
                self.names,
                self.iam_stack,
                self_update.stack_templates(live, root_resources=extra_root),
            )
        standard_outputs = [
            RootOutput("PipelineName", pipeline_name, "Name of the pipeline"),
            RootOutput(
                "PipelineConsoleUrl", console_url(self.spec.name), "The pipeline in the console"
            ),
            RootOutput("ArtifactBucketName", self.store.bucket_name, "Artifact bucket"),
            RootOutput(
                "ArtifactKeyArn", self.store.key_arn, "KMS key of artifacts, logs and topics"
            ),
            RootOutput(
                "NotificationTopicArn", self.notifications.topic_arn, "Pipeline event topic"
            ),
            RootOutput(
                "DashboardUrl", watched.dashboard_url, "The pipeline's CloudWatch dashboard"
            ),
            RootOutput(
                "PipelineEventsLogGroupName",
                watched.log_group_name,
                "Every pipeline, stage and action event (CloudWatch Logs Insights)",
            ),
            *[
                RootOutput(
                    f"{env.capitalize()}ApprovalTopicArn", arn, f"Approval requests for {env}"
                )
                for env, arn in self.notifications.approval_topic_arns.items()
            ],
            *[
                RootOutput(
                    f"{env.capitalize()}ApproverPolicyArn",
                    policy,
                    f"Attach to the people who approve {env}; it approves that gate only",
                )
                for env, policy in self._approver_policies.items()
            ],
        ]
        guard = approval.separation_of_duties_policy(self.iam_stack, self.names, self._gates)
        if guard is not None:
            standard_outputs.append(
                RootOutput(
                    guard.name,
                    guard,
                    "Attach to everyone (or add to a permissions boundary): denies approving a "
                    "gate to principals without its approver tag",
                )
            )
        if isinstance(self.connection, Exported):
            standard_outputs.append(
                RootOutput(
                    "ConnectionArn", self.connection, "Complete this connection in the console"
                )
            )
        tags = {
            **dict(sorted(self.spec.tags.items())),
            "pipegen:pipeline": self.spec.name,
            "pipegen:blueprint": self.blueprint,
        }
        regions = regions or sorted(
            {self.spec.region, *(e.region or self.spec.region for e in self.spec.environments)}
        )
        template_set = assemble(
            pipeline=self.spec.name,
            description=self.spec.description
            or f"{self.blueprint} pipeline {self.spec.name} (pipegen)",
            children=[c for c in children if c.template.resources],
            outputs=[*standard_outputs, *outputs],
            tags=tags,
            regions=regions,
            files={**(files or {}), **self._worker_files(), **self._load_test_files()},
            group_order=[
                source.SOURCE_GROUP,
                *[environment_group(env.name) for env in self.spec.environments],
                notifications.NOTIFICATIONS_GROUP,
                self_update.SELF_UPDATE_GROUP,
                audit.AUDIT_GROUP,
            ],
        )
        for resource in root_resources:
            template_set.root.add_resource(resource)
        if update is not None:
            template_set.documents.update(update.documents)
        if trail is not None:
            template_set.extra_templates.update(trail.extra_templates)
        return template_set
