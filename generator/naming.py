"""Deterministic physical names and ARNs, derived from the pipeline name alone.

Names that policies must know before the resource exists (CodeBuild projects, log groups,
CodeDeploy groups, alarms) are fixed here, so the IAM stack can scope its statements without
depending on the stacks that create those resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Sub


def arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> Sub:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` for this stack's account."""
    where = "${AWS::Region}" if region else ""
    who = "${AWS::AccountId}" if account else ""
    return Sub(f"arn:${{AWS::Partition}}:{service}:{where}:{who}:{resource}")


def literal(text: str) -> str:
    """`text` inside an Fn::Sub string, taken literally: `${` is escaped as `${!`."""
    return text.replace("${", "${!")


def environment_group(environment: str) -> str:
    """The console parameter group of one environment."""
    return f"Environment: {environment}"


@dataclass(frozen=True)
class Names:
    pipeline: str

    def project(self, purpose: str) -> str:
        return f"{self.pipeline}-{purpose}"

    def build_log_group(self, project: str) -> str:
        return f"/aws/codebuild/{project}"

    def function(self, purpose: str) -> str:
        return f"{self.pipeline}-{purpose}"

    def function_log_group(self, function: str) -> str:
        return f"/aws/lambda/{function}"

    def queue(self, purpose: str) -> str:
        return f"{self.pipeline}-{purpose}-dlq"

    def container_log_group(self, environment: str) -> str:
        return f"/ecs/{self.pipeline}-{environment}"

    def pipeline_log_group(self) -> str:
        """Where actions on CodePipeline-managed compute (EKS, Commands) write."""
        return f"/aws/codepipeline/{self.pipeline}"

    def log_group_patterns(self) -> tuple[str, ...]:
        """Every log group this pipeline owns matches one of these (for the key policy)."""
        return (
            self.build_log_group(self.project("*")),
            self.pipeline_log_group(),
            self.function_log_group(self.function("*")),
            self.container_log_group("*"),
            f"/pipegen/{self.pipeline}/*",
        )

    def report_group(self, project: str) -> str:
        return f"{project}-junit"

    @property
    def application(self) -> str:
        return self.pipeline

    def deployment_group(self, environment: str) -> str:
        return f"{self.pipeline}-{environment}"

    def alarm(self, environment: str, what: str) -> str:
        return f"{self.pipeline}-{environment}-{what}"

    @property
    def key_alias(self) -> str:
        return f"alias/pipegen/{self.pipeline}/artifacts"

    def pipeline_arn(self) -> Sub:
        return arn("codepipeline", self.pipeline)

    def project_arn(self, project: str) -> Sub:
        return arn("codebuild", f"project/{project}")

    def report_group_arn(self, project: str) -> Sub:
        return arn("codebuild", f"report-group/{self.report_group(project)}")

    def log_group_arn(self, name: str) -> Sub:
        return arn("logs", f"log-group:{name}")

    def log_stream_arn(self, name: str) -> Sub:
        return arn("logs", f"log-group:{name}:log-stream:*")

    def alarm_arn(self, name: str) -> Sub:
        return arn("cloudwatch", f"alarm:{literal(name)}")

    def application_arn(self) -> Sub:
        return arn("codedeploy", f"application:{self.application}")

    def deployment_group_arn(self, environment: str) -> Sub:
        return arn(
            "codedeploy",
            f"deploymentgroup:{self.application}/{self.deployment_group(environment)}",
        )

    def deployment_config_arn(self, config: str) -> Sub:
        return arn("codedeploy", f"deploymentconfig:{config}")
