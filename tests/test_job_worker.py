"""The custom-action job worker, offline: a botocore Stubber on a real CodePipeline client (moto has
no job API) with exact request parameters, moto for the artifact bucket, real shell commands."""

from __future__ import annotations

import io
import logging
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from generator.workers import job_worker
from generator.workers.job_worker import (
    ActionType,
    ArtifactCredentials,
    ConfigError,
    Worker,
    WorkerConfig,
)
from tests.offline_aws import offline_aws

REGION, BUCKET = "us-east-1", "shop-pipeline-artifacts"
ACTION = ActionType("Deploy", "ShopDeployer", "1")
INPUT_KEY, OUTPUT_KEY = "shop/SourceArti/in.zip", "shop/BuildOutpu/out.zip"
JOB_CREDENTIALS = {
    "accessKeyId": "ASIAJOBCREDENTIALS01",
    "secretAccessKey": "job-secret-access-key-never-logged",
    "sessionToken": "job-session-token-never-logged",
}
CREDENTIALS = ArtifactCredentials(
    JOB_CREDENTIALS["accessKeyId"],
    JOB_CREDENTIALS["secretAccessKey"],
    JOB_CREDENTIALS["sessionToken"],
)
SEPARATOR = "\n--- output (last lines) ---\n"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with offline_aws(monkeypatch, REGION):
        yield


@pytest.fixture
def s3() -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def kms_key() -> str:
    return str(boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"])


@pytest.fixture
def codepipeline() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codepipeline", region_name=REGION)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


class RecordingS3Factory:
    """Builds S3 clients from the credentials it is given (moto answers) and records them."""

    def __init__(self) -> None:
        self.calls: list[tuple[ArtifactCredentials, str | None]] = []

    def __call__(self, credentials: ArtifactCredentials, region: str | None) -> Any:
        self.calls.append((credentials, region))
        return boto3.client(
            "s3",
            region_name=region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )


class Harness:
    def __init__(self, worker: Worker, factory: RecordingS3Factory, sleeps: list[float]) -> None:
        self.worker, self.factory, self.sleeps = worker, factory, sleeps


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def make(codepipeline: tuple[Any, Stubber], work_root: Path) -> Any:
    def build(script: str, **overrides: Any) -> Harness:
        settings: dict[str, Any] = {
            "action_type": ACTION,
            "command": ("/bin/sh", "-c", script),
            "poll_interval": 5.0,
            "region": REGION,
            "work_root": work_root,
            "command_timeout": 30.0,
        }
        settings.update(overrides)
        factory, sleeps = RecordingS3Factory(), []

        def sleep(seconds: float) -> None:  # a worker looping on errors fails instead of hanging
            sleeps.append(seconds)
            assert len(sleeps) < 20, f"the worker keeps waiting: {sleeps}"

        worker = Worker(
            WorkerConfig(**settings),
            codepipeline[0],
            factory,
            sleep=sleep,
            jitter=lambda delay: delay,
            environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        return Harness(worker, factory, sleeps)

    return build


def zip_bytes(files: dict[str, str], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | stat.S_IFREG) << 16
            zf.writestr(info, text)
    return buffer.getvalue()


def put_input(s3: Any, files: dict[str, str] | None = None, **kw: Any) -> None:
    body = zip_bytes(files or {"app.txt": "shop-api"}, **kw)
    s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=body)


def job(
    job_id: str = "job-1",
    *,
    kms_key: str | None = None,
    input_key: str = INPUT_KEY,
    outputs: bool = True,
    token: str | None = None,
    configuration: dict[str, str] | None = None,
) -> dict[str, Any]:
    def artifact(name: str, key: str) -> dict[str, Any]:
        return {
            "name": name,
            "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": key}},
        }

    data: dict[str, Any] = {
        "actionTypeId": ACTION.as_api(),
        "actionConfiguration": {"configuration": configuration or {"Target-Env": "prod"}},
        "pipelineContext": {
            "pipelineName": "shop",
            "stage": {"name": "Deploy"},
            "action": {"name": "ShopDeploy"},
            "pipelineExecutionId": "exec-1",
        },
        "inputArtifacts": [artifact("SourceArtifact", input_key)],
        "outputArtifacts": [artifact("BuildOutput", OUTPUT_KEY)] if outputs else [],
        "artifactCredentials": JOB_CREDENTIALS,
    }
    if kms_key:
        data["encryptionKey"] = {"id": kms_key, "type": "KMS"}
    if token:
        data["continuationToken"] = token
    return {"id": job_id, "nonce": f"nonce-{job_id}", "accountId": "123456789012", "data": data}


