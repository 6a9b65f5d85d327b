"""Hypothesis strategies for valid pipeline specs, as the plain dicts a spec file holds.

Every spec drawn here must be accepted by `generator.spec.loader.load_spec`: the pydantic
models, `generator/spec/checks.py` and each blueprint's `checks()`. A rejected spec is a bug in
the strategy (or in the loader, if the model documents the input as valid).

`SPECS` maps every blueprint in `generator.blueprint.registry()` to its strategy; `specs()`
draws from all of them. Free text includes what matters to CloudFormation, YAML and the shell
(`${x}`, `#{Ns.Var}`, quotes, colons, unicode) wherever the spec allows it.

Known bugs: some valid specs still produce broken templates (see KNOWN_BUGS in
tests/test_properties.py, a strict-xfail reproducer each). The strategies leave those inputs
out, marked "known bug", so the properties keep guarding everything else; set
PIPEGEN_PROPERTIES_KNOWN_BUGS=1 to draw them too.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from functools import cache
from typing import Any

from hypothesis import strategies as st

from blueprints.serverless.blueprint import HOOK_STACK_NAME_LIMIT
from blueprints.serverless.spec import DEFAULT_APP_SERVICES, TRAFFIC_TYPES
from generator.spec.model import LOG_RETENTION_DAYS, NOTICE_KINDS
from generator.spec.types import AWS_REGIONS

Spec = dict[str, Any]
Draw = Callable[[st.SearchStrategy[Any]], Any]

AVOID_KNOWN_BUGS = os.environ.get("PIPEGEN_PROPERTIES_KNOWN_BUGS") != "1"

GIT_PROVIDERS = ("github", "gitlab", "bitbucket", "github-enterprise")
# The loader lets only these create their connection (CloudFormation's GitLab type takes a
# host; github-enterprise needs one registered first).
CREATABLE_CONNECTION = ("github", "bitbucket")
TEST_KINDS = ("unit", "contract", "integration", "security-scan")
COMPUTE_TYPES = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)
AUDITED_RETENTION_DAYS = tuple(days for days in LOG_RETENTION_DAYS if days >= 365)
# Plaintext build variables named like this are rejected (checks._SECRET_LOOKING), and the
# lint gate's E9403 flags them in any CodeBuild project.
SECRET_WORDS = (
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "SECRET",
    "APIKEY",
    "API_KEY",
    "PRIVATEKEY",
    "PRIVATE_KEY",
    "AWS_ACCESS_KEY_ID",
    "CREDENTIAL",
)
# Regions outside the commercial partition (every pipeline region of the spec is inside it).
OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-", "eusc-")


def pick(*values: Any) -> Any:
    return st.sampled_from(values)


def one_in(draw: Draw, n: int) -> bool:
    """True about once in `n` draws. (Hypothesis favours the smallest integer, so the rare
    outcome is the largest one.)"""
    return bool(draw(st.integers(1, n)) == n)


def optional(draw: Draw, spec: Spec, key: str, strategy: Any) -> None:
    """Set `key` from `strategy`, or leave it out so that the model's default applies."""
    if draw(st.booleans()):
        spec[key] = draw(strategy)


@cache
def regions_with(*resource_types: str) -> tuple[str, ...]:
    """The regions where cfn-lint (and so the lint gate) knows every one of these types."""
    from cfnlint.helpers import REGIONS
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    def known(region: str, resource_type: str) -> bool:
        try:
            PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type)
        except Exception:  # cfn-lint raises its own ResourceNotFoundError
            return False
        return True

    return tuple(r for r in REGIONS if all(known(r, t) for t in resource_types))


def connection_regions() -> tuple[str, ...]:
    """Known bug: `connection: create` is accepted in regions without CodeConnections."""
    return regions_with("AWS::CodeStarConnections::Connection")


# -- text --------------------------------------------------------------------------------------

_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_UNICODE = st.sampled_from("éüßñ日本語✓🚀")


# Known bug: user text lands in templates as plain strings, and cfn-lint's E1029 refuses one
# that holds ${AWS::Region} or ${Name} naming a parameter or resource of the template. While it
# stands, text keeps to ${x} of other shapes (${HOME}, ${stage}).
_CFN_REFERENCE = re.compile(r"\$\{(AWS::|[A-Z][a-z])")


def no_cfn_reference(text: str) -> bool:
    return not AVOID_KNOWN_BUGS or _CFN_REFERENCE.search(text) is None


