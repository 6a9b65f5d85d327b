"""Job worker for a CodePipeline custom action (AWS::CodePipeline::CustomActionType).

Standalone: boto3 and the standard library only, so it can be shipped on its own into
`output/<pipeline>/app/worker/` and run on any host that reaches the CodePipeline endpoint.

The flow is AWS's job-worker flow for custom actions:

1. `PollForJobs` for the action type (owner `Custom`), optionally filtered by a queryable property;
2. `AcknowledgeJob(jobId, nonce)` each job before working on it; a job whose status comes back
   other than `InProgress` belongs to someone else (or timed out) and is skipped;
3. download the input artifacts with the job's temporary `artifactCredentials` (never the
   worker's own), unzip them into a fresh work directory, run the configured command there;
4. zip and upload the output artifacts with the same credentials, SSE-KMS with the job's key;
5. `PutJobSuccessResult` (with a continuation token while the command reports "in progress")
   or `PutJobFailureResult`.

What the command sees (environment; the job's artifact credentials are never passed on):

    cwd                               the first input artifact, unzipped (also $PIPEGEN_SRC_DIR)
    PIPEGEN_CONFIG_<NAME>             each configuration property of the action (NAME upper-cased,
                                      other characters than A-Z, 0-9 turned into "_")
    PIPEGEN_INPUT_<NAME>              directory of each input artifact
    PIPEGEN_OUTPUT_<NAME>             directory to fill for each output artifact (zipped after the
                                      command); PIPEGEN_OUTPUT_DIR: the first of them
    PIPEGEN_CONTINUATION_TOKEN        set when CodePipeline resumes an in-progress action
    PIPEGEN_CONTINUATION_TOKEN_FILE   write a token here (or exit with the in-progress code, 75 by
                                      default) to report "in progress"; the job comes back later
                                      with that token in $PIPEGEN_CONTINUATION_TOKEN
    PIPEGEN_OUTPUT_VARIABLES_FILE     write a JSON object here to publish output variables
    PIPEGEN_SUMMARY_FILE              optional one-line summary shown in the console
    PIPEGEN_PROGRESS_FILE             optional percent complete (0-100) while in progress
    PIPEGEN_JOB_ID, PIPEGEN_ACCOUNT_ID, PIPEGEN_PIPELINE_NAME, PIPEGEN_STAGE_NAME,
    PIPEGEN_ACTION_NAME, PIPEGEN_PIPELINE_EXECUTION_ID, PIPEGEN_WORK_DIR

Usage:

    python job_worker.py --category Deploy --provider ShopDeployer [--version 1] \\
        [--command 'make deploy TARGET="$PIPEGEN_CONFIG_TARGET"' | -- ./deploy.sh --verbose]

Every option also reads an environment variable (PIPEGEN_WORKER_<OPTION>); see `--help`.
SIGTERM or SIGINT: the current job is finished (or, with --shutdown-grace, stopped after that
many seconds and failed with a clear message), polling stops and the worker exits 0. A second
signal stops the current job at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger("pipegen.job_worker")

CATEGORIES = ("Source", "Build", "Deploy", "Test", "Invoke", "Approval")
# Error codes AWS uses for "slow down"; retried with capped exponential backoff and jitter.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "BandwidthLimitExceeded",
    }
)
# PollForJobs errors that no amount of waiting fixes: the worker is misconfigured.
FATAL_POLL_CODES = frozenset({"ActionTypeNotFoundException", "ValidationException"})

MAX_FAILURE_MESSAGE = 5000  # FailureDetails.message
MAX_SUMMARY = 2048  # ExecutionDetails.summary
MAX_CONTINUATION_TOKEN = 2048
DEFAULT_IN_PROGRESS_EXIT_CODE = 75  # EX_TEMPFAIL: "not done yet, come back later"
OUTPUT_VARIABLE_KEY = re.compile(r"[A-Za-z0-9@\-_]+")
QUERY_VALUE = re.compile(r"[a-zA-Z0-9_-]{1,50}")
TAIL_BYTES = 64 * 1024
TAIL_SEPARATOR = "\n--- output (last lines) ---\n"


# -- logging -----------------------------------------------------------------------------------


def _field(value: object) -> str:
    text = str(value)
    if not text or re.search(r'[\s"=\\]', text):
        return json.dumps(text)
    return text


def log(level: int, event: str, **fields: object) -> None:
    """One plain `event=... key=value` line. Never pass credentials or job data wholesale."""
    parts = [f"event={event}"] + [f"{k}={_field(v)}" for k, v in fields.items() if v is not None]
    LOG.log(level, " ".join(parts))


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


# -- configuration -----------------------------------------------------------------------------


class ConfigError(ValueError):
    """The worker's own configuration (CLI or environment) is invalid."""


