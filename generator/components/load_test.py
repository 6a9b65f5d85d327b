"""Load tests against a stored baseline: k6, JMeter or Gatling after a deployment.

One hardened CodeBuild project (built by `codebuild.build_project`, like every project) installs
the chosen tool at a pinned version, runs it against `$TARGET_URL` (the action passes the
environment's URL, as for the smoke test), then runs `perf_baseline.py compare` (shipped to the
application repository as `app/perf_baseline.py`, source: generator/scripts/perf_baseline.py).
That script fails the action when the p95 latency or the error rate regresses beyond the spec's
tolerance from the baseline in the artifact bucket, and keeps the baseline up to date.

The project's role is the usual project role (its logs, artifact read, the artifact key) plus
GetObject and PutObject on exactly one object: `perf-baselines/<pipeline>/<environment>.json`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from importlib import resources
from typing import Any

from awacs import s3 as s3_actions
from troposphere import Sub

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components import codebuild
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import Grant
from generator.components.source import SOURCE_ARTIFACT, SOURCE_NAMESPACE
from generator.pipeline_plan import ActionEnvironment, Step
from generator.scripts.perf_baseline import baseline_key
from generator.spec.checks import SpecIssue, unknown_environment
from generator.spec.model import Environment, LoadTest, PipelineSpec

PURPOSE = "load-test"
ACTION_NAME = "LoadTest"
APP_FILE = "perf_baseline.py"  # its name in the app/ folder and in the repository
RESULTS = {
    "k6": "load-results/summary.json",
    "jmeter": "load-results/results.jtl",
    "gatling": "load-results",
}
# Gatling 3.11 replaced the bundle's bin/gatling.sh with a Maven project; the bundle is what the
# buildspec runs.
GATLING_LAST_BUNDLE = (3, 10)


def download_url(tool: str, version: str, arch: str) -> str:
    """Where each tool's release archive is published (`arch`: amd64 or arm64, k6 only)."""
    if tool == "k6":
        return (
            f"https://github.com/grafana/k6/releases/download/v{version}/"
            f"k6-v{version}-linux-{arch}.tar.gz"
        )
    if tool == "jmeter":
        return f"https://archive.apache.org/dist/jmeter/binaries/apache-jmeter-{version}.tgz"
    return (
        "https://repo1.maven.org/maven2/io/gatling/highcharts/gatling-charts-highcharts-bundle/"
        f"{version}/gatling-charts-highcharts-bundle-{version}-bundle.zip"
    )


def _arch(image: str) -> str:
    return "arm64" if "aarch64" in image else "amd64"


def install_commands(settings: LoadTest, image: str) -> list[str]:
    """Download the pinned release (checked against `sha256` when the spec gives one) into
    /opt/load-tool, and put the tool on PATH as `load-tool`."""
    tool, version = settings.tool, settings.tool_version()
    archive = {"k6": "/tmp/load-tool.tar.gz", "jmeter": "/tmp/load-tool.tgz"}.get(
        tool, "/tmp/load-tool.zip"
    )
    commands = [f"curl -fsSL --retry 3 -o {archive} {download_url(tool, version, _arch(image))}"]
    if settings.sha256:
        commands.append(f'echo "{settings.sha256}  {archive}" | sha256sum -c -')
    commands.append("mkdir -p /opt/load-tool")
    if tool == "gatling":
        commands.append(f"unzip -q {archive} -d /opt/load-tool")
    else:
        commands.append(f"tar -xzf {archive} -C /opt/load-tool")
    binary = {
        "k6": f"/opt/load-tool/k6-v{version}-linux-{_arch(image)}/k6",
        "jmeter": f"/opt/load-tool/apache-jmeter-{version}/bin/jmeter",
        "gatling": f"/opt/load-tool/gatling-charts-highcharts-bundle-{version}/bin/gatling.sh",
    }[tool]
    # A wrapper, not a symlink: gatling.sh (and jmeter) find their home from their own path.
    commands.append(
        f"printf '#!/bin/sh\\nexec {binary} \"$@\"\\n' > /usr/local/bin/load-tool "
        "&& chmod +x /usr/local/bin/load-tool"
    )
    commands.append(
        "python3 -c 'import boto3' 2>/dev/null || python3 -m pip install --quiet 'boto3>=1.26,<2'"
    )
    return commands


