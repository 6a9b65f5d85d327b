"""Manual approval gates: the action, and a policy that can approve this gate and no other."""

from __future__ import annotations

from typing import Any

from awacs import codepipeline as cp
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import Ref, Sub, iam

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.iam import POLICY_VERSION
from generator.naming import Names, arn
from generator.pipeline_plan import Stage, Step
from generator.spec.model import Approval

APPROVE_ACTION = "Approve"


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
    """Approve (or reject) this one gate, and read the pipeline to see what is being promoted."""
    logical = f"{environment.capitalize()}ApproverPolicy"
    pipeline_arn = names.pipeline_arn()
    props: dict[str, Any] = {
        "Description": f"Approve the {environment} gate of pipeline {names.pipeline}, and no other",
        "Path": f"/pipegen/{names.pipeline}/",
        "PolicyDocument": PolicyDocument(
            Version=POLICY_VERSION,
            Statement=[
                Statement(
                    Sid="ApproveThisGateOnly",
                    Effect=Allow,
                    Action=[cp.PutApprovalResult],
                    Resource=[approval_action_arn(names, stage)],
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
