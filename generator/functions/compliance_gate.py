"""CodePipeline compliance gate: fails the production deploy when the commit names no ticket, the
change set replaces or removes a stateful resource, or it adds an IAM statement allowing a wildcard.

Environment: TICKET_PATTERN (regex, empty: off), STATEFUL_TYPES (comma-separated resource types),
FORBID_WILDCARD_ACTIONS ("true"). UserParameters: {"stackName": ..., "changeSetName": ...}.
"""

import json
import os
import re
from typing import Any

import boto3

clients: dict = {}  # made on first use, kept while the container is warm; tests inject theirs


def client(service: str) -> Any:
    if service not in clients:
        clients[service] = boto3.client(service)
    return clients[service]


def settings() -> dict:
    types = os.environ.get("STATEFUL_TYPES", "").split(",")
    return {
        "pattern": os.environ.get("TICKET_PATTERN", ""),
        "stateful": {kind.strip() for kind in types if kind.strip()},
        "wildcards": os.environ.get("FORBID_WILDCARD_ACTIONS", "").lower() == "true",
    }


def commit_message(summary: str) -> str:
    # CodeStar connection sources (GitHub, GitLab, Bitbucket) send JSON; CodeCommit the message.
    try:
        parsed = json.loads(summary)
    except ValueError:
        return summary
    return parsed.get("CommitMessage", "") if isinstance(parsed, dict) else summary


def check_commit(data: dict, config: dict) -> list:
    pattern = config["pattern"]
    if not pattern:
        return []
    context = data["pipelineContext"]
    if not context.get("pipelineExecutionId"):
        # Only V2 pipelines put the execution id in the job; without it no commit is found.
        return ["pipeline execution id is missing from the job, so no commit message was checked"]
    execution = client("codepipeline").get_pipeline_execution(
        pipelineName=context["pipelineName"], pipelineExecutionId=context["pipelineExecutionId"]
    )["pipelineExecution"]
    revisions = execution.get("artifactRevisions", [])
    messages = [commit_message(r.get("revisionSummary") or "") for r in revisions]
    if any(re.search(pattern, message) for message in messages):
        return []
    subjects = [message.partition("\n")[0] for message in messages]
    quoted = ", ".join(f'"{subject}"' for subject in subjects) or "(none)"
    return [f"commit message {quoted} references no ticket matching {pattern}"]


def resource_changes(names: dict) -> list:
    kwargs, found = dict(names), []
    while True:
        page = client("cloudformation").describe_change_set(**kwargs)
        found += [c["ResourceChange"] for c in page.get("Changes", []) if "ResourceChange" in c]
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def check_change_set(data: dict, config: dict) -> list:
    params = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])
    names = {"StackName": params["stackName"], "ChangeSetName": params["changeSetName"]}
    failures, iam = [], []
    for change in resource_changes(names):
        logical, kind = change["LogicalResourceId"], change["ResourceType"]
        action = change["Action"]
        if action in ("Add", "Modify") and kind.startswith("AWS::IAM::"):
            iam.append(logical)
        if kind not in config["stateful"]:
            continue
        if action == "Remove":
            failures.append(f"change set removes stateful resource {logical} ({kind})")
        elif change.get("Replacement") in ("True", "Conditional"):
            failures.append(f"change set replaces stateful resource {logical} ({kind})")
    # Read the template only when an IAM resource changes: most deploys need no second call.
    if config["wildcards"] and iam:
        failures += check_wildcards(names, iam)
    return failures


def allowed_actions(document: Any) -> list:
    if isinstance(document, str):
        document = json.loads(document)  # AWS::IAM::ManagedPolicy also takes a JSON string
    statements = (document or {}).get("Statement", [])
    actions: list = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            action = statement.get("Action", [])
            actions += [action] if isinstance(action, str) else action
    return actions


def check_wildcards(names: dict, logical_ids: list) -> list:
    cloudformation = client("cloudformation")
    try:
        body = cloudformation.get_template(TemplateStage="Processed", **names)["TemplateBody"]
    except cloudformation.exceptions.ClientError:
        body = cloudformation.get_template(TemplateStage="Original", **names)["TemplateBody"]
    if isinstance(body, str):  # botocore turns a JSON body into a dict itself
        try:
            body = json.loads(body)
        except ValueError:
            # Stdlib has no YAML parser, and a gate must not pass what it cannot read.
            # Transformed (SAM) templates come back as JSON; untransformed YAML lands here.
            return ["change set template is not JSON, so its IAM actions could not be checked"]
    failures, resources = [], body.get("Resources", {})
    for logical in logical_ids:
        props = resources.get(logical, {}).get("Properties", {})
        # Roles, users and groups inline Policies; the policy resources carry one PolicyDocument.
        inline = [p.get("PolicyDocument") for p in props.get("Policies", []) if isinstance(p, dict)]
        for document in [props.get("PolicyDocument"), *inline]:
            for action in allowed_actions(document):
                if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                    failures.append(
                        f'change set adds IAM statement with action "{action}" in {logical}'
                    )
    return failures


CHECKS = (("commit check", check_commit), ("change set check", check_change_set))
LABELS = {
    "pattern": "ticket",
    "stateful": "stateful resources",
    "wildcards": "IAM wildcard actions",
}


def handler(event: dict, context: object) -> None:
    job = event["CodePipeline.job"]
    config = settings()
    failures = []
    for name, check in CHECKS:
        try:
            failures += check(job["data"], config)
        except Exception as error:
            # Report, never raise: CodePipeline would wait out the action's timeout for an answer.
            failures.append(f"{name} could not run: {type(error).__name__}: {error}")
    codepipeline = client("codepipeline")
    if failures:
        message = "; ".join(failures)[:5000]
        codepipeline.put_job_failure_result(
            jobId=job["id"], failureDetails={"type": "JobFailed", "message": message}
        )
    else:
        ran = [label for key, label in LABELS.items() if config[key]]
        summary = "compliance checks passed: " + (", ".join(ran) or "none enabled")
        codepipeline.put_job_success_result(
            jobId=job["id"], executionDetails={"summary": summary, "percentComplete": 100}
        )
    print(json.dumps({"jobId": job["id"], "passed": not failures, "failures": failures}))
