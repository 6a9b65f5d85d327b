"""CodeBuild projects: one role, one encrypted log group and one report group each."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from awacs import codebuild as cb
from awacs import secretsmanager, ssm
from troposphere import GetAtt, Sub, codebuild

from generator.assembly.stack import ChildStack, Exported
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import Grant, artifact_read, artifact_write, key_use, write_logs
from generator.components.iam import RoleBuilder, service
from generator.components.log_groups import encrypted_log_group
from generator.naming import Names, arn
from generator.spec.model import SecretReference
from generator.templating import render_template

LOCAL_CACHE_MODES = ("LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE")
DOCKER_CACHE_MODES = ("LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE")


@dataclass(frozen=True)
class ProjectSpec:
    """Everything that makes one CodeBuild project, independent of CloudFormation."""

    purpose: str  # "build", "unit-tests", ... : part of the project name
    description: str
    image: str
    compute_type: str
    timeout_minutes: int
    buildspec: str  # inline buildspec text, or a path in the source artifact
    inline: bool
    reports: bool
    writes_artifacts: bool
    cache: str = "none"  # "s3" | "local" | "none"
    local_cache_modes: tuple[str, ...] = LOCAL_CACHE_MODES
    variables: dict[str, Any] = field(default_factory=dict)  # text, or stack handles
    secrets: Sequence[SecretReference] = ()
    extra_grants: tuple[Grant, ...] = ()  # what this project does beyond logs, reports, cache
    privileged_reason: str | None = None  # set only for docker builds; recorded in Metadata


def pipeline_step_buildspec(
    commands: Sequence[str],
    *,
    install: Sequence[str] = (),
    reports: str | None = None,
    cache_paths: Sequence[str] = (),
) -> str:
    """Render an inline buildspec. `${` in user commands is escaped for Fn::Sub."""

    def escape(text: str) -> str:
        return text.replace("${", "${!")

    report_dir = reports.split("/", 1)[0] if reports and "/" in reports else "reports"
    prepare_reports = escape(f"mkdir -p {shlex.quote(report_dir)}")
    return render_template(
        "generator",
        "templates/buildspecs",
        "pipeline-step.yml.j2",
        install=[escape(c) for c in install],
        commands=[escape(c) for c in commands],
        reports=escape(reports) if reports else None,
        prepare_reports=prepare_reports,
        cache_paths=[escape(p) for p in cache_paths],
        exported_variables=[],
    )


def secret_resource(secret: SecretReference) -> Any:
    """The ARN a secret reference resolves to, for the role's read grant."""
    ref = secret.ref
    if secret.source == "parameter-store":
        name = ref.lstrip("/")
        return arn("ssm", f"parameter/{name}")
    if ref.startswith("arn:"):
        return ":".join(ref.split(":")[:7])  # drop :json-key:version-stage:version-id
    secret_id = ref.split(":", 1)[0]
    # Secrets Manager appends six random characters to the name in the ARN.
    return arn("secretsmanager", f"secret:{secret_id}-??????")


def project_role(
    names: Names, spec: ProjectSpec, store: ArtifactStore, stack: ChildStack
) -> RoleBuilder:
    project = names.project(spec.purpose)
    log_group = names.build_log_group(project)
    role = RoleBuilder(
        logical_id=f"{_pascal(spec.purpose)}ProjectRole",
        description=f"CodeBuild project {project}",
        trust=service("codebuild"),
        pipeline=names.pipeline,
    )
    role.allow(*write_logs(names, log_group))
    bucket_arn = stack.use(store.bucket_arn)
    role.allow(*artifact_read(bucket_arn))
    if spec.writes_artifacts:
        role.allow(*artifact_write(bucket_arn))
    else:
        # Test code must not be able to overwrite the artifacts the deploy stages install.
        own = []
        if spec.reports:
            own.append(f"reports/{project}/*")
        if spec.cache == "s3":
            own.append(f"cache/{project}/*")
        if own:
            role.allow(*artifact_write(bucket_arn, own))
    role.allow(*key_use(stack.use(store.key_arn)))
    if spec.reports:
        role.allow(
            "PublishTestReports",
            [
                cb.CreateReportGroup,
                cb.CreateReport,
                cb.UpdateReport,
                cb.BatchPutTestCases,
                cb.BatchPutCodeCoverages,
            ],
            [names.report_group_arn(project)],
        )
    for grant in spec.extra_grants:
        role.allow(*grant)
    manager = [s for s in spec.secrets if s.source == "secrets-manager"]
    store_params = [s for s in spec.secrets if s.source == "parameter-store"]
    if manager:
        role.allow(
            "ReadBuildSecrets",
            [secretsmanager.GetSecretValue],
            [secret_resource(s) for s in manager],
        )
    if store_params:
        role.allow(
            "ReadBuildParameters",
            [ssm.GetParameters, ssm.GetParameter],
            [secret_resource(s) for s in store_params],
        )
    return role


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.split("-"))


