"""Rules that span several fields of a spec. Each returns issues located at a field path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from generator.spec.model import (
    GIT_CONNECTION_PROVIDERS,
    LOG_RETENTION_DAYS,
    Chaos,
    Environment,
    LoadTest,
    PipelineSpec,
)

Loc = tuple[str | int, ...]

_TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]{1,256}")
# Plaintext variables with these names are almost always secrets in disguise.
_SECRET_LOOKING = re.compile(
    r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|AWS_ACCESS_KEY_ID|CREDENTIAL", re.I
)


@dataclass(frozen=True)
class SpecIssue:
    loc: Loc
    message: str


MAX_TRIGGER_PATHS = 8  # CodePipeline: file path filters per trigger


def _check_self_update_trigger(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """A self-updating pipeline with path filters also watches its committed templates."""
    include = spec.source.file_paths.include
    if not (spec.self_update and include):
        return
    templates = f"{spec.self_update_path or f'output/{spec.name}'}/**"
    if templates not in include and len(include) >= MAX_TRIGGER_PATHS:
        yield SpecIssue(
            ("source", "file_paths", "include"),
            f"{len(include)} paths leave no place for {templates!r}, which a self-updating "
            f"pipeline adds so that template changes start it (a trigger takes at most "
            f"{MAX_TRIGGER_PATHS}); merge two patterns, or set self_update: false",
        )


def check_common(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Rules every blueprint shares."""
    yield from _check_source(spec)
    yield from _check_build(spec)
    yield from _check_tests(spec)
    yield from _check_environments(spec)
    yield from _check_release_branch(spec)
    yield from _check_self_update_trigger(spec)
    if spec.log_retention_days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS if d >= 365)
        yield SpecIssue(
            ("log_retention_days",),
            f"{spec.log_retention_days} is not a CloudWatch Logs retention period; "
            f"use one of {allowed}",
        )
    elif spec.log_retention_days < 365:
        yield SpecIssue(
            ("log_retention_days",),
            f"{spec.log_retention_days} days is below the 365 days that audits expect "
            "(Security Hub CloudWatch.16); use 365 or more",
        )
    for index, earlier, kind in repeats(spec.notifications.events):
        yield SpecIssue(
            ("notifications", "events", index),
            f"{kind!r} is already listed at notifications.events[{earlier}]; list it once",
        )
    for key, value in spec.tags.items():
        if not _TAG_VALUE.fullmatch(value):
            yield SpecIssue(
                ("tags", key),
                f"tag value {value!r} is not allowed: use 1-256 letters, digits, spaces and "
                "_.:/=+-@ (AWS's tag characters; some resources refuse an empty value)",
            )
    for key in spec.tags:
        if key.startswith("pipegen:"):
            yield SpecIssue(
                ("tags", key),
                f"tag key {key!r} is reserved: pipegen sets pipegen:* tags itself",
            )


def check_single_account(spec: PipelineSpec[Environment], blueprint: str) -> Iterator[SpecIssue]:
    """For blueprints that deploy where the pipeline runs; multi-region owns the rest."""
    for index, env in enumerate(spec.environments):
        if env.account is not None:
            yield SpecIssue(
                ("environments", index, "account"),
                f"{blueprint} deploys into the account that runs the pipeline; remove account, "
                "or use the multi-region blueprint for cross-account delivery",
            )
        if env.region is not None and env.region != spec.region:
            yield SpecIssue(
                ("environments", index, "region"),
                f"{blueprint} deploys in the pipeline's region ({spec.region}); remove region, "
                "or use the multi-region blueprint",
            )