@dataclass(frozen=True)
class ActionType:
    category: str
    provider: str
    version: str = "1"
    owner: str = "Custom"

    def as_api(self) -> dict[str, str]:
        return {
            "category": self.category,
            "owner": self.owner,
            "provider": self.provider,
            "version": self.version,
        }

    def __str__(self) -> str:
        return f"{self.category}/{self.owner}/{self.provider}/{self.version}"


@dataclass(frozen=True)
class WorkerConfig:
    action_type: ActionType
    command: tuple[str, ...]  # argv; a shell command is ("/bin/sh", "-c", command)
    poll_interval: float = 30.0
    max_jobs: int = 1
    region: str | None = None
    query_params: Mapping[str, str] = field(default_factory=dict)
    command_timeout: float = 3600.0
    in_progress_exit_code: int | None = DEFAULT_IN_PROGRESS_EXIT_CODE
    work_root: Path | None = None
    keep_work_dirs: bool = False
    shutdown_grace: float | None = None  # None: finish the current job however long it takes


# -- job data ----------------------------------------------------------------------------------


class JobError(Exception):
    """The job cannot succeed; reported with PutJobFailureResult."""

    def __init__(self, failure_type: str, message: str) -> None:
        super().__init__(message)
        self.failure_type = failure_type
        self.message = message


@dataclass(frozen=True, repr=False)
class ArtifactCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def __repr__(self) -> str:  # keep them out of logs, tracebacks and test output
        return "ArtifactCredentials(<redacted>)"


@dataclass(frozen=True)
class ArtifactRef:
    name: str
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class JobSpec:
    configuration: Mapping[str, str]
    inputs: tuple[ArtifactRef, ...]
    outputs: tuple[ArtifactRef, ...]
    credentials: ArtifactCredentials | None
    continuation_token: str | None
    kms_key_id: str | None
    pipeline_context: Mapping[str, str]


def _artifacts(data: Mapping[str, Any], key: str) -> tuple[ArtifactRef, ...]:
    refs: list[ArtifactRef] = []
    for artifact in data.get(key) or []:
        name = artifact.get("name") or f"artifact{len(refs) + 1}"
        location = artifact.get("location") or {}
        s3 = location.get("s3Location") or {}
        if (
            location.get("type", "S3") != "S3"
            or not s3.get("bucketName")
            or not s3.get("objectKey")
        ):
            raise JobError(
                "ConfigurationError",
                f"artifact {name!r} has an unsupported location (type {location.get('type')!r});"
                " this worker handles S3 artifact stores only",
            )
        refs.append(ArtifactRef(name, s3["bucketName"], s3["objectKey"]))
    return tuple(refs)


def parse_job_data(data: Mapping[str, Any]) -> JobSpec:
    inputs, outputs = _artifacts(data, "inputArtifacts"), _artifacts(data, "outputArtifacts")
    raw = data.get("artifactCredentials")
    credentials = None
    if raw:
        credentials = ArtifactCredentials(
            raw["accessKeyId"], raw["secretAccessKey"], raw["sessionToken"]
        )
    elif inputs or outputs:
        raise JobError(
            "ConfigurationError",
            "the job has artifacts but no artifactCredentials; the custom action type must"
            " declare its input/output artifacts so CodePipeline issues credentials",
        )
    key = data.get("encryptionKey") or {}
    if key and key.get("type") != "KMS":
        raise JobError(
            "ConfigurationError", f"unsupported artifact encryption key type {key.get('type')!r}"
        )
    context = data.get("pipelineContext") or {}
    configuration = (data.get("actionConfiguration") or {}).get("configuration") or {}
    return JobSpec(
        configuration={str(k): str(v) for k, v in configuration.items()},
        inputs=inputs,
        outputs=outputs,
        credentials=credentials,
        continuation_token=data.get("continuationToken") or None,
        kms_key_id=key.get("id") or None,
        pipeline_context={
            "PIPEGEN_PIPELINE_NAME": str(context.get("pipelineName", "")),
            "PIPEGEN_STAGE_NAME": str((context.get("stage") or {}).get("name", "")),
            "PIPEGEN_ACTION_NAME": str((context.get("action") or {}).get("name", "")),
            "PIPEGEN_PIPELINE_EXECUTION_ID": str(context.get("pipelineExecutionId", "")),
        },
    )