def free_text(min_size: int = 0, max_size: int = 40, newlines: bool = False) -> Any:
    """Printable ASCII plus a little unicode (and newlines where a block scalar makes sense)."""
    extra = [st.just("\n")] if newlines else []
    return st.text(
        alphabet=st.one_of(_PRINTABLE, _UNICODE, *extra), min_size=min_size, max_size=max_size
    ).filter(no_cfn_reference)


commands = st.one_of(
    pick(
        "make test",
        "npm ci",
        "pytest -q --junitxml=reports/unit.xml",
        'echo "${HOME}" && echo ${CODEBUILD_RESOLVED_SOURCE_VERSION}',
        "echo #{SourceVariables.CommitId}",
        "echo '$TARGET_URL' \"quoted\" # comment",
        "for i in 1 2 3; do echo $i; done",
        'curl -fsS "$TARGET_URL/health" | grep -q ok',
        "./scripts/ci.sh --flag=a:b",
    ),
    free_text(min_size=1, max_size=60),
)
command_lists = st.lists(commands, max_size=4)


def not_boolean_text(text: str) -> bool:
    """cfn-lint 1.58's E3037 takes a list holding "false" (any case) and any other string but
    "true" for a list with duplicates (cfnlint.jsonschema._utils.equal); upstream, not ours."""
    return text.lower() not in ("true", "false")


globs = st.one_of(
    pick("src/**", "**/*", "package.json", "docs/**", "*.md", "app/${x}/**", "dist/*"),
    st.text(alphabet=string.ascii_letters + string.digits + "/*._-", min_size=1, max_size=20),
).filter(not_boolean_text)
glob_lists = st.lists(globs, max_size=8, unique=True)  # the loader refuses a glob twice
# A self-updating pipeline (the default) adds output/<name>/** to the 8 include filters a
# trigger takes, so drawn specs leave a place for it.
include_lists = st.lists(globs, max_size=7, unique=True)

# -- names ------------------------------------------------------------------------------------

pipeline_names = st.one_of(
    pick("web", "orders", "payments-api", "storefront", "a1b", "x" * 32, "a-b--c-9"),
    st.from_regex(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True),
)
environment_names = st.one_of(
    pick("dev", "test", "qa", "staging", "uat", "preprod", "prod", "sandbox", "a", "prod2"),
    pick("p" * 16, "approveprod", "dr"),
    st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True),
)
env_var_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
plain_var_names = env_var_names.filter(
    lambda name: not any(word in name.upper() for word in SECRET_WORDS)
)
test_var_names = st.one_of(
    plain_var_names, pick("DATABASE_URL", "LOG_LEVEL", "CI", "TARGET_URL", "PYTHONPATH")
)
variable_values = st.one_of(
    pick("", "1", "true", "on", "012", "${HOME}", "#{SourceVariables.CommitId}", "a: b"),
    free_text(max_size=30),
)
role_names = st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True)
alarm_names = st.one_of(
    pick("orders-5xx", "api latency p99", "Errors:Lambda/foo", "${NotAVariable}"),
    free_text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s),
).filter(not_boolean_text)
alarm_lists = st.lists(alarm_names, min_size=1, max_size=5, unique=True)  # no repeats
emails = st.one_of(
    pick("team@example.com", "release-managers@acme.example.com", "a+b@c.io"),
    st.from_regex(r"[a-z0-9._+-]{1,12}@[a-z0-9-]{1,12}\.[a-z]{2,6}", fullmatch=True),
)
hex16 = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
partitions = pick("aws", "aws-cn", "aws-us-gov")
elb_names = st.from_regex(r"[A-Za-z0-9-]{1,32}", fullmatch=True)
# What the microservice's ECS cluster and service parameters allow.
ecs_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)


@st.composite
def target_group_arns(draw: Draw) -> str:
    return (
        f"arn:{draw(partitions)}:elasticloadbalancing:{draw(st.sampled_from(AWS_REGIONS))}:"
        f"{draw(accounts)}:targetgroup/{draw(elb_names)}/{draw(hex16)}"
    )


@st.composite
def load_balancer_arns(draw: Draw) -> str:
    return (
        f"arn:{draw(partitions)}:elasticloadbalancing:{draw(st.sampled_from(AWS_REGIONS))}:"
        f"{draw(accounts)}:loadbalancer/app/{draw(elb_names)}/{draw(hex16)}"
    )


