"""Publish a pipeline's committed templates, and update the pipeline's own stack with them
when they changed. The UpdatePipeline stage runs it in CodeBuild, from the source repository:

    python publish_templates.py --source DIR --bucket B --stack-name S --region R
        [--prefix P] [--bucket-region R] [--pipeline NAME] [--role-arn ARN] [--env-file F]

1. Hash the template set under DIR: the root template and stacks/, every relative path and its
   bytes, in path order (sha256). pipegen's output is deterministic, so the same spec gives the
   same hash, and an unchanged commit never updates the stack (no self-update loop).
2. Read the running stack (DescribeStacks). Its TemplateKeyPrefix parameter names the set it
   was launched from, `<base><pipeline>/<hash>/`; the hash there is the hash of that set.
3. Same hash: nothing to do. TEMPLATES_CHANGED=false, and no change set is created.
4. Otherwise upload the set to `<base><pipeline>/<hash>/` (base: --prefix, or the stack's
   prefix without its `<pipeline>/<hash>/`), create a change set of the root from there with
   every other parameter at its previous value (UsePreviousValue: CodePipeline's CloudFormation
   action cannot do that), execute it with the CloudFormation role (--role-arn), and wait for
   the update. TEMPLATES_CHANGED=true, TEMPLATE_PREFIX=<the new prefix>.

The variables go to --env-file as `export NAME='value'` lines, for the buildspec to source and
CodeBuild to export (exported-variables): TEMPLATES_CHANGED, TEMPLATE_PREFIX, TEMPLATE_HASH and
CHANGE_SET (the change set's ARN, empty when nothing changed). Exit status 1 on any failure,
including a rolled-back update, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX_PARAMETER = "TemplateKeyPrefix"
ROOT_FILES = ("root.yaml", "root.json")
STACKS_FOLDER = "stacks"
MAX_PREFIX = 200  # the root's TemplateKeyPrefix parameter allows no more
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
CHANGE_SET_PREFIX = "pipegen-self-update-"
BUSY = re.compile(r"_IN_PROGRESS$")
# A change set's ExecutionStatus once its execution has ended (OBSOLETE: another one ran).
EXECUTION_DONE = ("EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CONTENT_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
}


class PublishError(Exception):
    """Something the pipeline's operators must fix; the message says what."""


# -- the template set ----------------------------------------------------------------------------


def template_files(source: Path) -> dict[str, bytes]:
    """Relative path -> bytes of what the root stack reads: the root template and every file
    under stacks/. Documents, starter files and scripts beside them are not part of the set."""
    if not source.is_dir():
        raise PublishError(
            f"{source} is not in the source: the UpdatePipeline stage publishes the templates "
            "committed there (spec field self_update_path); commit the generated output, or "
            "set self_update: false"
        )
    roots = [name for name in ROOT_FILES if (source / name).is_file()]
    if len(roots) != 1:
        found = " and ".join(roots) or "neither"
        raise PublishError(f"{source} must hold one of {' or '.join(ROOT_FILES)}: found {found}")
    files = {roots[0]: (source / roots[0]).read_bytes()}
    stacks = source / STACKS_FOLDER
    if stacks.is_dir():
        for path in sorted(stacks.rglob("*")):
            if path.is_file():
                files[path.relative_to(source).as_posix()] = path.read_bytes()
    return files


def tree_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over every relative path and its bytes, in path order: independent of the file
    system's order, the checkout's timestamps and the folder's own location."""
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        digest.update(f"{path}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def root_file(files: Mapping[str, bytes]) -> str:
    return next(name for name in ROOT_FILES if name in files)


# -- prefixes ------------------------------------------------------------------------------------


def split_prefix(prefix: str, pipeline: str) -> tuple[str, str | None]:
    """(base, hash) of a TemplateKeyPrefix: `<base><pipeline>/<hash>/` gives the hash; any other
    prefix (the one the stack was first launched with) is all base, with no hash."""
    match = re.fullmatch(rf"(.*?)(?:(?<![^/]){re.escape(pipeline)}/([0-9a-f]{{64}})/)", prefix)
    if match is None:
        return prefix, None
    return match.group(1), match.group(2)


def versioned_prefix(base: str, pipeline: str, digest: str) -> str:
    if base and not base.endswith("/"):
        raise PublishError(f"the key prefix {base!r} must be empty or end in /")
    prefix = f"{base}{pipeline}/{digest}/"
    if len(prefix) > MAX_PREFIX:
        raise PublishError(
            f"{prefix} is longer than the {MAX_PREFIX} characters TemplateKeyPrefix allows; "
            "launch the stack with a shorter prefix"
        )
    return prefix


# -- the running stack ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]

    @property
    def prefix(self) -> str:
        return self.parameters.get(PREFIX_PARAMETER, "")


def read_stack(cloudformation: Any, stack_name: str) -> StackState:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as error:  # botocore's ClientError: the stack does not exist, or no access
        raise PublishError(f"cannot read stack {stack_name}: {error}") from error
    stack = stacks[0]
    parameters = stack.get("Parameters", [])
    outputs = stack.get("Outputs", [])
    return StackState(
        name=stack["StackName"],
        status=stack["StackStatus"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in parameters},
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in outputs},
    )


