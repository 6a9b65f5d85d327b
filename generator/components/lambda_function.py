"""The pipeline's own Lambda functions (custom resources, pipeline actions), hardened alike:
inline source from `generator.functions`, active tracing, reserved concurrency, an encrypted
dead-letter queue, and an encrypted log group with retention created before the function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from awacs import sqs as sqs_actions
from awacs import xray
from troposphere import GetAtt, awslambda, sqs

from generator.assembly.stack import ChildStack, Exported
from generator.components.grants import key_use, write_logs
from generator.components.iam import RoleBuilder, service
from generator.components.log_groups import encrypted_log_group
from generator.errors import AssemblyError
from generator.naming import Names, arn

RUNTIME = "python3.12"
# CloudFormation takes up to 4 MB inline, but inline source is reviewed in the template diff:
# keep each function small enough to read there.
INLINE_SOURCE_LIMIT = 16 * 1024
DLQ_RETENTION_SECONDS = 1209600  # 14 days, SQS's maximum


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str  # also the prefix of its role, log group and queue
    purpose: str  # names it: <pipeline>-<purpose>
    description: str
    module: str  # file in generator.functions, shipped as index.py
    reserved_concurrency: int = 2
    timeout_seconds: int = 120
    memory_mb: int = 256
    variables: Mapping[str, Any] = field(default_factory=dict)
    no_vpc_reason: str = "Calls only AWS APIs; it reaches no private resource."

    def source(self) -> str:
        text = resources.files("generator.functions").joinpath(self.module).read_text()
        if len(text.encode()) > INLINE_SOURCE_LIMIT:
            raise AssemblyError(
                f"{self.module}: inline source exceeds {INLINE_SOURCE_LIMIT} bytes; split it"
            )
        return text


def function_role(names: Names, function: FunctionSpec, key_arn: Any) -> RoleBuilder:
    """The role with what every such function needs; callers add what it is for."""
    name = names.function(function.purpose)
    role = RoleBuilder(
        logical_id=f"{function.logical_id}Role",
        description=f"Lambda function {name}",
        trust=service("lambda"),
        pipeline=names.pipeline,
    )
    role.allow(*write_logs(names, names.function_log_group(name)))
    role.allow(
        "SendFailedEventsToDeadLetterQueue",
        [sqs_actions.SendMessage],
        [arn("sqs", names.queue(function.purpose))],
    )
    role.allow(*key_use(key_arn))
    role.allow("WriteTraces", [xray.PutTraceSegments, xray.PutTelemetryRecords], ["*"])
    return role


def hardened_function(
    stack: ChildStack,
    names: Names,
    function: FunctionSpec,
    role_arn: Exported,
    key_arn: Any,
    log_retention_days: int,
) -> Any:
    """Add the function, its log group and dead-letter queue; returns the function's ARN."""
    name = names.function(function.purpose)
    logical = function.logical_id
    encrypted_log_group(
        stack, f"{logical}LogGroup", names.function_log_group(name), key_arn, log_retention_days
    )
    queue = stack.add(
        sqs.Queue(
            f"{logical}DeadLetters",
            QueueName=names.queue(function.purpose),
            KmsMasterKeyId=key_arn,
            MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
    )
    props: dict[str, Any] = {
        "FunctionName": name,
        "Description": function.description,
        "Runtime": RUNTIME,
        "Handler": "index.handler",
        "Code": awslambda.Code(ZipFile=function.source()),
        "Role": stack.use(role_arn),
        "Timeout": function.timeout_seconds,
        "MemorySize": function.memory_mb,
        "ReservedConcurrentExecutions": function.reserved_concurrency,
        "TracingConfig": awslambda.TracingConfig(Mode="Active"),
        "DeadLetterConfig": awslambda.DeadLetterConfig(TargetArn=GetAtt(queue, "Arn")),
        "DependsOn": [f"{logical}LogGroup"],
        "Metadata": {
            "pipegen": {
                "exempt": {
                    "vpc": function.no_vpc_reason,
                    "code-signing": "Inline source generated and reviewed with the template.",
                }
            },
            "checkov": {
                "skip": [
                    {"id": "CKV_AWS_117", "comment": function.no_vpc_reason},
                ]
            },
        },
    }
    if function.variables:
        props["Metadata"]["checkov"]["skip"].append(
            {
                "id": "CKV_AWS_173",
                "comment": "Its variables are settings from the spec, never secrets.",
            }
        )
        props["Environment"] = awslambda.Environment(
            Variables={
                k: stack.use(v) if isinstance(v, Exported) else v
                for k, v in sorted(function.variables.items())
            }
        )
    created = stack.add(awslambda.Function(logical, **props))
    return GetAtt(created, "Arn")