@st.composite
def role_arns(draw: Draw) -> str:
    path = draw(st.from_regex(r"([A-Za-z0-9_-]{1,8}/){0,2}", fullmatch=True))
    return f"arn:{draw(partitions)}:iam::{draw(accounts)}:role/{path}{draw(role_names)}"


urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}{path}",
    pick("http", "https"),
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True),
    st.one_of(
        st.just(""),
        pick("/health", "/v1/${stage}/ping", "/#{SourceVariables.CommitId}", "/a?b=c&d='e'"),
        st.text(alphabet=string.ascii_letters + string.digits + "/._~%-?=&", max_size=20).map(
            lambda p: "/" + p
        ),
    ),
)

# -- shared sections --------------------------------------------------------------------------


@st.composite
def sources(draw: Draw, region: str) -> Spec:
    provider = draw(pick(*GIT_PROVIDERS, "codecommit", "s3"))
    source: Spec = {"provider": provider}
    if provider in GIT_PROVIDERS:
        owner = draw(st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True))
        path = st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True), min_size=1)
        source["repository"] = "/".join([owner, *draw(path.map(lambda p: p[:3]))])
        can_create = provider in CREATABLE_CONNECTION and (
            region in connection_regions() or not AVOID_KNOWN_BUGS
        )
        optional(
            draw,
            source,
            "connection",
            pick("parameter", "create") if can_create else pick("parameter"),
        )
        if draw(st.booleans()):
            paths: Spec = {}
            optional(draw, paths, "include", include_lists)
            optional(draw, paths, "exclude", glob_lists)
            source["file_paths"] = paths
    elif provider == "codecommit":
        source["repository"] = draw(st.from_regex(r"[A-Za-z0-9_.-]{1,100}", fullmatch=True))
        optional(draw, source, "connection", pick("parameter"))
    else:
        source["bucket"] = draw(
            st.one_of(
                pick("acme-source", "my.bucket.name", "a" * 63),
                st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
            )
        )
        key_chars = string.ascii_letters + string.digits + "/!-_.*'() ${}"
        source["object_key"] = draw(
            st.one_of(
                pick("app/source.zip", "releases/${version}/app.zip", "a b/c+d.zip"),
                st.text(alphabet=key_chars, min_size=1, max_size=60).filter(no_cfn_reference),
            )
        )
    branches = st.one_of(
        pick("main", "master", "release/1.2", "feature/${x}", "v1.0", "héllo", "a" * 255),
        st.text(alphabet=string.ascii_letters + string.digits + "/._-#@{}$+", min_size=1),
    ).filter(no_cfn_reference)
    optional(draw, source, "branch", branches)
    return source


@st.composite
def secret_refs(draw: Draw, taken: set[str]) -> Spec:
    """A secret whose variable name is not in `taken` (which it joins)."""
    name = draw(env_var_names.filter(lambda n: n not in taken))
    taken.add(name)
    kind = draw(pick("secrets-manager", "parameter-store"))
    if kind == "parameter-store":
        ref = draw(
            st.one_of(
                pick("/app/db-password", "plain", "/a/b/c.d_e-f"),
                st.from_regex(r"/?[A-Za-z0-9_.\-/]{1,40}", fullmatch=True),
            )
        )
    else:
        ref = draw(
            st.one_of(
                pick(
                    "app/npm-token",
                    "app/npm-token:token",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password",
                ),
                free_text(min_size=1, max_size=40).filter(lambda s: s.strip()),
            )
        )
    return {"name": name, "source": kind, "ref": ref}


@st.composite
def builds(draw: Draw) -> Spec:
    build: Spec = {}
    optional(
        draw,
        build,
        "image",
        pick(
            "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "aws/codebuild/standard:7.0",
            "public.ecr.aws/docker/library/python:3.12",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/build-image:latest",
        ),
    )
    optional(draw, build, "compute_type", pick(*COMPUTE_TYPES))
    optional(draw, build, "timeout_minutes", st.integers(5, 480))
    cache = draw(pick(None, "s3", "local", "none"))
    if cache is not None:
        build["cache"] = cache
    if cache != "none":  # cache_paths with cache: none is rejected
        optional(draw, build, "cache_paths", st.lists(globs, max_size=3))
    optional(draw, build, "install", command_lists)
    optional(draw, build, "commands", command_lists)
    optional(draw, build, "artifacts", st.lists(globs, min_size=1, max_size=3))
    variables = draw(st.dictionaries(plain_var_names, variable_values, max_size=4))
    if variables or draw(st.booleans()):
        build["variables"] = variables
    secrets = draw(st.lists(secret_refs(set(variables)), max_size=3))
    if secrets:
        build["secrets"] = secrets
    optional(draw, build, "buildspec", pick("buildspec.yml", "ci/buildspec.yaml"))
    return build


