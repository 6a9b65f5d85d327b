"""`make bench`: how fast pipegen builds one pipeline and a fleet, against the issue's targets.

Prints a table; times nothing inside the test suite. Every measurement runs `pipegen` as a
separate process, as a user would, with its own cache folder so that cold means cold.
Set BENCH_CDK=1 to also time the AWS CDK synthesising an equivalent pipeline (it installs
aws-cdk-lib under .cache/bench/ the first time, from the npm registry).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PIPEGEN = [sys.executable, "-m", "generator.cli"]
FLEET = 100
SUMMARY = re.compile(r"(\d+) spec\(s\), (\d+) templates \((\d+) linted, (\d+) cached\)")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str


def run(command: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of one child process (and the lint workers it waits for)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stdout}\n{stderr}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout)


def measured(command: list[str], cwd: Path, times: int) -> tuple[float, float]:
    """Median seconds and peak RSS over `times` runs, each in a fresh process."""
    runs = [run(command, cwd) for _ in range(times)]
    return statistics.median(r.seconds for r in runs), max(r.peak_rss_mb for r in runs)


def fleet_specs(folder: Path, count: int) -> list[Path]:
    """`count` specs across every blueprint and its main variations."""
    base = {
        name: yaml.safe_load((REPO / "pipelines" / f"{name}.yaml").read_text())
        for name in ("web-app", "microservice")
    }
    paths = []
    for index in range(count):
        kind = ("web-app", "microservice")[index % 2]
        spec = yaml.safe_load(yaml.safe_dump(base[kind]))
        spec["name"] = f"fleet-{kind}-{index:03d}"
        spec["notifications"]["email"] = f"team{index}@example.com"
        if kind == "web-app" and index % 4 == 0:
            spec["environments"] = spec["environments"][1:]  # staging and prod only
        if kind == "microservice" and index % 4 == 1:
            spec["image"]["scan"]["using"] = "inspector"
        path = folder / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        paths.append(path)
    return paths


def counts(stdout: str) -> tuple[int, int, int]:
    match = SUMMARY.search(stdout)
    if not match:
        sys.exit(f"no summary line in:\n{stdout}")
    _, templates, linted, cached = map(int, match.groups())
    return templates, linted, cached


def cdk_synth_seconds(work: Path) -> tuple[float, float] | None:
    if os.environ.get("BENCH_CDK") != "1":
        return None
    from bench import cdk

    return cdk.synth(work, times=3)  # warm: node's module cache is hot after the first run


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="pipegen-bench-"))
    rows: list[tuple[str, str, str]] = []
    try:
        single = [
            *PIPEGEN,
            "build",
            "--out",
            str(work / "one"),
            str(REPO / "pipelines/web-app.yaml"),
        ]
        cold_s, cold_rss = measured([*single, "--no-cache"], work, 5)
        rows.append(
            (
                "1 pipeline, fully linted (median of 5)",
                f"{cold_s:.2f} s",
                f"{cold_rss:.0f} MB peak RSS",
            )
        )
        run(single, work)  # fill the cache
        warm_s, warm_rss = measured(single, work, 5)
        rows.append(
            (
                "1 pipeline, caches warm (median of 5)",
                f"{warm_s:.2f} s",
                f"{warm_rss:.0f} MB peak RSS",
            )
        )

        cli_s, _ = measured(
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "--include-checks",
                "I",
                "--",
                str(REPO / "output/web-app/root.yaml"),
            ],
            work,
            3,
        )
        rows.append(
            ("cfn-lint CLI, the same root template only", f"{cli_s:.2f} s", "(median of 3)")
        )

        specs_dir = work / "fleet-specs"
        specs_dir.mkdir()
        specs = fleet_specs(specs_dir, FLEET)
        fleet = [*PIPEGEN, "build", "--out", str(work / "fleet"), *map(str, specs)]
        fleet_work = work / "fleet-cwd"  # its own .cache/
        fleet_work.mkdir()
        cold = run(fleet, fleet_work)
        templates, linted, cached = counts(cold.stdout)
        rows.append(
            (
                f"fleet of {FLEET}, cold cache",
                f"{cold.seconds:.2f} s",
                f"{linted} linted, {cached} cached of {templates}; {cold.peak_rss_mb:.0f} MB",
            )
        )
        warm = run(fleet, fleet_work)
        templates, linted, cached = counts(warm.stdout)
        rows.append(
            (
                f"fleet of {FLEET}, warm cache, no change",
                f"{warm.seconds:.2f} s",
                f"{linted} linted, {cached} cached of {templates}",
            )
        )
        first = specs[0]
        first.write_text(first.read_text().replace("bake_minutes: 15", "bake_minutes: 16"))
        changed = run(fleet, fleet_work)
        templates, linted, cached = counts(changed.stdout)
        rows.append(
            (
                f"fleet of {FLEET}, one spec changed",
                f"{changed.seconds:.2f} s",
                f"{linted} linted, {cached} cached of {templates}",
            )
        )

        cdk = cdk_synth_seconds(work)
        if cdk is not None:
            cdk_s, cdk_rss = cdk
            rows.append(
                (
                    "AWS CDK synth, equivalent pipeline (median of 3)",
                    f"{cdk_s:.2f} s",
                    f"{cdk_rss:.0f} MB peak RSS",
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)}  {'time':>9}  detail")
    for label, seconds, detail in rows:
        print(f"{label.ljust(width)}  {seconds:>9}  {detail}")
    print()
    print("targets")
    one_target = (
        f"≤ 1/4 of the CDK's warm synth ({cdk[0] / 4:.2f} s)"
        if cdk
        else "≤ 1.5 s (no CDK in this run)"
    )
    limit = cdk[0] / 4 if cdk else 1.5
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    print(f"  one pipeline, fully linted {one_target}: {cold_s:.2f} s, {verdict(cold_s <= limit)}")
    print(f"  fleet cold ≤ 20 s: {cold.seconds:.2f} s, {verdict(cold.seconds <= 20)}")
    print(f"  fleet warm ≤ 1 s: {warm.seconds:.2f} s, {verdict(warm.seconds <= 1)}")
    peak = max(cold_rss, warm_rss, cold.peak_rss_mb)
    print(f"  peak RSS ≤ 250 MB: {peak:.0f} MB, {verdict(peak <= 250)}")
    if cdk:
        print(f"  ratio CDK synth / pipegen one pipeline: {cdk[0] / cold_s:.1f}x")
    print(f"  ratio cfn-lint CLI on the root alone / pipegen whole pipeline: {cli_s / cold_s:.2f}")


if __name__ == "__main__":
    main()