def _check_source(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    source = spec.source
    if source.provider in GIT_CONNECTION_PROVIDERS:
        if not source.repository:
            yield SpecIssue(
                ("source", "repository"),
                f"provider {source.provider} needs repository: add it as 'owner/name'",
            )
        elif not re.fullmatch(r"[\w.-]+(/[\w.-]+)+", source.repository):
            yield SpecIssue(
                ("source", "repository"),
                f"{source.repository!r} is not 'owner/name'; write it like 'my-org/my-app'",
            )
    elif source.provider == "codecommit" and not source.repository:
        yield SpecIssue(
            ("source", "repository"),
            "provider codecommit needs repository: add the repository name",
        )
    elif source.provider == "codecommit" and not re.fullmatch(
        r"[\w.-]{1,100}", str(source.repository)
    ):
        yield SpecIssue(
            ("source", "repository"),
            f"{source.repository!r} is not a CodeCommit repository name (letters, digits, "
            "_ . -; at most 100)",
        )
    if source.provider == "s3":
        if not source.bucket:
            yield SpecIssue(
                ("source", "bucket"),
                "provider s3 needs bucket: add the name of the bucket that holds the source zip",
            )
        elif not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", source.bucket):
            yield SpecIssue(
                ("source", "bucket"),
                f"{source.bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, "
                "dots and hyphens)",
            )
        if not source.object_key:
            yield SpecIssue(
                ("source", "object_key"),
                "provider s3 needs object_key, the key of the source zip (e.g. 'app/source.zip')",
            )
    else:
        for field in ("bucket", "object_key"):
            if getattr(source, field) is not None:
                yield SpecIssue(
                    ("source", field),
                    f"{field} applies to provider s3 only; remove it for provider "
                    f"{source.provider}",
                )
    filters = source.file_paths.include or source.file_paths.exclude
    if filters and source.provider not in GIT_CONNECTION_PROVIDERS:
        yield SpecIssue(
            ("source", "file_paths"),
            "file_paths filters need a git trigger, which exists only for connection providers "
            f"({', '.join(GIT_CONNECTION_PROVIDERS)}); remove file_paths for {source.provider}",
        )
    if source.connection == "create" and source.provider not in GIT_CONNECTION_PROVIDERS:
        yield SpecIssue(
            ("source", "connection"),
            f"connection: create applies to connection providers only, not {source.provider}",
        )
    if source.provider == "github-enterprise" and source.connection == "create":
        yield SpecIssue(
            ("source", "connection"),
            "a github-enterprise connection needs a host registered first; use "
            "connection: parameter and pass the connection ARN",
        )
    if source.provider == "gitlab" and source.connection == "create":
        yield SpecIssue(
            ("source", "connection"),
            "CloudFormation creates connections to Bitbucket, GitHub and GitHub Enterprise "
            "Server only; create the gitlab connection in the console and use connection: "
            "parameter",
        )
    for part in ("include", "exclude"):
        for index, earlier, glob in repeats(getattr(source.file_paths, part)):
            yield SpecIssue(
                ("source", "file_paths", part, index),
                f"{glob!r} is already listed at file_paths.{part}[{earlier}]; list it once",
            )


def _check_build(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    for name in spec.build.variables:
        if _SECRET_LOOKING.search(name):
            yield SpecIssue(
                ("build", "variables", name),
                f"{name} looks like a secret; move it to build.secrets with source "
                "secrets-manager or parameter-store so its value stays out of the template",
            )
    seen: set[str] = set()
    for index, secret in enumerate(spec.build.secrets):
        if secret.name in seen or secret.name in spec.build.variables:
            yield SpecIssue(
                ("build", "secrets", index, "name"),
                f"variable {secret.name} is defined twice; each build variable needs one source",
            )
        seen.add(secret.name)
        if secret.source == "parameter-store" and not re.fullmatch(
            r"/?[A-Za-z0-9_.\-/]+", secret.ref
        ):
            yield SpecIssue(
                ("build", "secrets", index, "ref"),
                f"{secret.ref!r} is not a Parameter Store name (letters, digits, _.-/)",
            )
    if spec.build.cache == "none" and spec.build.cache_paths:
        yield SpecIssue(
            ("build", "cache_paths"),
            "cache_paths has no effect with cache: none; set cache to s3 or local",
        )


def repeats(values: Iterable[str]) -> Iterator[tuple[int, int, str]]:
    """(index, index of the first occurrence, value) for every value seen before."""
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first:
            yield index, first[value], value
        first.setdefault(value, index)


def unknown_environment(
    spec: PipelineSpec[Environment], block: str, settings: LoadTest | Chaos, which: str = ""
) -> SpecIssue | None:
    """The issue when `settings.environment` names no environment of `spec`; `which` narrows
    the names it offers (" other than production")."""
    names = [env.name for env in spec.environments]
    if settings.environment in names:
        return None
    default = "" if "environment" in settings.model_fields_set else " (the default)"
    return SpecIssue(
        (block, "environment"),
        f"there is no environment {settings.environment!r}{default}; name one of "
        f"{', '.join(names)}{which}",
    )


def _check_tests(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    for index, earlier, kind in repeats(t.kind for t in spec.tests):
        yield SpecIssue(
            ("tests", index, "kind"),
            f"test kind {kind!r} is already listed at tests[{earlier}]; list each kind once",
        )
    for index, test in enumerate(spec.tests):
        for name in test.variables:
            if _SECRET_LOOKING.search(name):
                yield SpecIssue(
                    ("tests", index, "variables", name),
                    f"{name} looks like a secret; move it to tests[{index}].secrets with source "
                    "secrets-manager or parameter-store so its value stays out of the template",
                )


def _check_environments(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    for index, earlier, name in repeats(e.name for e in spec.environments):
        yield SpecIssue(
            ("environments", index, "name"),
            f"environment {name!r} is already defined at environments[{earlier}]; "
            "environment names must be unique",
        )
    for index, env in enumerate(spec.environments):
        alarms = getattr(getattr(env, "deploy", None), "alarms", None) or []
        for position, earlier, alarm in repeats(alarms):
            yield SpecIssue(
                ("environments", index, "deploy", "alarms", position),
                f"alarm {alarm!r} is already listed at alarms[{earlier}]; list it once",
            )
        if index == 0 and env.approval is not None:
            yield SpecIssue(
                ("environments", 0, "approval"),
                "the first environment cannot have an approval gate: nothing has been deployed "
                "for an approver to review yet; gate a later environment instead",
            )
        if spec.execution_mode == "PARALLEL" and env.on_failure == "rollback":
            yield SpecIssue(
                ("environments", index, "on_failure"),
                "PARALLEL pipelines cannot roll a stage back (CodePipeline execution modes); "
                "set on_failure: retry, or use execution_mode QUEUED or SUPERSEDED",
            )
        if env.on_failure != "retry" and "retry_mode" in env.model_fields_set:
            yield SpecIssue(
                ("environments", index, "retry_mode"),
                "retry_mode applies only with on_failure: retry",
            )


def _check_release_branch(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Production deploys only runs of one branch (see PipelineSpec.release_branch_name)."""
    marked = [index for index, env in enumerate(spec.environments) if env.production]
    for index in marked[1:]:
        first = spec.environments[marked[0]].name
        yield SpecIssue(
            ("environments", index, "production"),
            f"environments[{marked[0]}] ({first}) is already production; mark one environment "
            "production: true (later environments are reached only through it)",
        )
    branch = spec.release_branch
    if branch is None:
        return
    source = spec.source
    if source.provider == "s3":
        yield SpecIssue(
            ("release_branch",),
            "provider s3 has no branch to check, so production cannot be limited to one; "
            "remove release_branch",
        )
    elif re.search(r"[\s*?\[\]]", branch):
        yield SpecIssue(
            ("release_branch",),
            f"{branch!r} is not a branch name: production compares it with the run's branch "
            "exactly, so it takes no spaces or glob characters (* ? [ ])",
        )
    elif source.provider == "codecommit" and branch != source.branch:
        yield SpecIssue(
            ("release_branch",),
            f"the CodeCommit source action always checks out source.branch ({source.branch!r}), "
            f"so no run would reach production; set release_branch to {source.branch!r} or "
            "remove it",
        )