@st.composite
def test_stages(draw: Draw, build: Spec) -> list[Spec]:
    """Each kind at most once, in any order; commands empty or absent mean the default.

    Known bug: test layers also get the build's variables and secrets, and the loader does not
    check their names against a layer's own, so one name can be defined twice in a project
    (an identical secret twice fails I3037); while that stands, layers use other names."""
    inherited = {*build.get("variables", {}), *(s["name"] for s in build.get("secrets", []))}
    if not AVOID_KNOWN_BUGS:
        inherited = set()
    kinds = draw(st.lists(pick(*TEST_KINDS), unique=True, max_size=len(TEST_KINDS)))
    stages = []
    for kind in kinds:
        stage: Spec = {"kind": kind}
        optional(draw, stage, "commands", command_lists)
        optional(draw, stage, "reports", pick("reports/**/*.xml", "junit.xml", "out/${x}/*.xml"))
        optional(draw, stage, "compute_type", pick(*COMPUTE_TYPES))
        optional(draw, stage, "timeout_minutes", st.integers(5, 480))
        names = test_var_names.filter(lambda name: name not in inherited)
        variables = draw(st.dictionaries(names, variable_values, max_size=3))
        if variables:
            stage["variables"] = variables
        secrets = draw(st.lists(secret_refs({*variables, *inherited}), max_size=2))
        if secrets:
            stage["secrets"] = secrets
        stages.append(stage)
    return stages


@st.composite
def approvals(draw: Draw) -> Any:
    """What may stand in `approval:` of an environment after the first ("omit": nothing)."""
    shorthand = draw(pick("omit", True, False, None, "block"))
    if shorthand != "block":
        return shorthand
    block: Spec = {}
    optional(draw, block, "approvers_email", emails)
    optional(draw, block, "instructions", free_text(max_size=400, newlines=True))
    optional(draw, block, "approver_roles", st.lists(role_names, max_size=3))
    optional(draw, block, "approver_groups", st.lists(role_names, max_size=2))
    optional(draw, block, "timeout_hours", st.integers(1, 168))
    return block


@st.composite
def environment_base(draw: Draw, name: str, index: int, region: str | None, parallel: bool) -> Spec:
    """The shared fields of an environment. `region`: the only one it may name, if any."""
    env: Spec = {"name": name}
    if region is not None and one_in(draw, 5):
        env["region"] = region
    if index == 0:
        # The first environment cannot be gated; `false` and `null` say "no gate" explicitly.
        first = draw(pick("omit", False, None))
        if first != "omit":
            env["approval"] = first
    else:
        approval = draw(approvals())
        if approval != "omit":
            env["approval"] = approval
    optional(draw, env, "url", urls)
    # PARALLEL pipelines cannot roll back, so every environment retries there.
    on_failure = "retry" if parallel else draw(pick(None, "rollback", "retry"))
    if on_failure is not None:
        env["on_failure"] = on_failure
    if on_failure == "retry":  # retry_mode applies only then
        optional(draw, env, "retry_mode", pick("failed-actions", "all-actions"))
    optional(draw, env, "bake_minutes", st.integers(1, 60))
    return env


@st.composite
def notifications(draw: Draw) -> Spec:
    section: Spec = {}
    optional(draw, section, "email", emails)
    events = st.lists(pick(*NOTICE_KINDS), max_size=5, unique=True)  # each kind once
    optional(draw, section, "events", events)
    return section


tag_keys = st.one_of(
    pick("Team", "CostCenter", "Name", "Owner", "app:tier", "a b", "x/y=z+@-_.", "Pipegen:x"),
    st.from_regex(r"[A-Za-z0-9 _.:/=+\-@]{1,40}", fullmatch=True).filter(
        lambda k: not k.lower().startswith(("aws:", "pipegen:"))
    ),
)
# What the loader takes: 1-256 letters, digits, white space and _.:/=+-@. Known bug: a tab or
# line break is white space to the loader but not an AWS tag character (E3031).
_TAG_CHARS = string.ascii_letters + string.digits + " _.:/=+-@" + "éüßñ日本語\u00a0"
tag_values = st.text(
    alphabet=_TAG_CHARS + ("" if AVOID_KNOWN_BUGS else "\t\n"), min_size=1, max_size=40
)
tag_values = st.one_of(pick("4410", "orders", "a b:c/d=e+f-g@h.i_j", "ünïcödé"), tag_values)


