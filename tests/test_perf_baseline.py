"""perf_baseline.py (generator/scripts), shipped as app/perf_baseline.py: each tool's summary
parser on small fixture files (tests/data/perf/), the comparison, the baseline's life cycle
(first run, regressions, updates on the release branch only) with an in-memory store, and the S3
store against moto."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from generator.components.load_test import perf_baseline_source
from generator.scripts import perf_baseline as pb
from generator.scripts.perf_baseline import (
    Baseline,
    Measurement,
    ResultsError,
    S3BaselineStore,
    Tolerance,
    baseline_key,
    compare,
    parse,
    percentile,
)

DATA = Path(__file__).resolve().parent / "data" / "perf"
KEY = "perf-baselines/shop/staging.json"


# -- parsers ------------------------------------------------------------------------------------


class TestParsers:
    def test_k6_summary_export(self) -> None:
        assert parse("k6", DATA / "k6-summary.json") == Measurement(
            p95_ms=212.7, error_rate=0.01, requests=300
        )

    def test_k6_handle_summary_json(self) -> None:
        assert parse("k6", DATA / "k6-handle-summary.json") == Measurement(
            p95_ms=175.25, error_rate=0.025, requests=200
        )

    def test_k6_without_a_value_counts_failed_requests(self, tmp_path: Path) -> None:
        data = json.loads((DATA / "k6-summary.json").read_text())
        del data["metrics"]["http_req_failed"]["value"]
        path = tmp_path / "summary.json"
        path.write_text(json.dumps(data))
        # "passes" of http_req_failed are the requests that failed: 3 of 300.
        assert parse("k6", path).error_rate == pytest.approx(0.01)

    def test_k6_needs_p95(self) -> None:
        with pytest.raises(ResultsError, match=r"no p\(95\); keep p\(95\) in --summary-trend"):
            parse("k6", DATA / "k6-no-p95.json")

    def test_jmeter_csv_with_header(self) -> None:
        # elapsed 10..200 ms; nearest-rank p95 of 20 samples is the 19th: 190 ms. Two of the
        # samples failed (one with a quoted comma in its message).
        assert parse("jmeter", DATA / "jmeter-results.jtl") == Measurement(
            p95_ms=190.0, error_rate=0.1, requests=20
        )

    def test_jmeter_csv_without_header_uses_the_default_columns(self) -> None:
        assert parse("jmeter", DATA / "jmeter-no-header.jtl") == Measurement(
            p95_ms=40.0, error_rate=0.0, requests=4
        )

    def test_jmeter_xml_is_refused_with_the_fix(self) -> None:
        with pytest.raises(ResultsError, match="output_format=csv"):
            parse("jmeter", DATA / "jmeter-results.xml.jtl")

    def test_gatling_global_stats(self) -> None:
        path = DATA / "gatling-results" / "basicsimulation-20250101120000000" / "js"
        assert parse("gatling", path / "global_stats.json") == Measurement(
            p95_ms=180.0, error_rate=0.01, requests=400
        )

    def test_gatling_stats_json_with_numbers_as_text(self) -> None:
        assert parse("gatling", DATA / "gatling-stats.json") == Measurement(
            p95_ms=310.0, error_rate=0.02, requests=250
        )

    def test_gatling_results_folder_reads_the_report_in_it(self) -> None:
        assert parse("gatling", DATA / "gatling-results").p95_ms == 180.0

    def test_gatling_folder_without_a_report(self, tmp_path: Path) -> None:
        with pytest.raises(ResultsError, match="holds no Gatling report"):
            parse("gatling", tmp_path)

    @pytest.mark.parametrize("tool", ["k6", "jmeter", "gatling"])
    def test_missing_results_say_so(self, tool: str, tmp_path: Path) -> None:
        with pytest.raises(ResultsError, match="does not exist"):
            parse(tool, tmp_path / "nothing-here.json")

    def test_nearest_rank_percentile(self) -> None:
        assert percentile([5.0], 95) == 5.0
        assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
        assert percentile([3.0, 1.0, 2.0], 50) == 2.0


# -- the comparison -----------------------------------------------------------------------------

BASE = Measurement(p95_ms=200.0, error_rate=0.01, requests=1000)
TOLERANCE = Tolerance(p95_percent=10, error_rate_points=1)


class TestCompare:
    def test_within_tolerance_passes(self) -> None:
        verdict = compare(Measurement(218.0, 0.019, 1000), BASE, TOLERANCE)
        assert verdict.passed
        assert verdict.lines == (
            "p95 latency 218.0 ms vs baseline 200.0 ms (+9.0%; allowed +10%): ok",
            "error rate 1.90% vs baseline 1.00% (+0.90 points; allowed +1): ok",
        )

    def test_at_the_limits_passes(self) -> None:
        assert compare(Measurement(220.0, 0.02, 1000), BASE, TOLERANCE).passed

    def test_p95_regression_fails_alone(self) -> None:
        verdict = compare(Measurement(221.0, 0.01, 1000), BASE, TOLERANCE)
        assert not verdict.passed
        assert verdict.lines[0].endswith("REGRESSION")
        assert verdict.lines[1].endswith(": ok")

    def test_error_rate_regression_fails_alone(self) -> None:
        verdict = compare(Measurement(150.0, 0.021, 1000), BASE, TOLERANCE)
        assert not verdict.passed
        assert verdict.lines[0].endswith(": ok")
        assert verdict.lines[1] == (
            "error rate 2.10% vs baseline 1.00% (+1.10 points; allowed +1): REGRESSION"
        )

    def test_improvements_pass(self) -> None:
        assert compare(Measurement(100.0, 0.0, 1000), BASE, TOLERANCE).passed


# -- the baseline's life cycle ------------------------------------------------------------------


class MemoryStore:
    def __init__(self, baselines: dict[str, Baseline] | None = None) -> None:
        self.baselines = dict(baselines or {})
        self.saved: list[str] = []

    def load(self, key: str) -> Baseline | None:
        return self.baselines.get(key)

    def save(self, key: str, baseline: Baseline) -> None:
        self.baselines[key] = baseline
        self.saved.append(key)


def arguments(*extra: str, tool: str = "k6", results: Path | None = None) -> Any:
    return pb.parser().parse_args(
        [
            "compare",
            "--tool",
            tool,
            "--results",
            str(results or DATA / "k6-summary.json"),
            "--bucket",
            "artifacts",
            "--pipeline",
            "shop",
            "--environment",
            "staging",
            "--release-branch",
            "main",
            "--commit",
            "abc123",
            *extra,
        ]
    )


def run(store: MemoryStore, *extra: str, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = pb.run_compare(arguments(*extra, **kwargs), store, out)
    return code, out.getvalue()


def stored(p95: float, error_rate: float, tool: str = "k6") -> Baseline:
    return Baseline(
        Measurement(p95, error_rate, 500), tool=tool, updated_at="2026-01-02T03:04:05Z", commit="c0"
    )


class TestLifeCycle:
    def test_the_key(self) -> None:
        assert baseline_key("shop", "staging") == KEY

    def test_first_run_passes_and_becomes_the_baseline(self) -> None:
        store = MemoryStore()
        code, out = run(store, "--branch", "feature/x")
        assert code == 0
        assert "No baseline for staging yet: this run passes and is the baseline" in out
        saved = store.baselines[KEY]
        assert saved.measurement == Measurement(212.7, 0.01, 300)
        assert (saved.tool, saved.branch, saved.commit) == ("k6", "feature/x", "abc123")

    def test_passing_run_on_the_release_branch_updates_the_baseline(self) -> None:
        store = MemoryStore({KEY: stored(200.0, 0.01)})
        code, out = run(store, "--branch", "main")
        assert code == 0
        assert store.saved == [KEY]
        assert store.baselines[KEY].measurement.p95_ms == 212.7
        assert "this run is the new baseline" in out

    def test_passing_run_on_another_branch_keeps_the_baseline(self) -> None:
        store = MemoryStore({KEY: stored(200.0, 0.01)})
        code, out = run(store, "--branch", "feature/x")
        assert code == 0
        assert store.saved == []
        assert "the baseline is kept (branch feature/x is not the release branch main)" in out

    def test_p95_regression_fails_and_keeps_the_baseline(self) -> None:
        store = MemoryStore({KEY: stored(150.0, 0.01)})  # 212.7 ms is +41.8%
        code, out = run(store, "--branch", "main")
        assert code == 1
        assert store.saved == []
        assert "p95 latency 212.7 ms vs baseline 150.0 ms (+41.8%; allowed +10%): REGRESSION" in out
        assert "FAILED: performance regressed from the baseline of 2026-01-02T03:04:05Z" in out

    def test_error_rate_regression_fails_and_keeps_the_baseline(self) -> None:
        store = MemoryStore({KEY: stored(212.7, 0.0)})  # 1% errors, 0.5 points allowed
        code, out = run(store, "--branch", "main", "--error-rate-points", "0.5")
        assert code == 1
        assert store.saved == []
        assert "(+1.00 points; allowed +0.5): REGRESSION" in out
        assert "(+0.0%; allowed +10%): ok" in out

    def test_a_baseline_of_another_tool_is_not_compared(self) -> None:
        store = MemoryStore({KEY: stored(10.0, 0.0, tool="jmeter")})
        code, out = run(store, "--branch", "main")
        assert code == 0
        assert "measured with jmeter, this run with k6: not comparable" in out
        assert store.baselines[KEY].tool == "k6"

    def test_each_tool_runs_through(self) -> None:
        store = MemoryStore()
        results = DATA / "gatling-results"
        assert run(store, "--branch", "main", tool="gatling", results=results)[0] == 0
        assert store.baselines[KEY].measurement.p95_ms == 180.0

    def test_unreadable_results_exit_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = pb.main(
            ["compare", "--tool", "k6", "--results", str(DATA / "k6-no-p95.json"), "--bucket",
             "b", "--pipeline", "shop", "--environment", "staging", "--release-branch", "main"],
            store_factory=lambda bucket: MemoryStore(),
        )  # fmt: skip
        assert code == 2
        assert "perf_baseline:" in capsys.readouterr().err

    def test_a_damaged_baseline_is_an_error_not_a_pass(self) -> None:
        with pytest.raises(ResultsError, match=r"is damaged .* delete it to start a new one"):
            Baseline.from_json('{"p95_ms": "fast", "error_rate": 0}', "s3://b/k")

    def test_baseline_json_round_trip(self) -> None:
        baseline = stored(123.4, 0.05)
        again = Baseline.from_json(baseline.to_json(), "here")
        assert again == baseline
        assert json.loads(baseline.to_json())["version"] == 1


# -- the S3 store -------------------------------------------------------------------------------


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="artifacts")
        yield client


class TestS3Store:
    def test_missing_baseline_is_none(self, bucket: Any) -> None:
        assert S3BaselineStore(bucket, "artifacts").load(KEY) is None

    def test_save_and_load(self, bucket: Any) -> None:
        store = S3BaselineStore(bucket, "artifacts")
        store.save(KEY, stored(99.0, 0.001))
        assert store.load(KEY) == stored(99.0, 0.001)
        head = bucket.head_object(Bucket="artifacts", Key=KEY)
        assert head["ContentType"] == "application/json"

    def test_other_errors_are_raised(self, bucket: Any) -> None:
        with pytest.raises(Exception, match="NoSuchBucket"):
            S3BaselineStore(bucket, "no-such-bucket").load(KEY)

    def test_main_end_to_end(self, bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
        argv = [
            "compare", "--tool", "jmeter", "--results", str(DATA / "jmeter-results.jtl"),
            "--bucket", "artifacts", "--pipeline", "shop", "--environment", "staging",
            "--branch", "main", "--release-branch", "main",
        ]  # fmt: skip
        assert pb.main(argv) == 0  # first run
        body = json.loads(bucket.get_object(Bucket="artifacts", Key=KEY)["Body"].read())
        assert (body["p95_ms"], body["error_rate"], body["tool"]) == (190.0, 0.1, "jmeter")
        bucket.put_object(
            Bucket="artifacts", Key=KEY, Body=stored(100.0, 0.1, tool="jmeter").to_json()
        )
        assert pb.main(argv) == 1  # 190 ms against 100 ms
        assert "REGRESSION" in capsys.readouterr().out


class FailingStore(MemoryStore):
    def __init__(self, error: Exception, on: str = "load") -> None:
        super().__init__()
        self.error, self.on = error, on

    def load(self, key: str) -> Baseline | None:
        if self.on == "load":
            raise self.error
        return super().load(key)

    def save(self, key: str, baseline: Baseline) -> None:
        if self.on == "save":
            raise self.error
        super().save(key, baseline)


MAIN_ARGV = [
    "compare", "--tool", "k6", "--results", str(DATA / "k6-summary.json"), "--bucket",
    "artifacts", "--pipeline", "shop", "--environment", "staging", "--release-branch", "main",
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "on", "reason"),
    [
        (
            ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"
            ),
            "load",
            "AccessDenied: Access Denied",
        ),
        (
            ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please\nslow down"}}, "PutObject"
            ),
            "save",
            "SlowDown: Please slow down",
        ),
        (
            EndpointConnectionError(endpoint_url="https://s3.example"),
            "load",
            'EndpointConnectionError: Could not connect to the endpoint URL: "https://s3.example"',
        ),
    ],
)
def test_s3_errors_exit_2_not_1(
    error: Exception, on: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pb.main(MAIN_ARGV, store_factory=lambda bucket: FailingStore(error, on))
    assert code == 2  # 1 means "regression"
    err = capsys.readouterr().err
    assert err == (
        f"perf_baseline: cannot read or write the baseline s3://artifacts/{KEY}: {reason}\n"
    )


def test_s3_error_from_moto_exits_2(bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a if a != "artifacts" else "no-such-bucket" for a in MAIN_ARGV]
    assert pb.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("perf_baseline: cannot read or write the baseline s3://no-such-bucket/")
    assert "NoSuchBucket" in err
    assert err.count("\n") == 1


# -- shipped as app/perf_baseline.py ------------------------------------------------------------


def test_the_shipped_file_is_this_module() -> None:
    assert perf_baseline_source() == Path(pb.__file__).read_text()


def test_it_runs_standalone(tmp_path: Path) -> None:
    """Only boto3 and the standard library: it runs outside the generator package."""
    script = tmp_path / "perf_baseline.py"
    script.write_text(perf_baseline_source())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", str(script), "compare", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--release-branch" in done.stdout
    assert shutil.which("bash")  # the buildspec runs under bash
