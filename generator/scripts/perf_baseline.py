"""Compare a load test's p95 latency and error rate with the stored baseline, and keep it.

Standalone: boto3 and the standard library only. pipegen ships it as `perf_baseline.py` in the
pipeline's `app/` folder (commit it at the root of the application repository); the load-test
CodeBuild project runs it after the load tool:

    python perf_baseline.py compare --tool k6 --results results/summary.json \\
        --bucket ARTIFACT_BUCKET --pipeline my-shop --environment staging \\
        --branch "$SOURCE_BRANCH" --release-branch main \\
        --p95-percent 10 --error-rate-points 1 [--commit "$SOURCE_COMMIT"]

The results are the tool's own summary:

    k6       the JSON of `k6 run --summary-export=FILE` (or of a handleSummary JSON export)
    jmeter   the JTL results file in CSV (`jmeter -n -t plan.jmx -l FILE`)
    gatling  stats.json or global_stats.json of a report, or the results folder (the newest
             report in it is read); p95 is Gatling's third percentile (95 unless changed)

Each gives the p95 latency in milliseconds and the error rate (failed requests / requests).
The baseline is a JSON object in the bucket under `perf-baselines/<pipeline>/<environment>.json`.

    no baseline yet          the run passes and becomes the baseline
    p95 > baseline p95 x (1 + p95-percent / 100)               regression: exit 1
    error rate (percent) > baseline's + error-rate-points     regression: exit 1
    otherwise                passes; on the release branch the run becomes the new baseline

Exit codes: 0 passed, 1 regression, 2 the results, the baseline or the options are unusable.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

BASELINE_PREFIX = "perf-baselines"
TOOLS = ("k6", "jmeter", "gatling")
# The columns JMeter writes when the CSV has no header line (jmeter.properties defaults).
JMETER_DEFAULT_COLUMNS = (
    "timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName", "dataType",
    "success", "failureMessage", "bytes", "sentBytes", "grpThreads", "allThreads", "URL",
    "Latency", "IdleTime", "Connect",
)  # fmt: skip


class ResultsError(Exception):
    """The tool's summary (or a stored baseline) cannot be read; the message says why."""


@dataclass(frozen=True)
class Measurement:
    p95_ms: float
    error_rate: float  # failed requests / requests, 0..1
    requests: int


@dataclass(frozen=True)
class Tolerance:
    p95_percent: float
    error_rate_points: float


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: tuple[str, ...]


# -- parsers ------------------------------------------------------------------------------------


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ResultsError(f"{what} is {value!r}, not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ResultsError(f"{what} is {value!r}, not a number")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist: did the load test write its summary?") from None
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path} is not readable JSON: {error}") from None


def parse_k6(path: Path) -> Measurement:
    """`k6 run --summary-export` JSON: metrics.http_req_duration["p(95)"] and the rate of
    http_req_failed. handleSummary's JSON nests the same numbers under "values"."""
    data = _load_json(path)
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise ResultsError(f"{path} has no 'metrics': is it k6's --summary-export output?")

    def values(name: str) -> dict[str, Any]:
        metric = metrics.get(name)
        if not isinstance(metric, dict):
            raise ResultsError(f"{path} has no {name} metric: did the script make HTTP requests?")
        nested = metric.get("values")
        return nested if isinstance(nested, dict) else metric

    duration = values("http_req_duration")
    if "p(95)" not in duration:
        raise ResultsError(
            f"{path}: http_req_duration has no p(95); keep p(95) in --summary-trend-stats"
        )
    p95 = _number(duration["p(95)"], "http_req_duration p(95)")
    failed = values("http_req_failed")
    rate = failed.get("rate", failed.get("value"))
    if rate is not None:
        error_rate = _number(rate, "http_req_failed rate")
    else:  # "passes" counts the true values of a Rate metric: here the failed requests
        failures = _number(failed.get("passes", 0), "http_req_failed passes")
        total = failures + _number(failed.get("fails", 0), "http_req_failed fails")
        error_rate = failures / total if total else 0.0
    requests = metrics.get("http_reqs")
    count = 0.0
    if isinstance(requests, dict):
        nested = requests.get("values")
        count = _number((nested if isinstance(nested, dict) else requests).get("count", 0), "count")
    return Measurement(p95_ms=p95, error_rate=error_rate, requests=int(count))


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile (the smallest value with at least `percent`% at or below it)."""
    if not values:
        raise ResultsError("no samples to take a percentile of")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_jmeter(path: Path) -> Measurement:
    """A JTL results file in CSV: the p95 of `elapsed` (ms) and the share of `success` false."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist: did JMeter write its results (-l)?") from None
    except OSError as error:
        raise ResultsError(f"{path} is not readable: {error}") from None
    lines = text.splitlines()
    if not lines:
        raise ResultsError(f"{path} is empty: JMeter recorded no samples")
    if lines[0].lstrip().startswith("<"):
        raise ResultsError(
            f"{path} is XML; write CSV results (-Jjmeter.save.saveservice.output_format=csv)"
        )
    first = next(csv.reader(lines[:1]), [])
    has_header = bool(first) and not first[0].strip().isdigit()
    rows = csv.DictReader(lines, fieldnames=None if has_header else list(JMETER_DEFAULT_COLUMNS))
    elapsed: list[float] = []
    failures = 0
    for number, row in enumerate(rows, start=2 if has_header else 1):
        if row.get("elapsed") is None or row.get("success") is None:
            raise ResultsError(f"{path}: the CSV needs the elapsed and success columns")
        elapsed.append(_number(row["elapsed"], f"{path} line {number}: elapsed"))
        if row["success"].strip().lower() != "true":
            failures += 1
    if not elapsed:
        raise ResultsError(f"{path} holds no samples")
    return Measurement(
        p95_ms=percentile(elapsed, 95), error_rate=failures / len(elapsed), requests=len(elapsed)
    )