@st.composite
def common(
    draw: Draw,
    blueprint: str,
    *,
    allow_parallel: bool = True,
    names: st.SearchStrategy[str] = pipeline_names,
    env_region: bool = True,
) -> tuple[Spec, list[str]]:
    """The shared part of a spec, and its environment names (1 to 5, unique)."""
    spec: Spec = {"name": draw(names), "blueprint": blueprint}
    optional(draw, spec, "description", free_text(max_size=400, newlines=True))
    region = draw(st.sampled_from(AWS_REGIONS))
    if region != "us-east-1" or draw(st.booleans()):
        spec["region"] = region
    modes = ("SUPERSEDED", "QUEUED", "PARALLEL") if allow_parallel else ("SUPERSEDED", "QUEUED")
    optional(draw, spec, "execution_mode", pick(*modes))
    spec["source"] = draw(sources(region))
    optional(draw, spec, "build", builds())
    optional(draw, spec, "tests", test_stages(spec.get("build", {})))
    optional(draw, spec, "notifications", notifications())
    tags = draw(st.dictionaries(tag_keys, tag_values, max_size=6))
    if tags:
        spec["tags"] = tags
    optional(draw, spec, "smoke_test", command_lists)
    optional(draw, spec, "artifact_retention_days", st.integers(1, 3650))
    optional(draw, spec, "log_retention_days", pick(*AUDITED_RETENTION_DAYS))
    envs = draw(st.lists(environment_names, min_size=1, max_size=5, unique=True))
    parallel = spec.get("execution_mode") == "PARALLEL"
    home = region if env_region else None
    spec["environments"] = [
        draw(environment_base(name, index, home, parallel)) for index, name in enumerate(envs)
    ]
    return spec, envs


@st.composite
def rollback_alarms(draw: Draw, deploy: Spec) -> None:
    """RollbackAlarmSettings: existing alarms, or thresholds of the alarms pipegen creates."""
    if one_in(draw, 4):
        deploy["alarms"] = draw(alarm_lists)
    optional(draw, deploy, "error_5xx_threshold", st.integers(1, 100000))
    seconds = st.one_of(
        st.integers(1, 60),
        st.floats(min_value=0, max_value=60, exclude_min=True, allow_subnormal=False),
    )
    optional(draw, deploy, "latency_threshold_seconds", seconds)
    optional(draw, deploy, "latency_percentile", pick("p90", "p95", "p99"))


# -- web-app ----------------------------------------------------------------------------------

# Known bug: one CodeDeploy service role serves every environment, and its inline policy
# grows with each: ~750-1,000 characters per blue/green environment (web-app; ~1,300 per ECS
# blue/green one) and ~70 per rollback alarm. A spec well inside the model's limits (10
# environments, 5 alarms each) passes limits.py's IAM headroom: 6 blue/green environments do,
# and so do 5 web-app environments with long names, 5 alarms each and 2 of them blue/green.
# 8 ECS blue/green environments also push root.yaml past 51,200 bytes.
WEB_APP_MAX_BLUE_GREEN, WEB_APP_MAX_ALARMS = 2, 2
MICROSERVICE_MAX_BLUE_GREEN = 4


@st.composite
def web_app_specs(draw: Draw) -> Spec:
    spec, names = draw(common("web-app"))
    last = len(names) - 1
    blue_green = 0
    for index, env in enumerate(spec["environments"]):
        deploy: Spec = {}
        strategy = draw(pick(None, "in-place", "blue-green"))
        if AVOID_KNOWN_BUGS and blue_green == WEB_APP_MAX_BLUE_GREEN:
            strategy = "in-place"
        if strategy is not None:
            deploy["strategy"] = strategy
        effective = strategy or ("blue-green" if index == last else "in-place")
        blue_green += effective == "blue-green"
        optional(draw, deploy, "deployment_config", pick("OneAtATime", "HalfAtATime", "AllAtOnce"))
        optional(draw, deploy, "termination_wait_minutes", st.integers(0, 2880))
        draw(rollback_alarms(deploy))
        if AVOID_KNOWN_BUGS:
            del deploy.get("alarms", [])[WEB_APP_MAX_ALARMS:]
        asg = st.from_regex(r"[A-Za-z0-9._-]{1,60}", fullmatch=True)
        optional(draw, deploy, "auto_scaling_group", asg)
        optional(draw, deploy, "target_group_arn", target_group_arns())
        if not deploy.get("alarms"):  # only the alarms pipegen creates use it
            optional(draw, deploy, "load_balancer_arn", load_balancer_arns())
        if effective == "blue-green":  # blue/green only
            optional(draw, deploy, "instance_role_arn", role_arns())
        if deploy or draw(st.booleans()):
            env["deploy"] = deploy
    return spec


