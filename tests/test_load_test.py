"""Load tests (generator/components/load_test.py): the spec model and checks, the buildspec per
tool, the project and its role (one baseline object, nothing more), the pipeline step, and a
cfn-lint run with the guardrail rules over the stacks that hold them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.assembly.stack import ChildStack, Exported
from generator.components import codebuild, load_test
from generator.errors import SpecError
from generator.naming import Names
from generator.pipeline_plan import Stage
from generator.spec.loader import format_loc, validate_model
from generator.spec.model import LOAD_TEST_TOOL_VERSIONS, Environment, LoadTest, PipelineSpec
from tests.component_lint import (
    ARTIFACT_STORE,
    built_role,
    lint_stacks,
    pipeline_stack,
    resolved,
    spec_data,
)

NAMES = Names("shop")
BASE = spec_data("shop", "dev", "staging", "prod")
ACTION_ROLE = Exported("iam", "BuildActionRoleArn", "r", "CodeBuild action role")


def spec_of(load: dict[str, Any] | None = None, **fields: Any) -> PipelineSpec[Environment]:
    data = {**BASE, **fields}
    if load is not None:
        data["load_test"] = {"script": "load/test.js", **load}
    return PipelineSpec[Environment].model_validate(data)


def issues(spec: PipelineSpec[Environment]) -> list[tuple[str, str]]:
    return [(format_loc(i.loc), i.message) for i in load_test.check_load_test(spec)]


def buildspec(spec: PipelineSpec[Environment]) -> dict[str, Any]:
    return dict(yaml.safe_load(load_test.load_test_buildspec(spec, spec.build.image)))


# -- the spec ---------------------------------------------------------------------------------


class TestModel:
    def test_defaults(self) -> None:
        settings = LoadTest.model_validate({"script": "load/test.js"})
        assert (settings.tool, settings.environment, settings.tool_version()) == (
            "k6",
            "staging",
            LOAD_TEST_TOOL_VERSIONS["k6"],
        )
        assert (settings.tolerance.p95_percent, settings.tolerance.error_rate_points) == (10, 1)
        assert spec_of().load_test is None

    @pytest.mark.parametrize(
        ("load", "field", "fragment"),
        [
            ({"script": "../outside.js"}, "load_test.script", "without '..'"),
            ({"script": "/abs/test.js"}, "load_test.script", "a relative path"),
            ({"version": "latest"}, "load_test.version", "write it like 0.54.0"),
            ({"tool": "locust"}, "load_test.tool", "is not one of k6, jmeter, gatling"),
            ({"sha256": "abc"}, "load_test.sha256", ""),
            ({"tolerance": {"p95_percent": -1}}, "load_test.tolerance.p95_percent", ""),
            ({"release_branch": "-x"}, "load_test.release_branch", "branch name"),
        ],
    )
    def test_bad_values_name_the_field(
        self, load: dict[str, Any], field: str, fragment: str
    ) -> None:
        data = {**BASE, "load_test": {"script": "load/test.js", **load}}
        with pytest.raises(SpecError) as error:
            validate_model(PipelineSpec[Environment], data, "spec.yaml", {})
        found = [(p.field, p.message) for p in error.value.problems]
        assert [f for f, _ in found] == [field]
        assert fragment in found[0][1]


class TestChecks:
    def test_a_valid_spec_has_no_issues(self) -> None:
        assert (
            issues(spec_of({"tool": "gatling", "script": "sim", "simulation": "app.Basic"})) == []
        )
        assert issues(spec_of()) == []

    def test_the_environment_must_exist(self) -> None:
        spec = spec_of({}, environments=[{"name": "dev"}, {"name": "prod"}])
        assert issues(spec) == [
            (
                "load_test.environment",
                "there is no environment 'staging' (the default); name one of dev, prod",
            )
        ]
        spec = spec_of({"environment": "qa"})
        assert issues(spec)[0][1].startswith("there is no environment 'qa'; name one of")

    def test_gatling_needs_a_simulation_and_only_gatling_takes_one(self) -> None:
        assert issues(spec_of({"tool": "gatling"})) == [
            (
                "load_test.simulation",
                "gatling needs the simulation class to run: add simulation (e.g. "
                "app.BasicSimulation)",
            )
        ]
        assert issues(spec_of({"simulation": "app.Basic"})) == [
            ("load_test.simulation", "simulation applies to gatling only; remove it for k6")
        ]

    def test_gatling_versions_without_a_bundle(self) -> None:
        spec = spec_of({"tool": "gatling", "simulation": "a.B", "version": "3.11.5"})
        assert issues(spec) == [
            (
                "load_test.version",
                "Gatling 3.11.5 has no standalone bundle (bin/gatling.sh); use 3.10.5 or "
                "another 3.10 or earlier version",
            )
        ]

    def test_s3_sources_have_no_release_branch(self) -> None:
        source = {"provider": "s3", "bucket": "my-sources", "object_key": "shop.zip"}
        spec = spec_of({"release_branch": "main"}, source=source)
        assert issues(spec)[0][0] == "load_test.release_branch"


# -- the buildspec ----------------------------------------------------------------------------


class TestBuildspec:
    def test_k6_pinned_download_run_and_compare(self) -> None:
        phases = buildspec(spec_of({}))["phases"]
        assert phases["install"]["commands"][:4] == [
            "curl -fsSL --retry 3 -o /tmp/load-tool.tar.gz https://github.com/grafana/k6/"
            "releases/download/v0.54.0/k6-v0.54.0-linux-amd64.tar.gz",
            "mkdir -p /opt/load-tool",
            "tar -xzf /tmp/load-tool.tar.gz -C /opt/load-tool",
            "printf '#!/bin/sh\\nexec /opt/load-tool/k6-v0.54.0-linux-amd64/k6 \"$@\"\\n' "
            "> /usr/local/bin/load-tool && chmod +x /usr/local/bin/load-tool",
        ]
        build = phases["build"]["commands"]
        assert build[0].startswith("test -f perf_baseline.py || {")
        assert build[2] == (
            'load-tool run --summary-export load-results/summary.json -e TARGET_URL="$TARGET_URL" '
            "load/test.js"
        )
        assert build[3] == (
            "python3 perf_baseline.py compare --tool k6 --results load-results/summary.json "
            '--bucket "$BASELINE_BUCKET" --pipeline shop --environment staging '
            '--branch "$SOURCE_BRANCH" --release-branch main --commit "$SOURCE_COMMIT" '
            "--p95-percent 10 --error-rate-points 1"
        )

    def test_version_checksum_and_arm_image(self) -> None:
        digest = "ab" * 32
        spec = spec_of(
            {"version": "0.52.0", "sha256": digest},
            build={"image": "aws/codebuild/amazonlinux-aarch64-standard:3.0"},
        )
        install = buildspec(spec)["phases"]["install"]["commands"]
        assert "k6-v0.52.0-linux-arm64.tar.gz" in install[0]
        assert install[1] == f'echo "{digest}  /tmp/load-tool.tar.gz" | sha256sum -c -'

    def test_jmeter(self) -> None:
        spec = spec_of({"tool": "jmeter", "script": "load/plan.jmx", "environment": "dev"})
        phases = buildspec(spec)["phases"]
        assert phases["install"]["commands"][0].endswith(
            "https://archive.apache.org/dist/jmeter/binaries/apache-jmeter-5.6.3.tgz"
        )
        assert (
            "exec /opt/load-tool/apache-jmeter-5.6.3/bin/jmeter "
            in (phases["install"]["commands"][3])
        )
        assert phases["build"]["commands"][2] == (
            "load-tool -n -t load/plan.jmx -l load-results/results.jtl "
            "-Jjmeter.save.saveservice.output_format=csv "
            "-Jjmeter.save.saveservice.print_field_names=true "
            '-JTARGET_URL="$TARGET_URL"'
        )
        assert "--tool jmeter --results load-results/results.jtl" in phases["build"]["commands"][3]
        assert "--environment dev" in phases["build"]["commands"][3]

    def test_gatling(self) -> None:
        spec = spec_of({"tool": "gatling", "script": "load/simulations", "simulation": "a.Sim"})
        phases = buildspec(spec)["phases"]
        assert phases["install"]["commands"][0].endswith(
            "/io/gatling/highcharts/gatling-charts-highcharts-bundle/3.10.5/"
            "gatling-charts-highcharts-bundle-3.10.5-bundle.zip"
        )
        assert phases["install"]["commands"][2] == "unzip -q /tmp/load-tool.zip -d /opt/load-tool"
        assert phases["build"]["commands"][2] == (
            'JAVA_OPTS="-DTARGET_URL=$TARGET_URL" load-tool -sf load/simulations -s a.Sim '
            "-rf load-results -rm local -rd pipegen"
        )

    def test_the_wrapper_runs_the_tool_from_its_own_path(self, tmp_path: Path) -> None:
        """gatling.sh finds its home from $0: the wrapper execs it by its real path."""
        spec = spec_of({"tool": "gatling", "script": "sims", "simulation": "a.Sim"})
        wrapper = buildspec(spec)["phases"]["install"]["commands"][3]
        home = tmp_path / "opt" / "gatling-charts-highcharts-bundle-3.10.5" / "bin"
        home.mkdir(parents=True)
        (home / "gatling.sh").write_text('#!/bin/sh\necho "$0" "$@"\n')
        (home / "gatling.sh").chmod(0o755)
        command = wrapper.replace("/opt/load-tool", str(tmp_path / "opt")).replace(
            "/usr/local/bin", str(tmp_path)
        )
        subprocess.run(["bash", "-c", command], check=True)
        done = subprocess.run(
            [str(tmp_path / "load-tool"), "-s", "a b"], capture_output=True, text=True, check=True
        )
        assert done.stdout == f"{home / 'gatling.sh'} -s a b\n"

    def test_tolerance_and_release_branch(self) -> None:
        spec = spec_of(
            {"tolerance": {"p95_percent": 12.5, "error_rate_points": 0.2}},
            release_branch="release",
        )
        compare = buildspec(spec)["phases"]["build"]["commands"][3]
        assert "--release-branch release" in compare
        assert compare.endswith("--p95-percent 12.5 --error-rate-points 0.2")
        spec = spec_of({"release_branch": "perf"}, release_branch="release")
        assert "--release-branch perf " in buildspec(spec)["phases"]["build"]["commands"][3]


# -- the project, its role and the step ---------------------------------------------------------


def built(spec: PipelineSpec[Environment]) -> tuple[ChildStack, ChildStack, Exported]:
    iam = ChildStack("iam", "shop: roles")
    build = ChildStack("build-projects", "shop: projects")
    project = load_test.load_test_project(spec, ARTIFACT_STORE, iam)
    role = built_role(iam, codebuild.project_role(NAMES, project, ARTIFACT_STORE, iam))
    handle = codebuild.build_project(
        build, NAMES, project, role_arn=role, store=ARTIFACT_STORE, log_retention_days=365
    )
    return iam, build, handle


def statements(iam: ChildStack) -> dict[str, Any]:
    policy = resolved(iam.template.resources["LoadTestProjectRolePolicy"])
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


class TestProject:
    def test_hardened_project(self) -> None:
        _, build, _ = built(spec_of({}))
        props = resolved(build.template.resources["LoadTestProject"])["Properties"]
        assert props["Name"] == "shop-load-test"
        assert props["Environment"]["PrivilegedMode"] is False
        assert props["Environment"]["ComputeType"] == "BUILD_GENERAL1_MEDIUM"
        assert props["EncryptionKey"] == {"Ref": "ArtifactKeyArn"}
        assert props["Environment"]["EnvironmentVariables"] == [
            {"Name": "BASELINE_BUCKET", "Type": "PLAINTEXT", "Value": {"Ref": "ArtifactBucketName"}}
        ]
        assert props["TimeoutInMinutes"] == 30

    def test_role_reads_and_writes_exactly_the_baseline(self) -> None:
        iam, _, _ = built(spec_of({"environment": "dev"}))
        found = statements(iam)
        assert found["ReadWritePerformanceBaseline"] == {
            "Sid": "ReadWritePerformanceBaseline",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                {
                    "Fn::Sub": [
                        "${Bucket}/perf-baselines/shop/dev.json",
                        {"Bucket": {"Ref": "ArtifactBucketArn"}},
                    ]
                }
            ],
        }
        assert "UseArtifactKey" in found and "WriteOwnLogs" in found
        # Test code writes no artifacts: no other PutObject.
        puts = [sid for sid, s in found.items() if "s3:PutObject" in s["Action"]]
        assert puts == ["ReadWritePerformanceBaseline"]

    def test_step_runs_after_the_smoke_test_with_the_url_and_source_variables(self) -> None:
        _, _, handle = built(spec_of({}))
        url = Exported("root", "StagingUrl", "u", "URL")
        step = load_test.load_test_step(
            spec_of({}), handle, role=ACTION_ROLE, target_url=url, after=2
        )
        assert (step.name, step.category, step.provider, step.run_order) == (
            "LoadTest",
            "Test",
            "CodeBuild",
            3,
        )
        assert step.inputs == ("Source",)
        assert step.configuration["EnvironmentVariables"].variables == (
            ("TARGET_URL", url),
            ("DEPLOY_ENVIRONMENT", "staging"),
            ("SOURCE_BRANCH", "#{SourceVariables.BranchName}"),
            ("SOURCE_COMMIT", "#{SourceVariables.CommitId}"),
        )

    def test_s3_sources_pass_the_release_branch(self) -> None:
        source = {"provider": "s3", "bucket": "my-sources", "object_key": "shop.zip"}
        spec = spec_of({}, source=source)
        assert load_test.source_variables(spec) == (
            ("SOURCE_BRANCH", "main"),
            ("SOURCE_COMMIT", "s3-source"),
        )


# -- cfn-lint -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "load",
    [
        {},
        {"tool": "jmeter", "script": "load/plan.jmx"},
        {"tool": "gatling", "script": "load/sims", "simulation": "a.Sim", "sha256": "cd" * 32},
    ],
)
def test_templates_pass_cfn_lint_and_the_guardrails(load: dict[str, Any], tmp_path: Path) -> None:
    spec = spec_of(load)
    iam, build, handle = built(spec)
    step = load_test.load_test_step(
        spec, handle, role=ACTION_ROLE, target_url="https://staging.example.com", after=1
    )
    staging = Stage("DeployStaging", (step,))
    the_pipeline = pipeline_stack("shop", staging, source_namespace="SourceVariables")
    assert lint_stacks(tmp_path, iam, build, the_pipeline) == []