@dataclass(frozen=True)
class Plan:
    """What to do: `changed` false means the stack already runs this template set."""

    digest: str
    running: str | None  # the hash the stack was launched with, when its prefix names one
    base: str
    prefix: str  # where this set goes (or is): <base><pipeline>/<digest>/

    @property
    def changed(self) -> bool:
        return self.running != self.digest


def plan(files: Mapping[str, bytes], stack: StackState, pipeline: str, base: str | None) -> Plan:
    digest = tree_hash(files)
    stack_base, running = split_prefix(stack.prefix, pipeline)
    chosen = stack_base if base is None else base
    return Plan(digest, running, chosen, versioned_prefix(chosen, pipeline, digest))


def check_stack(stack: StackState, pipeline: str | None) -> None:
    """Refuse a stack that is busy, or that is not this pipeline's."""
    if BUSY.search(stack.status):
        raise PublishError(f"stack {stack.name} is {stack.status}; run the pipeline again later")
    if pipeline is not None and stack.outputs.get("PipelineName") != pipeline:
        raise PublishError(
            f"stack {stack.name} is not the stack of pipeline {pipeline} (its PipelineName "
            f"output is {stack.outputs.get('PipelineName')!r}); set the root parameter "
            "PipelineStackName to the name this pipeline's stack was launched with"
        )


# -- publishing and updating ---------------------------------------------------------------------


def upload(s3: Any, bucket: str, prefix: str, files: Mapping[str, bytes]) -> list[str]:
    """Put every file under `prefix`; returns the keys. The prefix is content-addressed, so a
    repeated upload writes the same bytes again."""
    keys = []
    for relative in sorted(files):
        key = f"{prefix}{relative}"
        content_type = CONTENT_TYPES.get(Path(relative).suffix, "application/octet-stream")
        s3.put_object(Bucket=bucket, Key=key, Body=files[relative], ContentType=content_type)
        keys.append(key)
    return keys


def url_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.{url_suffix(region)}/{key}"


def change_set_parameters(
    template_parameters: Sequence[str], stack: StackState, prefix: str
) -> list[dict[str, Any]]:
    """The new prefix, and every other parameter the stack already has at its previous value
    (secrets included, which DescribeStacks would only show as ****). A parameter new in this
    template takes its default."""
    parameters: list[dict[str, Any]] = []
    for name in template_parameters:
        if name == PREFIX_PARAMETER:
            parameters.append({"ParameterKey": name, "ParameterValue": prefix})
        elif name in stack.parameters:
            parameters.append({"ParameterKey": name, "UsePreviousValue": True})
    return parameters


def change_set_name(digest: str) -> str:
    return f"{CHANGE_SET_PREFIX}{digest[:16]}"