# -- microservice -----------------------------------------------------------------------------


@st.composite
def container_images(draw: Draw) -> Spec:
    image: Spec = {}
    optional(draw, image, "dockerfile", pick("Dockerfile", "docker/app.Dockerfile"))
    optional(draw, image, "context", pick(".", "services/orders"))
    optional(draw, image, "container_name", ecs_names)
    optional(draw, image, "container_port", st.integers(1, 65535))
    optional(draw, image, "layer_cache", pick("local", "registry", "none"))
    optional(draw, image, "keep_images", st.integers(1, 1000))
    if draw(st.booleans()):
        scan: Spec = {}
        optional(draw, scan, "using", pick("ecr-findings", "inspector"))
        optional(draw, scan, "fail_on", pick("CRITICAL", "HIGH", "MEDIUM", "LOW"))
        image["scan"] = scan
    return image


@st.composite
def contract_tests(draw: Draw) -> Spec:
    contract: Spec = {
        "broker_url": draw(st.one_of(pick("https://pact.acme.example.com"), urls)),
        "token": draw(pick("orders/pact-broker-token", "pact:token")),
        "provider": draw(st.one_of(pick("orders-service"), free_text(min_size=1, max_size=20))),
    }
    optional(draw, contract, "start", st.lists(commands, min_size=1, max_size=2))
    return contract


services = ecs_names  # the loader checks deploy.service against its parameter's pattern


@st.composite
def microservice_specs(draw: Draw) -> Spec:
    spec, _ = draw(common("microservice"))
    target = draw(pick(None, "ecs", "eks"))
    if target is not None:
        spec["target"] = target
    optional(draw, spec, "image", container_images())
    if draw(st.booleans()):
        spec["contract_tests"] = draw(contract_tests())
    elif AVOID_KNOWN_BUGS and spec.get("tests") == []:
        # Known bug: with no test layer, build-projects gets an unused ArtifactBucketName.
        spec["tests"] = [{"kind": draw(pick(*TEST_KINDS))}]
    blue_green = 0
    for index, env in enumerate(spec["environments"]):
        deploy: Spec = {}
        if target == "eks":  # a cluster is required; traffic fields and service are ECS's
            deploy["cluster"] = draw(ecs_names)
            optional(draw, deploy, "strategy", pick("rolling"))
            namespaces = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
            optional(draw, deploy, "namespace", namespaces)
            manifests = pick("k8s/deployment.yaml", "k8s/service.yaml", "deploy/${x}.yaml")
            optional(draw, deploy, "manifests", st.lists(manifests, min_size=1, unique=True))
        else:  # namespace and manifests are EKS's; traffic fields need blue/green
            strategy = draw(pick(None, "rolling", "canary", "linear", "all-at-once"))
            if AVOID_KNOWN_BUGS and blue_green == MICROSERVICE_MAX_BLUE_GREEN:
                strategy = "rolling"
            if strategy is not None:
                deploy["strategy"] = strategy
            if (strategy or ("rolling" if index == 0 else "canary")) != "rolling":
                blue_green += 1
                optional(draw, deploy, "percentage", st.integers(1, 99))
                optional(draw, deploy, "interval_minutes", st.integers(1, 2880))
                optional(draw, deploy, "termination_wait_minutes", st.integers(0, 2880))
            optional(draw, deploy, "cluster", ecs_names)
            optional(draw, deploy, "service", services)
        draw(rollback_alarms(deploy))
        if deploy or draw(st.booleans()):
            env["deploy"] = deploy
    return spec


# -- serverless -------------------------------------------------------------------------------