def environment_variables(
    spec: ProjectSpec, stack: ChildStack
) -> list[codebuild.EnvironmentVariable]:
    variables = [
        codebuild.EnvironmentVariable(
            Name=name,
            Type="PLAINTEXT",
            Value=value if isinstance(value, str) else stack.use(value),
        )
        for name, value in sorted(spec.variables.items())
    ]
    for secret in spec.secrets:
        kind = "SECRETS_MANAGER" if secret.source == "secrets-manager" else "PARAMETER_STORE"
        variables.append(
            codebuild.EnvironmentVariable(Name=secret.name, Type=kind, Value=secret.ref)
        )
    return variables


def build_log_group(stack: ChildStack, names: Names, purpose: str, key_arn: Any, days: int) -> None:
    project = names.project(purpose)
    encrypted_log_group(
        stack, f"{_pascal(purpose)}LogGroup", names.build_log_group(project), key_arn, days
    )


def report_group(
    stack: ChildStack, names: Names, purpose: str, bucket: Any, key_arn: Any
) -> codebuild.ReportGroup:
    project = names.project(purpose)
    return stack.add(
        codebuild.ReportGroup(
            f"{_pascal(purpose)}ReportGroup",
            Name=names.report_group(project),
            Type="TEST",
            DeleteReports=True,
            ExportConfig=codebuild.ReportExportConfig(
                ExportConfigType="S3",
                S3Destination=codebuild.S3ReportExportConfig(
                    Bucket=bucket,
                    Path=f"reports/{project}",
                    Packaging="NONE",
                    EncryptionKey=key_arn,
                    EncryptionDisabled=False,
                ),
            ),
        )
    )


def cache_config(spec: ProjectSpec, bucket: Any, project: str) -> codebuild.ProjectCache:
    if spec.cache == "s3":
        return codebuild.ProjectCache(
            Type="S3", Location=Sub(f"${{Bucket}}/cache/{project}", Bucket=bucket)
        )
    if spec.cache == "local":
        return codebuild.ProjectCache(Type="LOCAL", Modes=list(spec.local_cache_modes))
    return codebuild.ProjectCache(Type="NO_CACHE")


def _privileged_metadata(spec: ProjectSpec) -> dict[str, Any]:
    if spec.privileged_reason is None:
        return {}
    return {
        # checkov 3.3.30 has no CloudFormation check for privileged mode; guardrail E9404 reads
        # this reason.
        "Metadata": {"pipegen": {"exempt": {"privileged": spec.privileged_reason}}}
    }


def build_project(
    stack: ChildStack,
    names: Names,
    spec: ProjectSpec,
    *,
    role_arn: Exported,
    store: ArtifactStore,
    log_retention_days: int,
) -> Exported:
    """Add the project, its log group and report group; returns its name as a handle, so that
    the pipeline stack depends on the project existing."""
    project = names.project(spec.purpose)
    key_arn = stack.use(store.key_arn)
    bucket = stack.use(store.bucket_name)
    build_log_group(stack, names, spec.purpose, key_arn, log_retention_days)
    buildspec: Any = spec.buildspec
    if spec.inline and spec.reports and "${ReportGroupArn}" in spec.buildspec:
        group = report_group(stack, names, spec.purpose, bucket, key_arn)
        buildspec = Sub(spec.buildspec, ReportGroupArn=GetAtt(group, "Arn"))
    elif spec.inline and spec.reports:
        # The buildspec names the group by its short name; CodeBuild prefixes the project's.
        report_group(stack, names, spec.purpose, bucket, key_arn)
        buildspec = spec.buildspec.replace("${!", "${")
    elif spec.inline:
        buildspec = spec.buildspec.replace("${!", "${")  # no Fn::Sub, so no escaping
    elif spec.reports:
        report_group(stack, names, spec.purpose, bucket, key_arn)
    environment: dict[str, Any] = {
        "Type": "ARM_CONTAINER" if "aarch64" in spec.image else "LINUX_CONTAINER",
        "Image": spec.image,
        "ComputeType": spec.compute_type,
        "ImagePullCredentialsType": "CODEBUILD",
        "PrivilegedMode": spec.privileged_reason is not None,
    }
    variables = environment_variables(spec, stack)
    if variables:
        environment["EnvironmentVariables"] = variables
    created = stack.add(
        codebuild.Project(
            f"{_pascal(spec.purpose)}Project",
            Name=project,
            Description=spec.description,
            ServiceRole=stack.use(role_arn),
            EncryptionKey=key_arn,
            Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=buildspec),
            Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
            Environment=codebuild.Environment(**environment),
            Cache=cache_config(spec, bucket, project),
            LogsConfig=codebuild.LogsConfig(
                CloudWatchLogs=codebuild.CloudWatchLogs(
                    Status="ENABLED", GroupName=names.build_log_group(project)
                ),
                S3Logs=codebuild.S3Logs(Status="DISABLED"),
            ),
            **_privileged_metadata(spec),
            TimeoutInMinutes=spec.timeout_minutes,
            QueuedTimeoutInMinutes=60,
        )
    )
    return stack.export(f"{created.title}Name", created.ref(), f"CodeBuild project {project}")