def _gatling_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise ResultsError(f"{path} does not exist: did Gatling write its report?")
    for name in ("global_stats.json", "stats.json"):
        found = sorted(path.rglob(name), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]  # the newest report
    raise ResultsError(f"{path} holds no Gatling report (js/global_stats.json or js/stats.json)")


def parse_gatling(path: Path) -> Measurement:
    """global_stats.json (the stats of all requests) or stats.json (the same under "stats"):
    percentiles3.total is the p95, numberOfRequests ko / total the error rate."""
    source = _gatling_file(path)
    data = _load_json(source)
    stats = data.get("stats", data) if isinstance(data, dict) else None
    if not isinstance(stats, dict) or "numberOfRequests" not in stats:
        raise ResultsError(f"{source} has no numberOfRequests: is it a Gatling stats file?")

    def total(key: str) -> dict[str, Any]:
        value = stats.get(key)
        if not isinstance(value, dict):
            raise ResultsError(f"{source} has no {key}")
        return value

    counts = total("numberOfRequests")
    requests = _number(counts.get("total", 0), "numberOfRequests.total")
    failed = _number(counts.get("ko", 0), "numberOfRequests.ko")
    p95 = _number(total("percentiles3").get("total"), "percentiles3.total")
    return Measurement(
        p95_ms=p95, error_rate=failed / requests if requests else 0.0, requests=int(requests)
    )


PARSERS: dict[str, Callable[[Path], Measurement]] = {
    "k6": parse_k6,
    "jmeter": parse_jmeter,
    "gatling": parse_gatling,
}


def parse(tool: str, path: Path) -> Measurement:
    return PARSERS[tool](path)


# -- comparison ---------------------------------------------------------------------------------


def compare(current: Measurement, baseline: Measurement, tolerance: Tolerance) -> Verdict:
    """Fails when p95 rose more than tolerance.p95_percent, or the error rate more than
    tolerance.error_rate_points percentage points; each check reports on its own line."""
    lines = []
    passed = True
    limit = baseline.p95_ms * (1 + tolerance.p95_percent / 100)
    if baseline.p95_ms > 0:
        change = (current.p95_ms / baseline.p95_ms - 1) * 100
        within = current.p95_ms <= limit
        lines.append(
            f"p95 latency {current.p95_ms:.1f} ms vs baseline {baseline.p95_ms:.1f} ms "
            f"({change:+.1f}%; allowed +{tolerance.p95_percent:g}%): "
            + ("ok" if within else "REGRESSION")
        )
        passed = passed and within
    else:
        lines.append(f"p95 latency {current.p95_ms:.1f} ms: the baseline has none to compare")
    rise = (current.error_rate - baseline.error_rate) * 100
    within = rise <= tolerance.error_rate_points + 1e-9
    lines.append(
        f"error rate {current.error_rate * 100:.2f}% vs baseline {baseline.error_rate * 100:.2f}% "
        f"({rise:+.2f} points; allowed +{tolerance.error_rate_points:g}): "
        + ("ok" if within else "REGRESSION")
    )
    return Verdict(passed=passed and within, lines=tuple(lines))


# -- the baseline store -------------------------------------------------------------------------


def baseline_key(pipeline: str, environment: str) -> str:
    """The object the project role may read and write (and nothing else under the prefix)."""
    return f"{BASELINE_PREFIX}/{pipeline}/{environment}.json"