APP_SERVICES = (*DEFAULT_APP_SERVICES, "s3", "states", "cloudwatch")
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
hook_stack_names = st.from_regex(
    rf"[A-Za-z][A-Za-z0-9-]{{0,{HOOK_STACK_NAME_LIMIT - 1}}}", fullmatch=True
)
ticket_patterns = st.one_of(
    pick(
        "[A-Z][A-Z0-9]+-[0-9]+",
        "(PAY|OPS)-[0-9]+",
        r"\$\{[A-Z]+\}",
        "#[0-9]+",
        "'quoted'|\"double\"",
        r"\d+",
        ".",
    ),
    st.from_regex(r"[A-Z]{2,5}", fullmatch=True).map(lambda key: f"{key}-[0-9]+"),
)
resource_types = st.one_of(
    pick("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SQS::Queue"),
    st.from_regex(r"AWS::[A-Za-z0-9]{1,12}::[A-Za-z0-9]{1,12}", fullmatch=True),
)
template_parameters = st.dictionaries(
    st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True), variable_values, max_size=3
)


@st.composite
def sam_applications(draw: Draw) -> Spec:
    app: Spec = {}
    optional(draw, app, "template", pick("template.yaml", "infra/sam.yml"))
    optional(draw, app, "runtime", pick("python3.12", "python3.13"))
    optional(draw, app, "sam_cli_version", pick("1.131.0", "1.120.0", "2.0.10"))
    optional(draw, app, "app_services", st.lists(pick(*APP_SERVICES), min_size=1, max_size=10))
    optional(draw, app, "capabilities", st.lists(pick(*CAPABILITIES), min_size=1, max_size=3))
    outputs = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9]{1,30}", fullmatch=True))
    optional(draw, app, "api_url_output", outputs)
    return app


@st.composite
def serverless_specs(draw: Draw) -> Spec:
    spec, names = draw(common("serverless", allow_parallel=False))
    optional(draw, spec, "application", sam_applications())
    compliance: Spec = {}
    enabled = draw(pick(None, True, False))
    if enabled is not None:
        compliance["enabled"] = enabled
    # Enabled, `before` must name an environment; disabled, any environment name will do.
    optional(draw, compliance, "before", environment_names if enabled is False else pick(*names))
    optional(draw, compliance, "ticket_pattern", ticket_patterns)
    optional(draw, compliance, "stateful_types", st.lists(resource_types, max_size=4))
    optional(draw, compliance, "forbid_wildcard_actions", st.booleans())
    if compliance or draw(st.booleans()):
        spec["compliance"] = compliance
    # Every environment's stack, given or <pipeline>-<environment>, is distinct and short
    # enough for the CodeDeployHook_<stack>-post hook names.
    defaults = [f"{spec['name']}-{name}" for name in names]
    stacks: list[str] = []
    for index, env in enumerate(spec["environments"]):
        deploy: Spec = {}
        default = defaults[index]
        taken = {*stacks, *defaults[index + 1 :]}
        if len(default) > HOOK_STACK_NAME_LIMIT or default in taken or draw(st.booleans()):
            deploy["stack_name"] = draw(
                hook_stack_names.filter(lambda s, taken=taken: s not in taken)
            )
        stacks.append(deploy.get("stack_name", default))
        strategy = draw(pick(None, "canary", "linear", "all-at-once"))
        if strategy is not None:
            deploy["strategy"] = strategy
        effective = strategy or ("all-at-once" if index == 0 else "canary")
        # SAM's predefined configurations only (all-at-once: 0).
        optional(draw, deploy, "interval_minutes", pick(*TRAFFIC_TYPES[effective]))
        optional(draw, deploy, "parameters", template_parameters)
        if one_in(draw, 4):
            deploy["alarms"] = draw(alarm_lists)
        if deploy or draw(st.booleans()):
            env["deploy"] = deploy
    return spec


# -- multi-region -----------------------------------------------------------------------------

# Regional bucket names carry the account and region, so pipeline names are shorter here.
MULTI_REGION_NAME_LIMIT = 27
ou_ids = st.from_regex(r"ou-[0-9a-z]{4,8}-[a-z0-9]{8,12}", fullmatch=True)
# Few accounts, so that waves share some of them.
target_accounts = st.one_of(pick("222222222222", "333333333333", "012345678901"), accounts)