def env_name(name: str) -> str:
    """`Target-Env.v2` -> `TARGET_ENV_V2`."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


# -- helpers -----------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float, cap: float, jitter: Callable[[float], float]) -> float:
    """Capped exponential backoff for retry `attempt` (0-based), jittered by `jitter`."""
    return jitter(min(cap, base * (2**attempt)))


def equal_jitter(delay: float) -> float:
    """Half the delay fixed, half random: spreads workers out without ever retrying at once."""
    return delay / 2 + random.uniform(0, delay / 2)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        return f"{error_code(exc)}: {message}"
    return f"{type(exc).__name__}: {exc}"


def with_tail(head: str, tail: str, limit: int = MAX_FAILURE_MESSAGE) -> str:
    """`head` plus as much of the end of `tail` as fits in `limit` characters."""
    head = head[:limit]
    if not tail.strip():
        return (head + " (no output)")[:limit]
    room = limit - len(head) - len(TAIL_SEPARATOR)
    if room <= 0:
        return head
    tail = tail.rstrip()
    if len(tail) > room:
        tail = "..." + tail[-(room - 3) :] if room > 3 else tail[-room:]
    return head + TAIL_SEPARATOR + tail


def read_tail(path: Path, max_bytes: int = TAIL_BYTES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def extract_zip(archive: Path, dest: Path) -> int:
    """Unzip `archive` into `dest`, keeping Unix permission bits; refuses paths leaving `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                raise ValueError(f"unsafe path in archive: {info.filename!r}")
            target = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)
            count += 1
    return count


def make_zip(source: Path, archive: Path) -> int:
    """Zip what is under `source` (paths relative to it) into `archive`; returns the file count."""
    count = 0
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
                count += 1
    return count


def _read_text(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def read_output_variables(path: Path) -> dict[str, str]:
    text = _read_text(path)
    if text is None:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobError("JobFailed", f"output variables file is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise JobError("JobFailed", "output variables file must hold a JSON object")
    variables: dict[str, str] = {}
    for key, value in raw.items():
        if not OUTPUT_VARIABLE_KEY.fullmatch(key):
            raise JobError(
                "JobFailed", f"invalid output variable name {key!r} (allowed: A-Z a-z 0-9 @ - _)"
            )
        if isinstance(value, dict | list):
            raise JobError("JobFailed", f"output variable {key!r} must be a scalar")
        variables[key] = value if isinstance(value, str) else json.dumps(value)
    return variables


def default_s3_client_factory(credentials: ArtifactCredentials, region: str | None) -> Any:
    """An S3 client signed with the job's artifact credentials only: a fresh session, so nothing
    falls back to the worker's own credential chain."""
    session = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=region,
    )
    return session.client(
        "s3",
        config=Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3}),
    )


S3ClientFactory = Callable[[ArtifactCredentials, str | None], Any]


@dataclass(frozen=True)
class JobSuccess:
    summary: str
    percent_complete: int
    continuation_token: str | None = None
    output_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    timed_out: bool
    interrupted: bool
    elapsed: float
    output_tail: str


# -- the worker --------------------------------------------------------------------------------


class Worker:
    """Polls for jobs of one custom action type and works them one at a time.

    Everything with side effects on the outside is injected: the CodePipeline client, the factory
    of per-job S3 clients, `sleep` (backoff and idle waits), `clock` (command timeouts) and
    `jitter` (backoff spread).
    """

    retry_base = 0.5
    retry_cap = 20.0
    retry_attempts = 8
    tick = 0.1  # how often a running command is checked for timeout and shutdown

    def __init__(
        self,
        config: WorkerConfig,
        codepipeline: Any,
        s3_client_factory: S3ClientFactory = default_s3_client_factory,
        *,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[float], float] = equal_jitter,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.codepipeline = codepipeline
        self.s3_client_factory = s3_client_factory
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._environ = dict(os.environ if environ is None else environ)
        self._stop = threading.Event()
        self._force_stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, reason: str = "requested") -> None:
        """First call: finish the current job, then stop. Second call: abort the current job."""
        if self._stop.is_set():
            self._force_stop.set()
            log(logging.WARNING, "worker.stop_forced", reason=reason)
            return
        self._stop.set()
        log(logging.INFO, "worker.stopping", reason=reason)

    def install_signal_handlers(self) -> Callable[[], None]:
        """Route SIGTERM and SIGINT to `request_stop`; returns a function restoring the old ones."""
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(signal.Signals(signum).name)

        for sig in signals:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    def _pause(self, seconds: float, *, interruptible: bool) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif interruptible:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)

    # -- AWS calls ---------------------------------------------------------------------------

    def call(self, operation: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Call `operation`, retrying throttling errors with capped, jittered backoff."""
        name = getattr(operation, "__name__", "call")
        for attempt in range(self.retry_attempts):
            try:
                return operation(**kwargs)
            except ClientError as exc:
                code = error_code(exc)
                if code not in THROTTLING_CODES or attempt + 1 >= self.retry_attempts:
                    raise
                delay = backoff_delay(attempt, self.retry_base, self.retry_cap, self._jitter)
                log(
                    logging.WARNING,
                    "aws.throttled",
                    operation=name,
                    code=code,
                    attempt=attempt + 1,
                    retry_in=f"{delay:.2f}s",
                )
                self._pause(delay, interruptible=False)
        raise AssertionError("unreachable")  # pragma: no cover

    def poll(self) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "actionTypeId": self.config.action_type.as_api(),
            "maxBatchSize": self.config.max_jobs,
        }
        if self.config.query_params:
            params["queryParam"] = dict(self.config.query_params)
        jobs: list[dict[str, Any]] = self.call(self.codepipeline.poll_for_jobs, **params).get(
            "jobs", []
        )
        return jobs

    # -- the loop ----------------------------------------------------------------------------

    def run(self, max_polls: int | None = None) -> int:
        """Poll and work jobs until stopped (or `max_polls` polls); 0 on a clean stop."""
        log(
            logging.INFO,
            "worker.started",
            action_type=self.config.action_type,
            max_jobs=self.config.max_jobs,
            poll_interval=self.config.poll_interval,
            region=self.config.region,
        )
        polls = 0
        while not self._stop.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            try:
                jobs = self.poll()
            except ClientError as exc:
                if error_code(exc) in FATAL_POLL_CODES:
                    log(logging.ERROR, "poll.fatal", error=describe_error(exc))
                    return 2
                log(logging.ERROR, "poll.failed", error=describe_error(exc))
                jobs = []
            except BotoCoreError as exc:
                log(logging.ERROR, "poll.failed", error=describe_error(exc))
                jobs = []
            for index, job in enumerate(jobs):
                if self._stop.is_set():
                    log(
                        logging.INFO,
                        "poll.jobs_left",
                        count=len(jobs) - index,
                        note="not acknowledged; CodePipeline dispatches them again",
                    )
                    break
                self._process_job_safely(job)
            more = max_polls is None or polls < max_polls
            if not jobs and more and not self._stop.is_set():
                self._pause(self.config.poll_interval, interruptible=True)
        log(logging.INFO, "worker.stopped", polls=polls)
        return 0

    def _process_job_safely(self, job: Mapping[str, Any]) -> str:
        """`process_job`, but nothing one job throws may stop the polling loop."""
        try:
            return self.process_job(job)
        except Exception as exc:
            job_id = job.get("id")
            log(logging.ERROR, "job.crashed", job_id=job_id, error=describe_error(exc))
            if job_id is None:
                return "failed"
            try:
                return self._report_failure(
                    str(job_id), "JobFailed", f"internal job worker error: {describe_error(exc)}"
                )
            except Exception as report_exc:  # reporting is best effort; keep polling
                log(
                    logging.ERROR,
                    "job.report_failed",
                    job_id=job_id,
                    error=describe_error(report_exc),
                )
                return "failed"

    def process_job(self, job: Mapping[str, Any]) -> str:
        """Acknowledge and work one polled job. Returns skipped|succeeded|in_progress|failed."""
        job_id = str(job["id"])
        try:
            status = self.call(self.codepipeline.acknowledge_job, jobId=job_id, nonce=job["nonce"])
        except (ClientError, BotoCoreError) as exc:
            log(logging.WARNING, "job.ack_failed", job_id=job_id, error=describe_error(exc))
            return "skipped"
        if status.get("status") != "InProgress":
            log(logging.INFO, "job.skipped", job_id=job_id, status=status.get("status"))
            return "skipped"
        log(logging.INFO, "job.acknowledged", job_id=job_id)
        try:
            success = self._work(job_id, job.get("data") or {}, str(job.get("accountId", "")))
        except JobError as exc:
            return self._report_failure(job_id, exc.failure_type, exc.message)
        except Exception as exc:  # the loop must survive anything one job throws
            log(logging.ERROR, "job.crashed", job_id=job_id, error=describe_error(exc))
            return self._report_failure(
                job_id, "JobFailed", f"internal job worker error: {describe_error(exc)}"
            )
        return self._report_success(job_id, success)

    # -- results -----------------------------------------------------------------------------

    def _report_success(self, job_id: str, success: JobSuccess) -> str:
        params: dict[str, Any] = {
            "jobId": job_id,
            "executionDetails": {
                "summary": success.summary[:MAX_SUMMARY],
                "percentComplete": success.percent_complete,
            },
        }
        if success.continuation_token:
            params["continuationToken"] = success.continuation_token
        elif success.output_variables:  # the API takes them only without a continuation token
            params["outputVariables"] = dict(success.output_variables)
        try:
            self.call(self.codepipeline.put_job_success_result, **params)
        except (ClientError, BotoCoreError) as exc:
            log(logging.ERROR, "job.report_failed", job_id=job_id, error=describe_error(exc))
            if isinstance(exc, ClientError) and error_code(exc) in {
                "InvalidJobStateException",
                "JobNotFoundException",
            }:
                return "failed"
            return self._report_failure(
                job_id, "JobFailed", f"could not report success: {describe_error(exc)}"
            )
        outcome = "in_progress" if success.continuation_token else "succeeded"
        log(
            logging.INFO,
            f"job.{outcome}",
            job_id=job_id,
            percent=success.percent_complete,
            output_variables=",".join(sorted(success.output_variables)) or None,
        )
        return outcome

    def _report_failure(self, job_id: str, failure_type: str, message: str) -> str:
        head = message.split("\n", 1)[0]
        log(logging.WARNING, "job.failed", job_id=job_id, type=failure_type, reason=head)
        try:
            self.call(
                self.codepipeline.put_job_failure_result,
                jobId=job_id,
                failureDetails={"type": failure_type, "message": message[:MAX_FAILURE_MESSAGE]},
            )
        except (ClientError, BotoCoreError) as exc:
            log(logging.ERROR, "job.report_failed", job_id=job_id, error=describe_error(exc))
        return "failed"

    # -- one job -----------------------------------------------------------------------------

    def _work(self, job_id: str, data: Mapping[str, Any], account_id: str = "") -> JobSuccess:
        spec = parse_job_data(data)
        root = self.config.work_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        prefix = "pipegen-job-" + re.sub(r"[^A-Za-z0-9-]", "", job_id)[:36] + "-"
        job_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        try:
            return self._work_in(job_id, account_id, spec, job_dir)
        finally:
            if self.config.keep_work_dirs:
                log(logging.INFO, "job.work_dir_kept", job_id=job_id, path=job_dir)
            else:
                shutil.rmtree(job_dir, ignore_errors=True)

    def _work_in(self, job_id: str, account_id: str, spec: JobSpec, job_dir: Path) -> JobSuccess:
        src, inputs, outputs = job_dir / "src", job_dir / "inputs", job_dir / "outputs"
        meta, scratch = job_dir / "meta", job_dir / "scratch"
        for directory in (src, inputs, outputs, meta, scratch):
            directory.mkdir()
        s3 = None
        if spec.credentials is not None and (spec.inputs or spec.outputs):
            s3 = self.s3_client_factory(spec.credentials, self.config.region)

        env = dict(self._environ)
        env.update(spec.pipeline_context)
        env.update(
            {
                "PIPEGEN_JOB_ID": job_id,
                "PIPEGEN_ACCOUNT_ID": account_id,
                "PIPEGEN_WORK_DIR": str(job_dir),
                "PIPEGEN_SRC_DIR": str(src),
                "PIPEGEN_OUTPUT_VARIABLES_FILE": str(meta / "output-variables.json"),
                "PIPEGEN_CONTINUATION_TOKEN_FILE": str(meta / "continuation-token"),
                "PIPEGEN_SUMMARY_FILE": str(meta / "summary"),
                "PIPEGEN_PROGRESS_FILE": str(meta / "progress"),
            }
        )
        env.pop("PIPEGEN_CONTINUATION_TOKEN", None)
        if spec.continuation_token:
            env["PIPEGEN_CONTINUATION_TOKEN"] = spec.continuation_token
        for name, value in spec.configuration.items():
            env[f"PIPEGEN_CONFIG_{env_name(name)}"] = value

        for index, artifact in enumerate(spec.inputs):
            dest = src if index == 0 else inputs / f"{index}-{env_name(artifact.name)}"
            self._download(s3, artifact, scratch / f"input-{index}.zip", dest)
            env[f"PIPEGEN_INPUT_{env_name(artifact.name)}"] = str(dest)
        output_dirs = []
        for index, artifact in enumerate(spec.outputs):
            directory = outputs / f"{index}-{env_name(artifact.name)}"
            directory.mkdir()
            output_dirs.append(directory)
            env[f"PIPEGEN_OUTPUT_{env_name(artifact.name)}"] = str(directory)
            if index == 0:
                env["PIPEGEN_OUTPUT_DIR"] = str(directory)

        log(
            logging.INFO,
            "job.command_started",
            job_id=job_id,
            resumed=bool(spec.continuation_token),
            config_keys=",".join(sorted(spec.configuration)) or None,
        )
        result = self._run_command(env, src, job_dir / "command.log")
        log(
            logging.INFO,
            "job.command_finished",
            job_id=job_id,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            interrupted=result.interrupted,
            elapsed=f"{result.elapsed:.1f}s",
        )
        if result.interrupted:
            raise JobError(
                "JobFailed",
                with_tail(
                    "the job worker is shutting down: the command was stopped before it"
                    " finished; retry the action",
                    result.output_tail,
                ),
            )
        if result.timed_out:
            raise JobError(
                "JobFailed",
                with_tail(
                    f"the command timed out after {self.config.command_timeout:g}s and was stopped",
                    result.output_tail,
                ),
            )
        code = result.exit_code
        token = _read_text(meta / "continuation-token")
        in_progress = code == 0 and token is not None
        if self.config.in_progress_exit_code is not None:
            in_progress = in_progress or code == self.config.in_progress_exit_code
        if not in_progress and code != 0:
            head = (
                f"the command was killed by signal {-code}"
                if code is not None and code < 0
                else f"the command exited with status {code}"
            )
            raise JobError("JobFailed", with_tail(head, result.output_tail))

        summary = _read_text(meta / "summary")
        if in_progress:
            token = (token or spec.continuation_token or job_id)[:MAX_CONTINUATION_TOKEN]
            if (meta / "output-variables.json").exists():
                log(logging.WARNING, "job.output_variables_deferred", job_id=job_id)
            return JobSuccess(
                summary=summary or "in progress: CodePipeline will resume the action",
                percent_complete=self._progress(meta / "progress"),
                continuation_token=token,
            )
        variables = read_output_variables(meta / "output-variables.json")
        for index, (artifact, directory) in enumerate(zip(spec.outputs, output_dirs, strict=True)):
            self._upload(s3, artifact, directory, scratch / f"output-{index}.zip", spec.kms_key_id)
        if summary is None:
            summary = "the command succeeded"
            if spec.outputs:
                summary += "; uploaded " + ", ".join(a.name for a in spec.outputs)
        return JobSuccess(summary=summary, percent_complete=100, output_variables=variables)

    @staticmethod
    def _progress(path: Path) -> int:
        text = _read_text(path)
        try:
            return max(0, min(99, round(float(text)))) if text else 0
        except ValueError:
            return 0

    def _download(self, s3: Any, artifact: ArtifactRef, archive: Path, dest: Path) -> None:
        try:
            response = self.call(s3.get_object, Bucket=artifact.bucket, Key=artifact.key)
            with archive.open("wb") as fh:
                shutil.copyfileobj(response["Body"], fh)
        except (ClientError, BotoCoreError) as exc:
            raise JobError(
                "JobFailed",
                f"could not download input artifact {artifact.name!r} from {artifact.url}:"
                f" {describe_error(exc)}",
            ) from exc
        try:
            files = extract_zip(archive, dest)
        except (zipfile.BadZipFile, ValueError) as exc:
            raise JobError(
                "JobFailed",
                f"input artifact {artifact.name!r} ({artifact.url}) is not a usable zip: {exc}",
            ) from exc
        log(logging.INFO, "artifact.downloaded", name=artifact.name, url=artifact.url, files=files)

    def _upload(
        self, s3: Any, artifact: ArtifactRef, source: Path, archive: Path, kms_key_id: str | None
    ) -> None:
        if make_zip(source, archive) == 0:
            raise JobError(
                "JobFailed",
                f"the command wrote nothing for output artifact {artifact.name!r}"
                f" (expected files in $PIPEGEN_OUTPUT_{env_name(artifact.name)})",
            )
        extra = {"ServerSideEncryption": "aws:kms"}
        if kms_key_id:
            extra["SSEKMSKeyId"] = kms_key_id
        try:
            s3.upload_file(str(archive), artifact.bucket, artifact.key, ExtraArgs=extra)
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise JobError(
                "JobFailed",
                f"could not upload output artifact {artifact.name!r} to {artifact.url}:"
                f" {describe_error(exc)}",
            ) from exc
        log(logging.INFO, "artifact.uploaded", name=artifact.name, url=artifact.url)

    def _run_command(self, env: Mapping[str, str], cwd: Path, log_path: Path) -> CommandResult:
        command = self.config.command
        start = self._clock()
        deadline = start + self.config.command_timeout
        stop_deadline: float | None = None
        timed_out = interrupted = False
        with log_path.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: signals stay with us
                )
            except OSError as exc:
                raise JobError(
                    "ConfigurationError",
                    f"could not start the command {command[0]!r}: {exc.strerror or exc}",
                ) from exc
            while True:
                try:
                    proc.wait(timeout=self.tick)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = self._clock()
                if now >= deadline:
                    timed_out = True
                elif self._force_stop.is_set():
                    interrupted = True
                elif self._stop.is_set() and self.config.shutdown_grace is not None:
                    if stop_deadline is None:
                        stop_deadline = now + self.config.shutdown_grace
                    interrupted = now >= stop_deadline
                if timed_out or interrupted:
                    _terminate(proc)
                    break
        return CommandResult(
            exit_code=proc.returncode,
            timed_out=timed_out,
            interrupted=interrupted,
            elapsed=self._clock() - start,
            output_tail=read_tail(log_path),
        )


def _terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the command's process group, SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


# -- command line ------------------------------------------------------------------------------


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="job_worker.py",
        description="CodePipeline custom-action job worker: polls for jobs, runs a command on the"
        " input artifacts, uploads the output artifacts and reports the result.",
        epilog="Options default to the environment variable in brackets. Exit status: 0 after"
        " SIGTERM/SIGINT (or --once), 2 on a configuration error.",
    )

    def option(
        flag: str, env: str | None, text: str, default: str | None = None, **kw: Any
    ) -> None:
        if env is not None:
            default = environ.get(env, default)
            text = f"{text} [{env}]"
        parser.add_argument(flag, default=default, help=text, **kw)

    option("--category", "PIPEGEN_WORKER_CATEGORY", "action category: " + ", ".join(CATEGORIES))
    option("--provider", "PIPEGEN_WORKER_PROVIDER", "action provider name")
    option(
        "--version",
        "PIPEGEN_WORKER_VERSION",
        "action type version (default 1)",
        "1",
        dest="action_version",
        metavar="VERSION",
    )
    option(
        "--command",
        "PIPEGEN_WORKER_COMMAND",
        "shell command run in the unzipped input artifact (or give an argv after `--`)",
    )
    option(
        "--poll-interval",
        "PIPEGEN_WORKER_POLL_INTERVAL",
        "seconds to wait after an empty poll (default 30)",
        "30",
    )
    option("--max-jobs", "PIPEGEN_WORKER_MAX_JOBS", "maxBatchSize of each poll (default 1)", "1")
    option(
        "--query",
        "PIPEGEN_WORKER_QUERY",
        "NAME=VALUE of a queryable property: poll only for jobs configured with it",
        metavar="NAME=VALUE",
    )
    option(
        "--region",
        None,
        "AWS region [AWS_REGION, AWS_DEFAULT_REGION]",
        environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
    )
    option(
        "--timeout", "PIPEGEN_WORKER_TIMEOUT", "seconds the command may run (default 3600)", "3600"
    )
    option(
        "--in-progress-exit-code",
        "PIPEGEN_WORKER_IN_PROGRESS_EXIT_CODE",
        "exit status meaning 'still running, resume me later' (default 75; 'none': off)",
        str(DEFAULT_IN_PROGRESS_EXIT_CODE),
    )
    option(
        "--work-root",
        "PIPEGEN_WORKER_WORK_ROOT",
        "where per-job work directories are made (default: the system temp dir)",
    )
    option(
        "--shutdown-grace",
        "PIPEGEN_WORKER_SHUTDOWN_GRACE",
        "on SIGTERM/SIGINT, stop the running command after this many seconds and fail the"
        " job (default: let the job finish)",
    )
    option("--log-level", "PIPEGEN_WORKER_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", "INFO")
    keep = environ.get("PIPEGEN_WORKER_KEEP_WORK_DIRS", "").lower() in {"1", "true", "yes"}
    parser.add_argument(
        "--keep-work-dirs",
        action="store_true",
        default=keep,
        help="keep each job's work directory [PIPEGEN_WORKER_KEEP_WORK_DIRS=1]",
    )
    parser.add_argument("--once", action="store_true", help="poll once, work the jobs, exit")
    parser.add_argument("argv", nargs="*", help="the command as an argv, after `--`")
    return parser


def config_from_args(args: argparse.Namespace) -> WorkerConfig:
    if not args.category:
        raise ConfigError("--category (or PIPEGEN_WORKER_CATEGORY) is required")
    if args.category not in CATEGORIES:
        raise ConfigError(f"--category must be one of {', '.join(CATEGORIES)}")
    if not args.provider or len(args.provider) > 35:
        raise ConfigError("--provider (or PIPEGEN_WORKER_PROVIDER) is required, 1-35 characters")
    if not 1 <= len(args.action_version) <= 9:
        raise ConfigError("--version must be 1-9 characters")
    if args.argv and args.command:
        raise ConfigError("give the command either as --command or as an argv after --, not both")
    command: tuple[str, ...]
    if args.argv:
        command = tuple(args.argv)
    elif args.command:
        command = ("/bin/sh", "-c", args.command)
    else:
        raise ConfigError("no command: use --command, PIPEGEN_WORKER_COMMAND or -- ARGV")
    query_params: dict[str, str] = {}
    if args.query:
        name, sep, value = str(args.query).partition("=")
        if not sep or not 1 <= len(name) <= 50 or not QUERY_VALUE.fullmatch(value):
            raise ConfigError(
                f"--query {args.query!r}: expected NAME=VALUE, VALUE of 1-50 [a-zA-Z0-9_-]"
            )
        query_params[name] = value
    try:
        poll_interval, timeout = float(args.poll_interval), float(args.timeout)
        max_jobs = int(args.max_jobs)
        grace = None if args.shutdown_grace in (None, "") else float(args.shutdown_grace)
    except ValueError as exc:
        raise ConfigError(f"not a number: {exc}") from exc
    if poll_interval <= 0 or timeout <= 0 or max_jobs < 1:
        raise ConfigError("--poll-interval and --timeout must be > 0, --max-jobs >= 1")
    raw_code = str(args.in_progress_exit_code).strip().lower()
    in_progress: int | None = None
    if raw_code not in {"", "none", "off"}:
        try:
            in_progress = int(raw_code)
        except ValueError as exc:
            raise ConfigError("--in-progress-exit-code must be 1-255 or 'none'") from exc
        if not 1 <= in_progress <= 255:
            raise ConfigError("--in-progress-exit-code must be 1-255 or 'none'")
    if grace is not None and grace < 0:
        raise ConfigError("--shutdown-grace must be >= 0")
    return WorkerConfig(
        action_type=ActionType(args.category, args.provider, args.action_version),
        command=command,
        poll_interval=poll_interval,
        max_jobs=max_jobs,
        region=args.region or None,
        query_params=query_params,
        command_timeout=timeout,
        in_progress_exit_code=in_progress,
        work_root=Path(args.work_root) if args.work_root else None,
        keep_work_dirs=bool(args.keep_work_dirs),
        shutdown_grace=grace,
    )


def parse_config(
    argv: Sequence[str], environ: Mapping[str, str]
) -> tuple[WorkerConfig, argparse.Namespace]:
    """Parse the command line over environment defaults. Raises ConfigError or SystemExit."""
    args = build_parser(environ).parse_args(list(argv))
    return config_from_args(args), args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, args = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except SystemExit as exc:  # --help, or argparse's own usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except ConfigError as exc:
        print(f"job_worker.py: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    client = boto3.client(
        "codepipeline",
        region_name=config.region,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    worker = Worker(config, client)
    restore = worker.install_signal_handlers()
    try:
        return worker.run(max_polls=1 if args.once else None)
    finally:
        restore()


if __name__ == "__main__":
    sys.exit(main())