def run_command(settings: LoadTest) -> str:
    """The tool against $TARGET_URL, writing the summary perf_baseline.py reads."""
    script = shlex.quote(settings.script)
    results = RESULTS[settings.tool]
    if settings.tool == "k6":
        return f'load-tool run --summary-export {results} -e TARGET_URL="$TARGET_URL" {script}'
    if settings.tool == "jmeter":
        return (
            f"load-tool -n -t {script} -l {results} "
            "-Jjmeter.save.saveservice.output_format=csv "
            "-Jjmeter.save.saveservice.print_field_names=true "
            '-JTARGET_URL="$TARGET_URL"'
        )
    simulation = shlex.quote(settings.simulation or "")
    return (
        f'JAVA_OPTS="-DTARGET_URL=$TARGET_URL" load-tool -sf {script} -s {simulation} '
        f"-rf {results} -rm local -rd pipegen"
    )


def release_branch(spec: PipelineSpec[Any]) -> str:
    """Passing runs of this branch update the baseline."""
    settings = spec.load_test
    chosen = settings.release_branch if settings is not None else None
    return chosen or spec.release_branch_name() or spec.source.branch


def compare_command(spec: PipelineSpec[Any]) -> str:
    settings = spec.load_test
    if settings is None:
        raise ValueError("the spec has no load_test")
    arguments = [
        "python3",
        APP_FILE,
        "compare",
        "--tool",
        settings.tool,
        "--results",
        RESULTS[settings.tool],
        "--bucket",
        '"$BASELINE_BUCKET"',
        "--pipeline",
        spec.name,
        "--environment",
        settings.environment,
        "--branch",
        '"$SOURCE_BRANCH"',
        "--release-branch",
        shlex.quote(release_branch(spec)),
        "--commit",
        '"$SOURCE_COMMIT"',
        "--p95-percent",
        f"{settings.tolerance.p95_percent:g}",
        "--error-rate-points",
        f"{settings.tolerance.error_rate_points:g}",
    ]
    return " ".join(arguments)


def load_test_buildspec(spec: PipelineSpec[Any], image: str) -> str:
    settings = spec.load_test
    if settings is None:
        raise ValueError("the spec has no load_test")
    missing = (
        f"test -f {APP_FILE} || {{ echo '{APP_FILE} is missing from the repository: copy it "
        f"from the pipeline output app/ folder'; exit 1; }}"
    )
    return codebuild.pipeline_step_buildspec(
        [
            missing,
            "mkdir -p load-results",
            run_command(settings),
            compare_command(spec),
        ],
        install=install_commands(settings, image),
    )


def baseline_object_arn(bucket_arn: Any, pipeline: str, environment: str) -> Sub:
    return Sub(f"${{Bucket}}/{baseline_key(pipeline, environment)}", Bucket=bucket_arn)


def baseline_grant(bucket_arn: Any, pipeline: str, environment: str) -> Grant:
    """Read and replace the one baseline object (ListBucket, in the project role's artifact
    read grant, makes a missing baseline a 404 rather than a 403)."""
    return (
        "ReadWritePerformanceBaseline",
        [s3_actions.GetObject, s3_actions.PutObject],
        [baseline_object_arn(bucket_arn, pipeline, environment)],
    )