def expect_poll(stub: Stubber, jobs: list[dict[str, Any]], query: dict[str, str] | None = None):
    params: dict[str, Any] = {"actionTypeId": ACTION.as_api(), "maxBatchSize": 1}
    if query:
        params["queryParam"] = query
    stub.add_response("poll_for_jobs", {"jobs": jobs}, params)


def expect_ack(stub: Stubber, job_id: str = "job-1", status: str = "InProgress") -> None:
    stub.add_response(
        "acknowledge_job", {"status": status}, {"jobId": job_id, "nonce": f"nonce-{job_id}"}
    )


def expect_success(stub: Stubber, job_id: str = "job-1", **params: Any) -> None:
    stub.add_response("put_job_success_result", {}, {"jobId": job_id, **params})


def expect_failure(
    stub: Stubber, message: str, job_id: str = "job-1", failure_type: str = "JobFailed"
) -> None:
    details = {"type": failure_type, "message": message}
    stub.add_response("put_job_failure_result", {}, {"jobId": job_id, "failureDetails": details})


def details(summary: str, percent: int = 100) -> dict[str, Any]:
    return {"summary": summary, "percentComplete": percent}


def output_zip(s3: Any) -> zipfile.ZipFile:
    body = s3.get_object(Bucket=BUCKET, Key=OUTPUT_KEY)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def worker_lines(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == job_worker.LOG.name)


# -- the job flow ------------------------------------------------------------------------------

BUILD = """set -e
test "$(pwd)" = "$PIPEGEN_SRC_DIR"
test "$PIPEGEN_ACCOUNT_ID" = 123456789012
printf 'built %s for %s\\n' "$(cat app.txt)" "$PIPEGEN_CONFIG_TARGET_ENV" \
    > "$PIPEGEN_OUTPUT_DIR/build.txt"
mkdir "$PIPEGEN_OUTPUT_BUILDOUTPUT/bin"
cp run.sh "$PIPEGEN_OUTPUT_BUILDOUTPUT/bin/run.sh"
printf '{"ImageTag": "v42", "Replicas": 3}' > "$PIPEGEN_OUTPUT_VARIABLES_FILE"
echo "deployed $PIPEGEN_PIPELINE_NAME/$PIPEGEN_STAGE_NAME job $PIPEGEN_JOB_ID"
"""