@dataclass(frozen=True)
class Baseline:
    measurement: Measurement
    tool: str
    updated_at: str = ""
    branch: str = ""
    commit: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "tool": self.tool,
                **asdict(self.measurement),
                "updated_at": self.updated_at,
                "branch": self.branch,
                "commit": self.commit,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> Baseline:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ResultsError(f"the baseline {where} is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ResultsError(f"the baseline {where} is not a JSON object")
        try:
            measurement = Measurement(
                p95_ms=_number(data.get("p95_ms"), "p95_ms"),
                error_rate=_number(data.get("error_rate"), "error_rate"),
                requests=int(_number(data.get("requests", 0), "requests")),
            )
        except ResultsError as error:
            raise ResultsError(
                f"the baseline {where} is damaged ({error}); delete it to start a new one"
            ) from None
        return cls(
            measurement=measurement,
            tool=str(data.get("tool", "")),
            updated_at=str(data.get("updated_at", "")),
            branch=str(data.get("branch", "")),
            commit=str(data.get("commit", "")),
        )


class BaselineStore(Protocol):
    def load(self, key: str) -> Baseline | None: ...

    def save(self, key: str, baseline: Baseline) -> None: ...


class S3BaselineStore:
    """Baselines in the artifact bucket (encrypted by the bucket's default KMS key)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def load(self, key: str) -> Baseline | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:  # botocore's ClientError, without importing botocore
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return Baseline.from_json(response["Body"].read().decode("utf-8"), self.where(key))

    def save(self, key: str, baseline: Baseline) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=baseline.to_json().encode("utf-8"),
            ContentType="application/json",
        )


def s3_store(bucket: str) -> S3BaselineStore:
    import boto3

    return S3BaselineStore(boto3.client("s3"), bucket)


# -- the command --------------------------------------------------------------------------------


def run_compare(args: argparse.Namespace, store: BaselineStore, out: Any = None) -> int:
    out = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=out)

    current = parse(args.tool, Path(args.results))
    say(
        f"{args.tool}: {current.requests} requests, p95 {current.p95_ms:.1f} ms, "
        f"error rate {current.error_rate * 100:.2f}%"
    )
    key = baseline_key(args.pipeline, args.environment)
    run = Baseline(
        measurement=current,
        tool=args.tool,
        # timezone.utc, not datetime.UTC: the build image may run a Python older than 3.11.
        updated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),  # noqa: UP017
        branch=args.branch,
        commit=args.commit or "",
    )
    baseline = store.load(key)
    if baseline is None:
        store.save(key, run)
        say(f"No baseline for {args.environment} yet: this run passes and is the baseline ({key}).")
        return 0
    if baseline.tool and baseline.tool != args.tool:
        say(
            f"The baseline was measured with {baseline.tool}, this run with {args.tool}: not "
            "comparable, so nothing is compared."
        )
        verdict = Verdict(passed=True, lines=())
    else:
        verdict = compare(
            current, baseline.measurement, Tolerance(args.p95_percent, args.error_rate_points)
        )
    for line in verdict.lines:
        say(line)
    if not verdict.passed:
        commit = f" (commit {baseline.commit})" if baseline.commit else ""
        say(
            f"FAILED: performance regressed from the baseline of {baseline.updated_at or 'unknown'}"
            f"{commit}; the baseline is unchanged."
        )
        return 1
    if args.branch == args.release_branch:
        store.save(key, run)
        say(f"Passed on the release branch {args.release_branch}: this run is the new baseline.")
    else:
        say(
            f"Passed; the baseline is kept (branch {args.branch or '(none)'} is not the release "
            f"branch {args.release_branch})."
        )
    return 0


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text} is not a number of at least 0")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("compare", help="compare a run with the baseline and keep it")
    run.add_argument("--tool", required=True, choices=TOOLS)
    run.add_argument("--results", required=True, help="the tool's summary file (or folder)")
    run.add_argument("--bucket", required=True, help="the bucket that holds the baselines")
    run.add_argument("--pipeline", required=True)
    run.add_argument("--environment", required=True)
    run.add_argument("--branch", default="", help="the branch this run built")
    run.add_argument("--release-branch", required=True, help="passing runs here update it")
    run.add_argument("--commit", default="", help="recorded in a new baseline")
    run.add_argument("--p95-percent", type=_non_negative, default=10.0)
    run.add_argument("--error-rate-points", type=_non_negative, default=1.0)
    return root


def _aws_errors() -> tuple[type[Exception], ...]:
    """botocore's errors (AccessDenied, throttling, no network, no credentials...), if present."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 always brings botocore
        return ()
    return (ClientError, BotoCoreError)


def _describe_aws_error(error: Exception) -> str:
    details = getattr(error, "response", None)
    if isinstance(details, dict) and details.get("Error"):
        code = details["Error"].get("Code", "")
        message = details["Error"].get("Message", "") or str(error)
        text = f"{code}: {message}" if code else message
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())  # one line


def main(
    argv: Sequence[str] | None = None,
    store_factory: Callable[[str], BaselineStore] = s3_store,
) -> int:
    args = parser().parse_args(argv)
    try:
        return run_compare(args, store_factory(args.bucket))
    except ResultsError as error:
        print(f"perf_baseline: {error}", file=sys.stderr)
        return 2
    except _aws_errors() as error:  # exit 1 is only for a regression: S3 trouble is "unusable"
        where = f"s3://{args.bucket}/{baseline_key(args.pipeline, args.environment)}"
        print(
            f"perf_baseline: cannot read or write the baseline {where}: "
            f"{_describe_aws_error(error)}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
