"""Manual approval gates: the action, and a policy that can approve this gate and no other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from awacs import codepipeline as cp
from awacs.aws import (
    Allow,
    Condition,
    Deny,
    PolicyDocument,
    Statement,
    StringEquals,
    StringNotEquals,
)
from troposphere import Ref, Sub, iam

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.iam import POLICY_VERSION
from generator.naming import Names, arn
from generator.pipeline_plan import Stage, Step
from generator.spec.model import Approval, ApproverTag

APPROVE_ACTION = "Approve"
SEPARATION_OF_DUTIES_POLICY = "SeparationOfDutiesPolicy"


def gate_stage_name(environment: str) -> str:
    return f"Approve{environment.capitalize()}"


def approval_action_arn(names: Names, stage: str) -> Sub:
    return arn("codepipeline", f"{names.pipeline}/{stage}/{APPROVE_ACTION}")


def custom_data(environment: str, previous: str, approval: Approval) -> str:
    return with_instructions(
        f"Promote commit #{{SourceVariables.CommitId}} to {environment}. "
        f"Check {previous} first: smoke tests passed there and its alarms are quiet.",
        approval,
    )


def with_instructions(text: str, approval: Approval) -> str:
    if approval.instructions:
        text += f" {approval.instructions}"
    return text[:1000]  # CodePipeline's limit for one configuration value


def approval_step(
    approval: Approval,
    topic: Exported,
    instructions: str,
    review_link: StackValue | None,
    run_order: int = 1,
) -> Step:
    configuration: dict[str, Any] = {"NotificationArn": topic, "CustomData": instructions}
    if review_link is not None:
        configuration["ExternalEntityLink"] = review_link
    return Step(
        name=APPROVE_ACTION,
        category="Approval",
        provider="Manual",
        configuration=configuration,
        timeout_minutes=approval.timeout_hours * 60,
        run_order=run_order,
    )


def gate_stage(
    environment: str,
    previous: str,
    approval: Approval,
    topic: Exported,
    review_link: StackValue | None,
) -> Stage:
    """A stage of its own in front of the environment's deploy stage."""
    return Stage(
        name=gate_stage_name(environment),
        steps=(
            approval_step(
                approval, topic, custom_data(environment, previous, approval), review_link
            ),
        ),
    )


def approver_policy(
    stack: ChildStack, names: Names, environment: str, approval: Approval, stage: str
) -> Exported:
    """Approve (or reject) this one gate, and read the pipeline to see what is being promoted.
    With an approver tag, approving needs that tag on the caller too."""
    logical = f"{environment.capitalize()}ApproverPolicy"
    pipeline_arn = names.pipeline_arn()
    tag = approval.approver_tag
    description = f"Approve the {environment} gate of pipeline {names.pipeline}, and no other"
    if tag is not None:
        description += f", as a principal tagged {tag.key}={tag.value}"
    props: dict[str, Any] = {
        "Description": description,
        "Path": f"/pipegen/{names.pipeline}/",
        "PolicyDocument": PolicyDocument(
            Version=POLICY_VERSION,
            Statement=[
                Statement(
                    Sid="ApproveThisGateOnly",
                    Effect=Allow,
                    Action=[cp.PutApprovalResult],
                    Resource=[approval_action_arn(names, stage)],
                    **(
                        {"Condition": Condition(StringEquals({principal_tag(tag): tag.value}))}
                        if tag is not None
                        else {}
                    ),
                ),
                Statement(
                    Sid="FindThePipelineInTheConsole",
                    Effect=Allow,
                    Action=[cp.ListPipelines],
                    Resource=["*"],
                ),
                Statement(
                    Sid="SeeWhatIsBeingPromoted",
                    Effect=Allow,
                    Action=[
                        cp.GetPipeline,
                        cp.GetPipelineState,
                        cp.GetPipelineExecution,
                        cp.ListPipelineExecutions,
                        cp.ListActionExecutions,
                    ],
                    Resource=[pipeline_arn],
                ),
            ],
        ),
    }
    if approval.approver_roles:
        props["Roles"] = list(approval.approver_roles)
    if approval.approver_groups:
        props["Groups"] = list(approval.approver_groups)
    policy = stack.add(iam.ManagedPolicy(logical, **props))
    return stack.export(
        f"{environment.capitalize()}ApproverPolicyArn",
        Ref(policy),
        f"Attach to the people who approve {environment} deployments",
    )


def principal_tag(tag: ApproverTag) -> str:
    return f"aws:PrincipalTag/{tag.key}"


def separation_of_duties_policy(
    stack: ChildStack, names: Names, gates: Sequence[tuple[str, Approval, str]]
) -> Exported | None:
    """Deny approving each tagged gate (environment, gate, stage it sits in) to every principal
    not tagged for it, whatever else allows it (AWSCodePipeline_FullAccess, admin rights).

    StringNotEquals is true when the request has no such tag at all: IAM evaluates a negated
    operator on a missing key as true (IAM JSON policy reference, condition operators), so an
    untagged principal is denied too. The ...IfExists form would deny it as well; a plain
    StringNotEquals says so without a second reading. None when no gate names a tag."""
    statements = [
        Statement(
            Sid=f"OnlyTaggedApproversApprove{environment.capitalize()}",
            Effect=Deny,
            Action=[cp.PutApprovalResult],
            Resource=[approval_action_arn(names, stage)],
            Condition=Condition(StringNotEquals({principal_tag(tag): tag.value})),
        )
        for environment, gate, stage in gates
        if (tag := gate.approver_tag) is not None
    ]
    if not statements:
        return None
    stack.add(
        iam.ManagedPolicy(
            SEPARATION_OF_DUTIES_POLICY,
            Description=f"Deny approving a gate of pipeline {names.pipeline} to every principal "
            "without that gate's approver tag; attach to everyone, or add its statements to a "
            "permissions boundary",
            Path=f"/pipegen/{names.pipeline}/",
            PolicyDocument=PolicyDocument(Version=POLICY_VERSION, Statement=statements),
        )
    )
    return stack.export(
        f"{SEPARATION_OF_DUTIES_POLICY}Arn",
        Ref(SEPARATION_OF_DUTIES_POLICY),
        "Denies approving a gate to principals without its approver tag",
    )