def test_success_uses_job_credentials_and_uploads_with_sse_kms(
    make: Any,
    codepipeline: tuple[Any, Stubber],
    s3: Any,
    kms_key: str,
    work_root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=job_worker.LOG.name)
    put_input(s3, {"app.txt": "shop-api", "run.sh": "#!/bin/sh\n"}, modes={"run.sh": 0o755})
    _, stub = codepipeline
    expect_poll(stub, [job(kms_key=kms_key)], query={"Env": "prod"})
    expect_ack(stub)
    expect_success(
        stub,
        executionDetails=details("the command succeeded; uploaded BuildOutput"),
        outputVariables={"ImageTag": "v42", "Replicas": "3"},
    )
    h = make(BUILD, query_params={"Env": "prod"})

    assert h.worker.run(max_polls=1) == 0

    assert h.factory.calls == [(CREDENTIALS, REGION)]  # the job's credentials, once per job
    head = s3.head_object(Bucket=BUCKET, Key=OUTPUT_KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == kms_key
    with output_zip(s3) as zf:
        assert sorted(zf.namelist()) == ["bin/run.sh", "build.txt"]
        assert zf.read("build.txt") == b"built shop-api for prod\n"
        assert (zf.getinfo("bin/run.sh").external_attr >> 16) & 0o777 == 0o755
    assert list(work_root.iterdir()) == []  # the work directory is gone
    assert h.sleeps == []
    lines = worker_lines(caplog)
    assert "event=job.succeeded job_id=job-1" in lines
    for secret in JOB_CREDENTIALS.values():
        assert secret not in lines


def test_without_encryption_key_upload_still_uses_sse_kms(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_success(stub, executionDetails=details("the command succeeded; uploaded BuildOutput"))
    h = make('cp app.txt "$PIPEGEN_OUTPUT_DIR/"')

    h.worker.run(max_polls=1)

    head = s3.head_object(Bucket=BUCKET, Key=OUTPUT_KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert "SSEKMSKeyId" not in head


def test_command_failure_reports_the_output_tail(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any, kms_key: str
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job(kms_key=kms_key)])
    expect_ack(stub)
    expect_failure(
        stub, "the command exited with status 3" + SEPARATOR + "compiling\nerror: 2 tests failed"
    )
    h = make("echo compiling; echo 'error: 2 tests failed' >&2; exit 3")

    assert h.worker.run(max_polls=1) == 0

    with pytest.raises(ClientError, match="404"):
        s3.head_object(Bucket=BUCKET, Key=OUTPUT_KEY)  # nothing uploaded for a failed job


def test_long_output_is_cut_to_the_api_limit(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    lines = "\n".join(str(n) for n in range(1, 3001))
    head = "the command exited with status 1"
    room = 5000 - len(head) - len(SEPARATOR)
    message = head + SEPARATOR + "..." + lines[-(room - 3) :]
    assert len(message) == 5000
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(stub, message)
    h = make("seq 1 3000; exit 1")

    h.worker.run(max_polls=1)


def test_continuation_token_round_trip(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any, kms_key: str
) -> None:
    put_input(s3)
    script = """if [ -z "${PIPEGEN_CONTINUATION_TOKEN:-}" ]; then
    echo deploy-42 > "$PIPEGEN_CONTINUATION_TOKEN_FILE"
    echo 'deploying: 2 of 5 hosts' > "$PIPEGEN_SUMMARY_FILE"
    echo 40 > "$PIPEGEN_PROGRESS_FILE"
    exit 75
fi
echo "resumed $PIPEGEN_CONTINUATION_TOKEN" > "$PIPEGEN_OUTPUT_DIR/result.txt"
"""
    _, stub = codepipeline
    expect_poll(stub, [job("job-1", kms_key=kms_key)])
    expect_ack(stub, "job-1")
    expect_success(
        stub,
        "job-1",
        continuationToken="deploy-42",
        executionDetails=details("deploying: 2 of 5 hosts", 40),
    )
    expect_poll(stub, [job("job-2", kms_key=kms_key, token="deploy-42")])
    expect_ack(stub, "job-2")
    expect_success(
        stub, "job-2", executionDetails=details("the command succeeded; uploaded BuildOutput")
    )
    h = make(script)

    assert h.worker.run(max_polls=2) == 0

    with output_zip(s3) as zf:
        assert zf.read("result.txt") == b"resumed deploy-42\n"
    assert h.factory.calls == [(CREDENTIALS, REGION), (CREDENTIALS, REGION)]


def test_in_progress_exit_code_without_token_file_uses_the_job_id(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_success(
        stub,
        continuationToken="job-1",
        executionDetails=details("in progress: CodePipeline will resume the action", 0),
    )
    h = make('echo \'{"Ignored": "until done"}\' > "$PIPEGEN_OUTPUT_VARIABLES_FILE"; exit 75')

    h.worker.run(max_polls=1)

    with pytest.raises(ClientError, match="404"):
        s3.head_object(Bucket=BUCKET, Key=OUTPUT_KEY)  # outputs only once the action is done


def test_download_error_fails_the_job_without_running_the_command(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    _, stub = codepipeline
    expect_poll(stub, [job(input_key="shop/SourceArti/missing.zip")])
    expect_ack(stub)
    expect_failure(
        stub,
        "could not download input artifact 'SourceArtifact' from"
        f" s3://{BUCKET}/shop/SourceArti/missing.zip: NoSuchKey: The specified key does not exist.",
    )
    h = make(f"touch {marker}")

    assert h.worker.run(max_polls=1) == 0

    assert not marker.exists()


def test_input_that_is_not_a_zip_fails_the_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=b"not a zip")
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(
        stub,
        f"input artifact 'SourceArtifact' (s3://{BUCKET}/{INPUT_KEY}) is not a usable zip:"
        " File is not a zip file",
    )
    make("true").worker.run(max_polls=1)


def test_invalid_output_variables_fail_the_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job(outputs=False)])
    expect_ack(stub)
    expect_failure(stub, "invalid output variable name 'bad key' (allowed: A-Z a-z 0-9 @ - _)")
    make('echo \'{"bad key": 1}\' > "$PIPEGEN_OUTPUT_VARIABLES_FILE"').worker.run(max_polls=1)


def test_empty_output_artifact_fails_the_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(
        stub,
        "the command wrote nothing for output artifact 'BuildOutput'"
        " (expected files in $PIPEGEN_OUTPUT_BUILDOUTPUT)",
    )
    make("true").worker.run(max_polls=1)


def test_command_that_cannot_start_is_a_configuration_error(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(
        stub,
        "could not start the command '/nonexistent/deploy': No such file or directory",
        failure_type="ConfigurationError",
    )
    make("", command=("/nonexistent/deploy",)).worker.run(max_polls=1)


def test_command_timeout_stops_it_and_fails_the_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(stub, "the command timed out after 0.5s and was stopped" + SEPARATOR + "started")
    make("echo started; sleep 30", command_timeout=0.5).worker.run(max_polls=1)


# -- acknowledgement, throttling, polling errors -----------------------------------------------


def test_job_not_in_progress_after_ack_is_skipped(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub, status="TimedOut")  # and no result call: the stubber would reject it
    h = make(f"touch {marker}")

    assert h.worker.run(max_polls=1) == 0

    assert h.factory.calls == []  # never even looked at the artifacts
    assert not marker.exists()


def test_throttling_is_retried_with_backoff_then_succeeds(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    poll = {"actionTypeId": ACTION.as_api(), "maxBatchSize": 1}
    stub.add_client_error("poll_for_jobs", "ThrottlingException", "Rate exceeded", 400, None, poll)
    stub.add_client_error("poll_for_jobs", "RequestLimitExceeded", "slow down", 400, None, poll)
    expect_poll(stub, [job(outputs=False)])
    ack = {"jobId": "job-1", "nonce": "nonce-job-1"}
    stub.add_client_error("acknowledge_job", "ThrottlingException", "Rate exceeded", 400, None, ack)
    expect_ack(stub)
    expect_success(stub, executionDetails=details("the command succeeded"))
    h = make("true")

    assert h.worker.run(max_polls=1) == 0

    assert h.sleeps == [0.5, 1.0, 0.5]  # per call: base * 2**attempt, jitter injected away


def test_throttling_past_the_retry_budget_keeps_the_worker_alive(
    make: Any, codepipeline: tuple[Any, Stubber]
) -> None:
    _, stub = codepipeline
    poll = {"actionTypeId": ACTION.as_api(), "maxBatchSize": 1}
    for _ in range(3):
        stub.add_client_error("poll_for_jobs", "ThrottlingException", "", 400, None, poll)
    expect_poll(stub, [])
    h = make("true")
    h.worker.retry_attempts = 3

    assert h.worker.run(max_polls=2) == 0

    assert h.sleeps == [0.5, 1.0, 5.0]  # two backoffs, then the poll interval


def test_network_error_reporting_success_fails_the_job_and_keeps_polling(
    make: Any, codepipeline: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stub = codepipeline
    expect_poll(stub, [job(outputs=False, input_key="unused")])
    expect_ack(stub)
    expect_failure(
        stub,
        "could not report success: EndpointConnectionError: "
        'Could not connect to the endpoint URL: "https://codepipeline.example"',
    )
    expect_poll(stub, [])

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://codepipeline.example")

    monkeypatch.setattr(client, "put_job_success_result", unreachable)
    h = make("true")
    h.worker._download = lambda *a, **k: None  # type: ignore[method-assign]

    assert h.worker.run(max_polls=2) == 0


def test_unexpected_error_from_one_job_is_reported_and_the_loop_goes_on(
    make: Any,
    codepipeline: tuple[Any, Stubber],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, stub = codepipeline
    expect_poll(stub, [job(outputs=False, input_key="unused")])
    expect_ack(stub)
    expect_failure(stub, "internal job worker error: RuntimeError: boom")
    expect_poll(stub, [])

    def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(client, "put_job_success_result", broken)
    h = make("true")
    h.worker._download = lambda *a, **k: None  # type: ignore[method-assign]

    with caplog.at_level(logging.INFO):
        assert h.worker.run(max_polls=2) == 0

    assert "job.crashed" in worker_lines(caplog)
    assert "worker.stopped" in worker_lines(caplog)


def test_unknown_action_type_stops_the_worker(make: Any, codepipeline: tuple[Any, Stubber]) -> None:
    _, stub = codepipeline
    stub.add_client_error("poll_for_jobs", "ActionTypeNotFoundException", "no such action type")
    assert make("true").worker.run() == 2


def test_empty_polls_wait_the_poll_interval(make: Any, codepipeline: tuple[Any, Stubber]) -> None:
    _, stub = codepipeline
    expect_poll(stub, [])
    expect_poll(stub, [])
    h = make("true")

    assert h.worker.run(max_polls=2) == 0

    assert h.sleeps == [5.0]


def test_backoff_is_exponential_and_capped() -> None:
    delays = [job_worker.backoff_delay(n, 0.5, 20.0, lambda d: d) for n in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    for _ in range(50):
        assert 10.0 <= job_worker.equal_jitter(20.0) <= 20.0


# -- shutdown ----------------------------------------------------------------------------------


def test_sigterm_during_a_job_finishes_it_then_stops(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_success(stub, executionDetails=details("the command succeeded; uploaded BuildOutput"))
    # No second poll is stubbed: one after the signal would fail the test.
    h = make('kill -TERM "$PPID"; sleep 0.3; echo done > "$PIPEGEN_OUTPUT_DIR/done.txt"')
    restore = h.worker.install_signal_handlers()
    try:
        assert h.worker.run() == 0
    finally:
        restore()

    assert h.worker.stopping
    with output_zip(s3) as zf:
        assert zf.read("done.txt") == b"done\n"


def test_stop_with_shutdown_grace_fails_the_running_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(
        stub,
        "the job worker is shutting down: the command was stopped before it finished;"
        " retry the action" + SEPARATOR + "deploying",
    )
    h = make('echo deploying; kill -TERM "$PPID"; sleep 30', shutdown_grace=0.0)
    restore = h.worker.install_signal_handlers()
    try:
        assert h.worker.run() == 0
    finally:
        restore()


def test_second_signal_aborts_the_running_job(
    make: Any, codepipeline: tuple[Any, Stubber], s3: Any
) -> None:
    put_input(s3)
    _, stub = codepipeline
    expect_poll(stub, [job()])
    expect_ack(stub)
    expect_failure(
        stub,
        "the job worker is shutting down: the command was stopped before it finished;"
        " retry the action (no output)",
    )
    script = 'kill -INT "$PPID"; sleep 0.3; kill -TERM "$PPID"; sleep 30'
    h = make(script)
    restore = h.worker.install_signal_handlers()
    try:
        assert h.worker.run() == 0
    finally:
        restore()


def test_stop_before_acknowledging_leaves_jobs_alone(
    make: Any,
) -> None:
    h = make("true")

    def poll_then_stop(**_: Any) -> dict[str, Any]:
        h.worker.request_stop("test")
        return {"jobs": [job()]}

    h.worker.codepipeline = type("CP", (), {"poll_for_jobs": staticmethod(poll_then_stop)})()
    assert h.worker.run() == 0  # no AcknowledgeJob: CodePipeline hands the job out again


# -- pieces ------------------------------------------------------------------------------------


def test_failure_message_keeps_the_end_of_the_output() -> None:
    message = job_worker.with_tail("boom", "x" * 10_000 + "\nlast line\n")
    assert len(message) == 5000
    assert message.startswith("boom" + SEPARATOR + "...")
    assert message.endswith("x\nlast line")
    assert job_worker.with_tail("boom", "  \n") == "boom (no output)"


def test_zip_paths_leaving_the_work_directory_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"../escape.txt": "x"}))
    with pytest.raises(ValueError, match="unsafe path"):
        job_worker.extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_default_s3_factory_signs_with_the_job_credentials_only() -> None:
    client = job_worker.default_s3_client_factory(CREDENTIALS, REGION)
    signing = client._request_signer._credentials
    assert (signing.access_key, signing.secret_key, signing.token) == (
        CREDENTIALS.access_key_id,
        CREDENTIALS.secret_access_key,
        CREDENTIALS.session_token,
    )  # not the worker's own ("testing")
    assert JOB_CREDENTIALS["secretAccessKey"] not in repr(CREDENTIALS)


def test_parse_job_data_rejects_artifacts_without_credentials() -> None:
    data = job()["data"]
    del data["artifactCredentials"]
    with pytest.raises(job_worker.JobError) as info:
        job_worker.parse_job_data(data)
    assert info.value.failure_type == "ConfigurationError"


# -- configuration -----------------------------------------------------------------------------


def test_config_from_arguments_over_environment() -> None:
    environ = {
        "PIPEGEN_WORKER_POLL_INTERVAL": "5",
        "PIPEGEN_WORKER_MAX_JOBS": "3",
        "PIPEGEN_WORKER_SHUTDOWN_GRACE": "10",
        "PIPEGEN_WORKER_PROVIDER": "FromEnv",
        "AWS_REGION": "eu-west-1",
    }
    argv = ["--category", "Deploy", "--provider", "ShopDeployer", "--query", "Env=prod"]
    config, args = job_worker.parse_config([*argv, "--", "./deploy.sh", "--fast"], environ)
    assert config == WorkerConfig(
        action_type=ActionType("Deploy", "ShopDeployer", "1"),
        command=("./deploy.sh", "--fast"),
        poll_interval=5.0,
        max_jobs=3,
        region="eu-west-1",
        query_params={"Env": "prod"},
        shutdown_grace=10.0,
    )
    assert not args.once


def test_config_from_environment_only() -> None:
    environ = {
        "PIPEGEN_WORKER_CATEGORY": "Test",
        "PIPEGEN_WORKER_PROVIDER": "ShopTests",
        "PIPEGEN_WORKER_VERSION": "2",
        "PIPEGEN_WORKER_COMMAND": 'make test TARGET="$PIPEGEN_CONFIG_TARGET"',
        "PIPEGEN_WORKER_IN_PROGRESS_EXIT_CODE": "none",
        "PIPEGEN_WORKER_KEEP_WORK_DIRS": "true",
    }
    config, _ = job_worker.parse_config([], environ)
    assert config.action_type.as_api() == {
        "category": "Test",
        "owner": "Custom",
        "provider": "ShopTests",
        "version": "2",
    }
    assert config.command == ("/bin/sh", "-c", 'make test TARGET="$PIPEGEN_CONFIG_TARGET"')
    assert config.in_progress_exit_code is None
    assert config.keep_work_dirs


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--provider", "P", "--command", "true"], "--category"),
        (["--category", "Deploy", "--command", "true"], "--provider"),
        (["--category", "Deploy", "--provider", "P"], "no command"),
        (["--category", "Deploy", "--provider", "P", "--command", "x", "--", "y"], "not both"),
        (["--category", "Deploy", "--provider", "P", "--command", "x", "--query", "E"], "NAME="),
        (["--category", "Deploy", "--provider", "P", "--command", "x", "--max-jobs", "0"], ">="),
    ],
)
def test_config_errors(argv: list[str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        job_worker.parse_config(argv, {})


def test_main_returns_2_on_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("PIPEGEN_WORKER_")]:
        monkeypatch.delenv(name)
    assert job_worker.main(["--provider", "P", "--command", "true"]) == 2
    assert "--category" in capsys.readouterr().err
    assert job_worker.main(["--help"]) == 0