def _wait(description: str, check: Any, timeout: float, delay: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        done, value = check()
        if done:
            return value
        if time.monotonic() > deadline:
            raise PublishError(f"timed out waiting for {description}")
        time.sleep(delay)


def update_stack(
    cloudformation: Any,
    stack: StackState,
    url: str,
    prefix: str,
    digest: str,
    role_arn: str | None,
    *,
    timeout: float = 3300,
    delay: float = 15,
) -> str | None:
    """Create, execute and follow the change set; returns its ARN (None: nothing to change)."""
    summary = cloudformation.get_template_summary(TemplateURL=url)
    names = [p["ParameterKey"] for p in summary.get("Parameters", [])]
    request: dict[str, Any] = {
        "StackName": stack.name,
        "ChangeSetName": change_set_name(digest),
        "ChangeSetType": "UPDATE",
        "TemplateURL": url,
        "Parameters": change_set_parameters(names, stack, prefix),
        "Capabilities": list(CAPABILITIES),
        "Description": f"pipegen self-update to {prefix}",
    }
    if role_arn:
        request["RoleARN"] = role_arn
    existing = _find_change_set(cloudformation, stack.name, request["ChangeSetName"])
    if existing:  # left by an earlier run that stopped before executing it
        cloudformation.delete_change_set(StackName=stack.name, ChangeSetName=existing)
    change_set = cloudformation.create_change_set(**request)["Id"]

    def created() -> tuple[bool, dict[str, Any]]:
        described = cloudformation.describe_change_set(ChangeSetName=change_set)
        return described["Status"] in ("CREATE_COMPLETE", "FAILED"), described

    described = _wait(f"change set {change_set}", created, timeout, delay)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if any(text in reason for text in NO_CHANGES):
            cloudformation.delete_change_set(ChangeSetName=change_set)
            return None
        raise PublishError(f"change set {change_set} failed: {reason}")
    cloudformation.execute_change_set(ChangeSetName=change_set)

    # The stack's own status right after ExecuteChangeSet may still be the previous update's
    # UPDATE_COMPLETE: follow the change set's execution first, then the stack.
    def executed() -> tuple[bool, dict[str, Any]]:
        described = cloudformation.describe_change_set(ChangeSetName=change_set)
        return described.get("ExecutionStatus") in EXECUTION_DONE, described

    execution = _wait(f"change set {change_set} to execute", executed, timeout, delay)

    def updated() -> tuple[bool, dict[str, Any]]:
        current = cloudformation.describe_stacks(StackName=stack.name)["Stacks"][0]
        return not BUSY.search(current["StackStatus"]), current

    final = _wait(f"stack {stack.name} to update", updated, timeout, delay)
    status = execution.get("ExecutionStatus")
    if status != "EXECUTE_COMPLETE" or final["StackStatus"] != "UPDATE_COMPLETE":
        raise PublishError(
            f"stack {stack.name} did not update: change set {status}, stack "
            f"{final['StackStatus']} {final.get('StackStatusReason', '')}; see its events in "
            "the CloudFormation console"
        )
    return str(change_set)


def _find_change_set(cloudformation: Any, stack_name: str, name: str) -> str | None:
    request: dict[str, Any] = {"StackName": stack_name}
    while True:  # ListChangeSets pages its answer
        page = cloudformation.list_change_sets(**request)
        for summary in page.get("Summaries", []):
            if summary.get("ChangeSetName") == name:
                return str(summary["ChangeSetId"])
        token = page.get("NextToken")
        if not token:
            return None
        request["NextToken"] = token


def export_lines(variables: Mapping[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


@dataclass(frozen=True)
class Result:
    changed: bool
    prefix: str
    digest: str
    change_set: str = ""

    def variables(self) -> dict[str, str]:
        return {
            "TEMPLATES_CHANGED": "true" if self.changed else "false",
            "TEMPLATE_PREFIX": self.prefix,
            "TEMPLATE_HASH": self.digest,
            "CHANGE_SET": self.change_set,
        }


def publish(
    *,
    source: Path,
    bucket: str,
    stack_name: str,
    cloudformation: Any,
    s3: Any,
    bucket_region: str,
    pipeline: str,
    prefix: str | None = None,
    role_arn: str | None = None,
    update: bool = True,
    log: Any = print,
) -> Result:
    """Steps 1-4 of the module's docstring, with the clients given."""
    files = template_files(source)
    stack = read_stack(cloudformation, stack_name)
    check_stack(stack, pipeline)
    chosen = plan(files, stack, pipeline, prefix)
    if not chosen.changed:
        log(f"{stack_name} already runs {chosen.prefix} (sha256 {chosen.digest}): nothing to do")
        return Result(False, stack.prefix, chosen.digest)
    log(
        f"templates changed (sha256 {chosen.running or 'unknown'} -> {chosen.digest}): "
        f"uploading {len(files)} files to s3://{bucket}/{chosen.prefix}"
    )
    upload(s3, bucket, chosen.prefix, files)
    if not update:
        return Result(True, chosen.prefix, chosen.digest)
    url = template_url(bucket, bucket_region, f"{chosen.prefix}{root_file(files)}")
    log(f"updating stack {stack_name} from {url}")
    change_set = update_stack(cloudformation, stack, url, chosen.prefix, chosen.digest, role_arn)
    log(f"stack {stack_name} now runs {chosen.prefix}")
    return Result(True, chosen.prefix, chosen.digest, change_set or "")


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--source", required=True, type=Path, help="the template set's folder")
    parser.add_argument("--bucket", required=True, help="the template bucket")
    parser.add_argument(
        "--prefix",
        default=None,
        help="base key prefix (default: the stack's TemplateKeyPrefix without <pipeline>/<hash>/)",
    )
    parser.add_argument("--stack-name", required=True, help="the pipeline's root stack")
    parser.add_argument("--region", required=True, help="the stack's region")
    parser.add_argument("--bucket-region", default=None, help="default: --region")
    parser.add_argument(
        "--pipeline", default=None, help="pipeline name (default: the --source folder's name)"
    )
    parser.add_argument("--role-arn", default=None, help="CloudFormation role for the update")
    parser.add_argument("--env-file", type=Path, default=None, help="write export lines here")
    parser.add_argument(
        "--no-update", action="store_true", help="upload only; create no change set"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    import boto3  # only here: the functions above take clients, so tests need no boto3 session
    from botocore.exceptions import BotoCoreError, ClientError  # botocore comes with boto3

    bucket_region = args.bucket_region or args.region
    try:
        result = publish(
            source=args.source,
            bucket=args.bucket,
            stack_name=args.stack_name,
            cloudformation=boto3.client("cloudformation", region_name=args.region),
            s3=boto3.client("s3", region_name=bucket_region),
            bucket_region=bucket_region,
            pipeline=args.pipeline or args.source.resolve().name,
            prefix=args.prefix,
            role_arn=args.role_arn,
            update=not args.no_update,
        )
    except (PublishError, ClientError, BotoCoreError) as error:
        # AccessDenied, throttling, no network...: one line, like the operators' own errors
        print(f"publish_templates: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    variables = result.variables()
    if args.env_file is not None:
        args.env_file.write_text(export_lines(variables))
    for name, value in variables.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
