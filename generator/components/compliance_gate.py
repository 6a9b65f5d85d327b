"""The compliance gate: a Lambda action that vets an environment's change set before it
executes (ticket in the commit message, no stateful replacement, no wildcard IAM actions).
Its code is `generator/functions/compliance_gate.py`, tested on its own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from awacs import awslambda as lambda_actions
from awacs import cloudformation as cfn
from awacs import codepipeline as cp

from generator.assembly.stack import StackValue
from generator.components.iam import RoleBuilder, action_role
from generator.components.lambda_function import FunctionSpec, function_role
from generator.naming import Names, arn
from generator.pipeline_plan import Step

ACTION_NAME = "ComplianceCheck"


def gate_function(
    ticket_pattern: str, stateful_types: Sequence[str], forbid_wildcard_actions: bool
) -> FunctionSpec:
    return FunctionSpec(
        logical_id="ComplianceGate",
        purpose="compliance-gate",
        description="Vets a change set before it executes: ticket, stateful resources, IAM",
        module="compliance_gate.py",
        timeout_seconds=60,
        variables={
            "TICKET_PATTERN": ticket_pattern,
            "STATEFUL_TYPES": ",".join(stateful_types),
            "FORBID_WILDCARD_ACTIONS": "true" if forbid_wildcard_actions else "false",
        },
    )


def gate_role(names: Names, function: FunctionSpec, key_arn: Any, stack_name: str) -> RoleBuilder:
    role = function_role(names, function, key_arn)
    role.allow(
        "ReadTheChangeSet",
        [cfn.DescribeChangeSet, cfn.GetTemplate],
        [arn("cloudformation", f"stack/{stack_name}/*")],
    )
    role.allow("ReadTheCommitMessage", [cp.GetPipelineExecution], [names.pipeline_arn()])
    role.allow("ReportTheVerdict", [cp.PutJobSuccessResult, cp.PutJobFailureResult], ["*"])
    return role


def invoker_role(names: Names, function: FunctionSpec, pipeline_role: Any) -> RoleBuilder:
    """The role the pipeline's Invoke action runs as: this one function only."""
    role = action_role(
        "ComplianceActionRole",
        f"Invokes the compliance gate of {names.pipeline}",
        names.pipeline,
        pipeline_role,
    )
    role.allow(
        "InvokeTheGate",
        [lambda_actions.InvokeFunction],
        [arn("lambda", f"function:{names.function(function.purpose)}")],
    )
    return role


def gate_step(
    names: Names,
    function: FunctionSpec,
    *,
    role: StackValue,
    stack_name: str,
    change_set: str,
    run_order: int,
) -> Step:
    return Step(
        name=ACTION_NAME,
        category="Invoke",
        provider="Lambda",
        configuration={
            "FunctionName": names.function(function.purpose),
            "UserParameters": json.dumps(
                {"stackName": stack_name, "changeSetName": change_set}, separators=(",", ":")
            ),
        },
        role=role,
        run_order=run_order,
        timeout_minutes=None,
    )
