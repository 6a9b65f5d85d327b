"""BENCH_CDK=1: the AWS CDK synthesising bench/cdk_app.js, the web-app pipeline in L2 constructs.

aws-cdk-lib is installed once from the npm registry into .cache/bench/cdk/ (never committed).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".cache" / "bench" / "cdk"
PACKAGES = ("aws-cdk-lib@2", "constructs@10")


def install() -> None:
    if (HOME / "node_modules" / "aws-cdk-lib").is_dir():
        return
    if shutil.which("npm") is None:
        sys.exit("BENCH_CDK=1 needs node and npm on PATH")
    HOME.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", *PACKAGES], cwd=HOME, check=True
    )


def synth(work: Path, times: int) -> tuple[float, float]:
    """Median seconds and peak RSS (MB) of `node cdk_app.js` (which calls app.synth())."""
    from bench.run import run

    install()
    shutil.copy(Path(__file__).with_name("cdk_app.js"), HOME / "cdk_app.js")
    out = work / "cdk.out"
    runs = []
    for _ in range(times):
        shutil.rmtree(out, ignore_errors=True)
        runs.append(run(["env", f"CDK_OUTDIR={out}", "node", "cdk_app.js"], HOME))
    return statistics.median(r.seconds for r in runs), max(r.peak_rss_mb for r in runs)