def target_regions(connection: str | None) -> Any:
    """What a target's regions may hold: any region cfn-lint knows in the pipeline's partition
    (the loader refuses the others). Known bug: every template is linted in every target
    region, so a region without a tooling-account resource type (CodeBuild; CodeConnections
    with `connection: create`) fails E3006, although only the regional stores go there."""
    from cfnlint.helpers import REGIONS  # what the spec accepts

    needed = ["AWS::CodeBuild::Project"]
    if connection == "create":
        needed.append("AWS::CodeStarConnections::Connection")
    usable = regions_with(*needed) if AVOID_KNOWN_BUGS else REGIONS
    return pick(*(r for r in usable if not r.startswith(OTHER_PARTITIONS)))


@st.composite
def waves(draw: Draw, mode: str, index: int, regions: Any) -> Spec:
    """One environment's targets: accounts (cloudformation) or OUs (stacksets). In
    cloudformation mode the first wave now and then holds more than the 50 actions of a stage,
    which the blueprint splits into several stages."""
    region_lists = st.lists(regions, min_size=1, max_size=3, unique=True)
    if mode == "cloudformation" and index == 0 and one_in(draw, 10):
        wide = draw(st.lists(regions, min_size=3, max_size=3, unique=True))
        targets = [{"account": f"{n:012d}", "regions": wide} for n in range(100, 117)]
    elif mode == "cloudformation":
        # The loader refuses an account twice in a wave with a region in common.
        chosen = draw(st.lists(target_accounts, min_size=1, max_size=3, unique=True))
        targets = [{"account": account, "regions": draw(region_lists)} for account in chosen]
    else:
        chosen = draw(st.lists(ou_ids, min_size=1, max_size=3, unique=True))
        targets = [{"ou": ou, "regions": draw(region_lists)} for ou in chosen]
    wave: Spec = {"targets": targets}
    optional(draw, wave, "max_concurrent_percentage", st.integers(1, 100))
    if mode == "stacksets":
        optional(draw, wave, "failure_tolerance_percentage", st.integers(0, 100))
    elif one_in(draw, 5):
        wave["failure_tolerance_percentage"] = 0  # the only value cloudformation mode takes
    optional(draw, wave, "parameters", template_parameters)
    return wave


@st.composite
def multi_region_specs(draw: Draw) -> Spec:
    short_names = pipeline_names.filter(lambda n: len(n) <= MULTI_REGION_NAME_LIMIT)
    # Environments name no account or region: their waves do.
    spec, _ = draw(common("multi-region", names=short_names, env_region=False))
    if AVOID_KNOWN_BUGS and spec.get("tests") == []:
        # Known bug: with no test layer, build-projects gets an unused ArtifactBucketName.
        spec["tests"] = [{"kind": draw(pick(*TEST_KINDS))}]
    spec["tooling_account"] = draw(st.one_of(pick("111111111111"), accounts))
    mode = draw(pick(None, "cloudformation", "stacksets"))
    if mode is not None:
        spec["deploy_mode"] = mode
    if draw(st.booleans()):
        app: Spec = {}
        optional(draw, app, "template", pick("template.yaml", "cfn/app.json"))
        stack_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,60}", fullmatch=True)
        optional(draw, app, "stack_name", stack_names)
        optional(draw, app, "app_services", st.lists(pick(*APP_SERVICES), min_size=1, max_size=5))
        capabilities = st.lists(pick(*CAPABILITIES), min_size=1, max_size=3, unique=True)
        optional(draw, app, "capabilities", capabilities)
        spec["application"] = app
    optional(draw, spec, "split_large_waves", pick(True))
    regions = target_regions(spec["source"].get("connection"))
    if AVOID_KNOWN_BUGS:
        # Known bug: the pipeline role's inline policy grows by ~400 characters per target
        # region, and from about 19 regions limits.py refuses it (a target takes up to 30).
        regions = pick(*draw(st.lists(regions, min_size=3, max_size=12, unique=True)))
    for index, env in enumerate(spec["environments"]):
        env["deploy"] = draw(waves(mode or "cloudformation", index, regions))
    return spec


# -- every blueprint --------------------------------------------------------------------------

SPECS: dict[str, st.SearchStrategy[Spec]] = {
    "web-app": web_app_specs(),
    "microservice": microservice_specs(),
    "serverless": serverless_specs(),
    "multi-region": multi_region_specs(),
}


def specs() -> st.SearchStrategy[Spec]:
    """A valid spec of any blueprint."""
    return st.one_of(*SPECS.values())