def load_test_project(
    spec: PipelineSpec[Any], store: ArtifactStore, iam_stack: ChildStack
) -> codebuild.ProjectSpec:
    """The project for `PipelineComposer.project()`; `iam_stack` is the stack its role goes in
    (for the bucket ARN of the baseline grant)."""
    settings = spec.load_test
    if settings is None:
        raise ValueError("the spec has no load_test")
    image = spec.build.image
    bucket_arn = iam_stack.use(store.bucket_arn)
    return codebuild.ProjectSpec(
        purpose=PURPOSE,
        description=f"{settings.tool} load test of {spec.name} in {settings.environment}, "
        "compared with the stored baseline",
        image=image,
        compute_type=settings.compute_type,
        timeout_minutes=settings.timeout_minutes,
        buildspec=load_test_buildspec(spec, image),
        inline=True,
        reports=False,
        writes_artifacts=False,
        cache="none",
        variables={"BASELINE_BUCKET": store.bucket_name},
        extra_grants=(baseline_grant(bucket_arn, spec.name, settings.environment),),
    )


def source_variables(spec: PipelineSpec[Any]) -> tuple[tuple[str, str], ...]:
    """SOURCE_BRANCH and SOURCE_COMMIT from the source action's variables. An s3 source has no
    branch: every passing run counts as a run of the release branch."""
    if spec.source.provider == "s3":
        return (("SOURCE_BRANCH", release_branch(spec)), ("SOURCE_COMMIT", "s3-source"))
    return (
        ("SOURCE_BRANCH", f"#{{{SOURCE_NAMESPACE}.BranchName}}"),
        ("SOURCE_COMMIT", f"#{{{SOURCE_NAMESPACE}.CommitId}}"),
    )


def step_variables(
    spec: PipelineSpec[Any], target_url: StackValue | str
) -> tuple[tuple[str, Any], ...]:
    """The action's environment variables (for `PipelineComposer.codebuild_step` too)."""
    settings = spec.load_test
    if settings is None:
        raise ValueError("the spec has no load_test")
    return (
        ("TARGET_URL", target_url),
        ("DEPLOY_ENVIRONMENT", settings.environment),
        *source_variables(spec),
    )


def load_test_step(
    spec: PipelineSpec[Any],
    project: Exported,
    *,
    role: StackValue,
    target_url: StackValue | str,
    after: int,
) -> Step:
    """The Test action, in the environment's deploy stage after the action of run order
    `after` (the smoke test). `role`: the CodeBuild action role."""
    return Step(
        name=ACTION_NAME,
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": project,
            "EnvironmentVariables": ActionEnvironment(step_variables(spec, target_url)),
        },
        role=role,
        inputs=(SOURCE_ARTIFACT,),
        run_order=after + 1,
    )


def perf_baseline_source() -> str:
    """The text of `app/perf_baseline.py`."""
    return resources.files("generator.scripts").joinpath("perf_baseline.py").read_text()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def check_load_test(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Cross-field rules of the load_test block."""
    settings = spec.load_test
    if settings is None:
        return
    missing = unknown_environment(spec, "load_test", settings)
    if missing:
        yield missing
    if settings.tool == "gatling" and not settings.simulation:
        yield SpecIssue(
            ("load_test", "simulation"),
            "gatling needs the simulation class to run: add simulation (e.g. app.BasicSimulation)",
        )
    if settings.tool != "gatling" and settings.simulation:
        yield SpecIssue(
            ("load_test", "simulation"),
            f"simulation applies to gatling only; remove it for {settings.tool}",
        )
    if settings.tool == "gatling" and _version(settings.tool_version())[:2] > GATLING_LAST_BUNDLE:
        yield SpecIssue(
            ("load_test", "version"),
            f"Gatling {settings.tool_version()} has no standalone bundle (bin/gatling.sh); use "
            "3.10.5 or another 3.10 or earlier version",
        )
    if spec.source.provider == "s3" and settings.release_branch is not None:
        yield SpecIssue(
            ("load_test", "release_branch"),
            "an s3 source has no branches: every passing run updates the baseline; remove "
            "release_branch",
        )
