"""The monthly cost estimate of a built pipeline: `pipegen cost` and the README's section.

What runs comes from the built templates: the CodePipeline actions (which ones are billed, which
CodeBuild project each runs), each project's compute type, the KMS keys (with the replicas a
StackSet creates) and the artifact stores with their lifecycle rules. How often and how long
comes from the spec's `usage:`. Prices come from generator/data/prices.yaml: the list prices of
one region, each with its source and date.

Money is Decimal throughout; amounts are rounded to cents only for display and in the total, so
an estimate is the same on every machine.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

import yaml

from generator.assembly.assemble import TemplateSet
from generator.errors import AssemblyError, Located, PipegenError, SpecError
from generator.spec.loader import LoadedSpec, format_loc, line_of
from generator.spec.model import PipelineSpec

PRICES_FILE = "generator/data/prices.yaml"
DAYS_PER_MONTH = Decimal(30)
QUICK_ACTION_MINUTES = Decimal(1)  # source, invoke and other short actions: the billed minimum
MB_PER_GB = Decimal(1024)
CENT = Decimal("0.01")
ROOT = "root.yaml"


class PriceFileError(PipegenError):
    """generator/data/prices.yaml lacks a figure the estimate needs: a pipegen bug."""

    exit_code = 1


# --- prices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of the price file, with where it comes from."""

    key: str
    value: Decimal
    unit: str
    region: str
    source: str
    checked: str
    note: str = ""
    applies_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriceBook:
    date: str
    region: str
    currency: str
    figures: tuple[Figure, ...]

    def get(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def require(self, key: str) -> Figure:
        figure = self.get(key)
        if figure is None:
            raise PriceFileError(f"{PRICES_FILE}: no figure {key!r}, which the estimate needs")
        return figure


def parse_prices(text: str) -> PriceBook:
    """A price file's text as a PriceBook; PriceFileError names what is wrong with it."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
        raise PriceFileError(f"{PRICES_FILE}: expected a mapping with 'figures'")
    figures = []
    for key, entry in data["figures"].items():
        try:
            value = Decimal(str(entry["value"]))
            figures.append(
                Figure(
                    key=str(key),
                    value=value,
                    unit=str(entry["unit"]),
                    region=str(entry["region"]),
                    source=str(entry["source"]),
                    checked=str(entry["checked"]),
                    note=str(entry.get("note", "")),
                    applies_to=tuple(str(a) for a in entry.get("applies_to", ())),
                )
            )
        except (KeyError, TypeError, InvalidOperation) as error:
            raise PriceFileError(f"{PRICES_FILE}: figure {key!r}: {error!r}") from None
    return PriceBook(
        date=str(data["date"]),
        region=str(data["region"]),
        currency=str(data.get("currency", "USD")),
        figures=tuple(figures),
    )


@cache
def default_prices() -> PriceBook:
    """generator/data/prices.yaml, read once."""
    return parse_prices(resources.files("generator.data").joinpath("prices.yaml").read_text())


# --- the estimate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    """One line of the estimate. `monthly_usd` is exact (negative for a free-tier credit);
    `unit_price` is None when the price file has no figure for it (then it counts as 0)."""

    service: str
    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    monthly_usd: Decimal

    @property
    def rounded_usd(self) -> Decimal:
        return cents(self.monthly_usd)


@dataclass(frozen=True)
class CostEstimate:
    pipeline: str
    spec_file: str
    spec_region: str
    price_region: str
    price_date: str
    currency: str
    free_tier: bool
    lines: tuple[LineItem, ...]
    assumptions: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def total_usd(self) -> Decimal:
        """The sum of the exact line amounts, rounded to cents once."""
        return cents(sum((line.monthly_usd for line in self.lines), Decimal(0)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; amounts are strings so that no float rounds them."""
        return {
            "pipeline": self.pipeline,
            "spec": self.spec_file,
            "estimate": (
                f"monthly cost estimate from {self.price_region} list prices of "
                f"{self.price_date}; not a quote"
            ),
            "spec_region": self.spec_region,
            "price_region": self.price_region,
            "price_date": self.price_date,
            "prices_file": PRICES_FILE,
            "currency": self.currency,
            "free_tier": self.free_tier,
            "lines": [
                {
                    "service": line.service,
                    "item": line.item,
                    "quantity": plain(line.quantity),
                    "unit": line.unit,
                    "unit_price": None if line.unit_price is None else plain(line.unit_price),
                    "monthly_usd": str(line.rounded_usd),
                }
                for line in self.lines
            ],
            "total_usd": str(self.total_usd),
            "assumptions": list(self.assumptions),
            "notes": list(self.notes),
        }


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def plain(number: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 9900, 87.890625, 0.002."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _up(minutes: Decimal) -> Decimal:
    """Whole minutes, rounded up, as CodePipeline and CodeBuild bill them."""
    return minutes.to_integral_value(rounding=ROUND_CEILING)


def _dec(value: float | int) -> Decimal:
    """A spec number as Decimal, exactly as written (2.5 -> 2.5, not its binary float)."""
    return Decimal(str(value))


# --- reading the built templates --------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    path: str
    logical_id: str
    name: str
    short_name: str
    compute_type: str
    environment_type: str
    timeout: int | None

    @property
    def price_key(self) -> str:
        return f"codebuild.{self.environment_type}.{self.compute_type}"

    @property
    def free_key(self) -> str:
        return f"{self.environment_type}.{self.compute_type}"


@dataclass(frozen=True)
class Action:
    stage: str
    name: str
    category: str
    owner: str
    provider: str
    project: Project | None

    @property
    def billed(self) -> bool:
        """CodePipeline V2 bills every action but manual approvals and custom actions."""
        manual = self.category == "Approval" and self.provider == "Manual"
        return not manual and self.owner != "Custom"


@dataclass(frozen=True)
class Pipeline:
    path: str
    logical_id: str
    pipeline_type: str
    actions: tuple[Action, ...]
    store_regions: tuple[str, ...]  # "" is the pipeline's own region
    primary_bucket: tuple[str, str] | None  # (template path, logical id) of the artifact bucket


@dataclass(frozen=True)
class KeyCopies:
    path: str
    logical_id: str
    replica: bool
    multi_region: bool
    copies: int
    via: str  # "" when the stack creates it once; else how it is deployed several times


class _Built:
    """The rendered templates of a TemplateSet, and how their values flow between stacks."""

    def __init__(self, template_set: TemplateSet) -> None:
        self.docs: dict[str, dict[str, Any]] = {
            path: template.to_dict() for path, template in template_set.templates()
        }
        self.child_path = {c.logical_id: f"stacks/{c.file_name}" for c in template_set.children}
        self.nested_as = {path: logical_id for logical_id, path in self.child_path.items()}

    def resources(self, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, doc in self.docs.items():
            for logical_id, resource in doc.get("Resources", {}).items():
                if resource.get("Type") == resource_type:
                    yield path, logical_id, resource.get("Properties", {})

    def resolve(self, path: str, node: Any, depth: int = 0) -> tuple[str, str] | str | None:
        """What `node` in the template at `path` names: a resource as (path, logical id), a
        literal string, or None. Follows a child's parameter to what the root passes it, and the
        root's `Fn::GetAtt Child.Outputs.X` to the child's output."""
        if depth > 20:
            return None
        if isinstance(node, str):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            return None
        doc = self.docs.get(path, {})
        if "Ref" in node:
            name = node["Ref"]
            if name in doc.get("Resources", {}):
                return path, name
            declared = doc.get("Parameters", {}).get(name)
            if declared is None:
                return None
            logical_id = self.nested_as.get(path)
            if logical_id is not None:
                stack = self.docs[ROOT]["Resources"].get(logical_id, {})
                passed = stack.get("Properties", {}).get("Parameters", {}).get(name)
                if passed is not None:
                    return self.resolve(ROOT, passed, depth + 1)
            default = declared.get("Default")
            return default if isinstance(default, str) else None
        if "Fn::GetAtt" in node:
            target, attribute = node["Fn::GetAtt"]
            child = self.child_path.get(target) if path == ROOT else None
            if child is not None and attribute.startswith("Outputs."):
                output = self.docs[child].get("Outputs", {}).get(attribute.removeprefix("Outputs."))
                return None if output is None else self.resolve(child, output["Value"], depth + 1)
            if target in doc.get("Resources", {}):
                return path, target
        return None

    def projects(self, pipeline_name: str) -> list[Project]:
        found = []
        for path, logical_id, props in self.resources("AWS::CodeBuild::Project"):
            environment = props.get("Environment", {})
            name = props.get("Name")
            name = name if isinstance(name, str) else logical_id
            timeout = props.get("TimeoutInMinutes")
            found.append(
                Project(
                    path=path,
                    logical_id=logical_id,
                    name=name,
                    short_name=name.removeprefix(f"{pipeline_name}-") or name,
                    compute_type=str(environment.get("ComputeType", "")),
                    environment_type=str(environment.get("Type", "")),
                    timeout=timeout if isinstance(timeout, int) else None,
                )
            )
        return found

    def pipelines(self, projects: Sequence[Project]) -> list[Pipeline]:
        by_resource = {(p.path, p.logical_id): p for p in projects}
        by_name = {p.name: p for p in projects}
        found = []
        for path, logical_id, props in self.resources("AWS::CodePipeline::Pipeline"):
            actions = []
            for stage in props.get("Stages", []):
                for action in stage.get("Actions", []):
                    type_id = action.get("ActionTypeId", {})
                    project = None
                    if type_id.get("Provider") == "CodeBuild":
                        named = action.get("Configuration", {}).get("ProjectName")
                        target = self.resolve(path, named)
                        project = (
                            by_name.get(target)
                            if isinstance(target, str)
                            else by_resource.get(target)
                            if target
                            else None
                        )
                        if project is None:
                            raise AssemblyError(
                                f"cost estimate: cannot tell which CodeBuild project action "
                                f"{stage.get('Name')}/{action.get('Name')} of {path} runs"
                            )
                    actions.append(
                        Action(
                            stage=str(stage.get("Name")),
                            name=str(action.get("Name")),
                            category=str(type_id.get("Category")),
                            owner=str(type_id.get("Owner")),
                            provider=str(type_id.get("Provider")),
                            project=project,
                        )
                    )
            stores, primary = self._stores(path, props)
            found.append(
                Pipeline(
                    path=path,
                    logical_id=logical_id,
                    pipeline_type=str(props.get("PipelineType", "V1")),
                    actions=tuple(actions),
                    store_regions=stores,
                    primary_bucket=primary,
                )
            )
        return found

    def _stores(
        self, path: str, props: Mapping[str, Any]
    ) -> tuple[tuple[str, ...], tuple[str, str] | None]:
        if "ArtifactStore" in props:
            entries = [{"Region": {"Ref": "AWS::Region"}, "ArtifactStore": props["ArtifactStore"]}]
        else:
            entries = list(props.get("ArtifactStores", []))
        regions: list[str] = []
        primary = None
        for entry in entries:
            region = entry.get("Region")
            own = region == {"Ref": "AWS::Region"}
            regions.append("" if own else str(region))
            if own:
                bucket = self.resolve(path, entry.get("ArtifactStore", {}).get("Location"))
                primary = bucket if isinstance(bucket, tuple) else None
        return tuple(regions), primary

    def stack_sets(self) -> dict[str, tuple[str, int, tuple[str, ...], bool]]:
        """Template path -> (StackSet logical id, stack instances, regions, has OU targets)."""
        found = {}
        for _, logical_id, props in self.resources("AWS::CloudFormation::StackSet"):
            url = props.get("TemplateURL")
            text = url.get("Fn::Sub") if isinstance(url, dict) else url
            if isinstance(text, list):
                text = text[0]
            if not isinstance(text, str):
                continue
            target = next(
                (p for p in self.docs if text.endswith(p) and text[: -len(p)][-1:] in ("/", "}")),
                None,
            )
            if target is None:
                continue
            copies = 0
            regions: list[str] = []
            ous = False
            for group in props.get("StackInstancesGroup", []):
                group_regions = [str(r) for r in group.get("Regions", [])]
                targets = group.get("DeploymentTargets", {})
                accounts = len(targets.get("Accounts", []))
                units = len(targets.get("OrganizationalUnitIds", []))
                ous = ous or units > 0
                copies += len(group_regions) * max(1, accounts + units)
                regions.extend(r for r in group_regions if r not in regions)
            found[target] = (logical_id, copies, tuple(regions), ous)
        return found

    def kms_keys(self) -> list[KeyCopies]:
        stack_sets = self.stack_sets()
        found = []
        for resource_type in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
            for path, logical_id, props in self.resources(resource_type):
                copies, via = 1, ""
                if path in stack_sets:
                    stack_set, copies, regions, ous = stack_sets[path]
                    per = " (per account of each OU: at least)" if ous else ""
                    via = f"StackSet {stack_set} in {', '.join(regions)}{per}"
                elif path != ROOT and path not in self.nested_as:
                    via = "a template launched on its own, counted once"
                replica = resource_type.endswith("ReplicaKey")
                multi_region = props.get("MultiRegion") is True
                found.append(KeyCopies(path, logical_id, replica, multi_region, copies, via))
        return sorted(found, key=lambda k: (k.replica, k.path, k.logical_id))

    def bucket_days(self, bucket: tuple[str, str] | None) -> tuple[Decimal, Decimal] | None:
        """(days current, days noncurrent) an object stays in the bucket, from its lifecycle
        rule for the whole bucket; None without one."""
        if bucket is None:
            return None
        path, logical_id = bucket
        props = self.docs[path]["Resources"][logical_id].get("Properties", {})
        versioned = props.get("VersioningConfiguration", {}).get("Status") == "Enabled"
        for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
            scoped = rule.get("Prefix") or rule.get("Filter")
            days = rule.get("ExpirationInDays")
            if rule.get("Status") != "Enabled" or scoped or not isinstance(days, int):
                continue
            if not versioned:
                return Decimal(days), Decimal(0)
            noncurrent = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
            if isinstance(noncurrent, int):
                return Decimal(days), Decimal(noncurrent)
        return None


# --- usage: minutes per project -------------------------------------------------------------


def _source(
    source: LoadedSpec | PipelineSpec[Any],
) -> tuple[PipelineSpec[Any], str, Mapping[Any, int]]:
    if isinstance(source, LoadedSpec):
        return source.spec, source.display, source.lines
    return source, f"spec {source.name}", {}


def _project_minutes(
    spec: PipelineSpec[Any], display: str, lines: Mapping[Any, int], projects: Sequence[Project]
) -> dict[str, Decimal]:
    """Minutes a build of each project takes (by project name), from usage; SpecError for a key
    that names no project, names one twice, or exceeds the project's timeout."""
    usage = spec.usage
    by_key = {p.name: p for p in projects} | {p.short_name: p for p in projects}
    problems: list[Located] = []
    given: dict[str, tuple[str, Decimal]] = {}

    def problem(loc: tuple[str, ...], message: str) -> None:
        problems.append(Located(display, line_of(loc, dict(lines)), format_loc(loc), message))

    for key, value in usage.build_minutes.items():
        loc = ("usage", "build_minutes", key)
        project = by_key.get(key)
        if project is None:
            shorts = sorted(p.short_name for p in projects)
            close = difflib.get_close_matches(key, sorted(by_key), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            example = f" (or the full names, such as {projects[0].name})" if projects else ""
            problem(
                loc,
                f"no CodeBuild project {key!r} in pipeline {spec.name}; {hint}valid names: "
                f"{', '.join(shorts) or 'none'}{example}",
            )
            continue
        if project.name in given:
            problem(
                loc,
                f"names project {project.name} again (usage.build_minutes.{given[project.name][0]}"
                "); give its minutes once",
            )
            continue
        given[project.name] = (key, _dec(value))
        if project.timeout is not None and _dec(value) > project.timeout:
            problem(
                loc,
                f"{value:g} minutes is longer than {project.name}'s timeout of "
                f"{project.timeout} minutes, when CodeBuild stops the build; use at most "
                f"{project.timeout}, or raise the project's timeout_minutes",
            )
    default = _dec(usage.default_build_minutes)
    too_short = sorted(
        p.name
        for p in projects
        if p.name not in given and p.timeout is not None and default > p.timeout
    )
    if too_short:
        problem(
            ("usage", "default_build_minutes"),
            f"{usage.default_build_minutes:g} minutes is longer than the timeout of "
            f"{', '.join(too_short)}; lower it, or give their minutes in usage.build_minutes",
        )
    if problems:
        raise SpecError(problems)
    return {p.name: given[p.name][1] if p.name in given else default for p in projects}


# --- estimating -----------------------------------------------------------------------------


def estimate(
    source: LoadedSpec | PipelineSpec[Any],
    template_set: TemplateSet,
    *,
    free_tier: bool | None = None,
    prices: PriceBook | None = None,
) -> CostEstimate:
    """The monthly estimate of the pipeline `template_set` builds from `source` (a LoadedSpec
    for errors with file and line, or a bare spec). `free_tier` overrides usage.free_tier."""
    spec, display, lines = _source(source)
    book = prices or default_prices()
    usage = spec.usage
    use_free_tier = usage.free_tier if free_tier is None else free_tier
    built = _Built(template_set)
    projects = built.projects(spec.name)
    pipelines = built.pipelines(projects)
    if not pipelines:
        raise AssemblyError("cost estimate: the templates create no AWS::CodePipeline::Pipeline")
    run = _Run(
        per_day=_dec(usage.runs_per_day),
        build_minutes=_project_minutes(spec, display, lines, projects),
        deploy_minutes=_up(_dec(usage.deploy_minutes)),
        artifact_mb=_dec(usage.artifact_mb),
    )
    notes: list[str] = []
    items = _pipeline_lines(pipelines, run, book, use_free_tier)
    items += _build_lines(projects, pipelines, run, book, use_free_tier, notes)
    items += _key_lines(built, book)
    days = built.bucket_days(pipelines[0].primary_bucket)
    if days is None:
        days = Decimal(spec.artifact_retention_days), Decimal(0)
        notes.append(
            "The artifact bucket's lifecycle rule could not be read from the templates: "
            f"artifacts are assumed to be kept {days[0]} days (artifact_retention_days)."
        )
    regions = list(dict.fromkeys(r or spec.region for p in pipelines for r in p.store_regions))
    items += _storage_lines(regions, run, days, book)
    used = {a.project.name for p in pipelines for a in p.actions if a.project is not None}
    assumptions = _assumptions(
        spec,
        book,
        run,
        projects=[p for p in projects if p.name in used],
        manual=sum(
            1
            for p in pipelines
            for a in p.actions
            if a.category == "Approval" and a.provider == "Manual"
        ),
        days=days,
        several_stores=len(regions) > 1,
        free_tier=use_free_tier,
        pipeline_type=pipelines[0].pipeline_type,
    )
    notes.extend(_region_notes(spec.region, book.region, template_set.regions))
    notes.append(
        "Not included: KMS requests, CloudWatch Logs, alarms and the dashboard, SNS, "
        "EventBridge, Lambda invocations, S3 requests, the access-log bucket and the CodeBuild "
        "S3 cache, data transfer between regions, CloudTrail events beyond the account's free "
        "copy of management events and the audit bucket's storage, AWS FIS action minutes of "
        "chaos experiments, AppConfig configuration requests, and what the deployments "
        "themselves run (EC2, ECS, Lambda)."
    )
    return CostEstimate(
        pipeline=spec.name,
        spec_file=display,
        spec_region=spec.region,
        price_region=book.region,
        price_date=book.date,
        currency=book.currency,
        free_tier=use_free_tier,
        lines=tuple(items),
        assumptions=tuple(assumptions),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Run:
    """One pipeline run, from usage: how often and how long."""

    per_day: Decimal
    build_minutes: Mapping[str, Decimal]  # by project name, as given (billing rounds them up)
    deploy_minutes: Decimal  # whole minutes
    artifact_mb: Decimal

    @property
    def per_month(self) -> Decimal:
        return self.per_day * DAYS_PER_MONTH

    def minutes(self, action: Action) -> Decimal:
        """Billed minutes of one execution of `action`."""
        if action.project is not None:
            return _up(self.build_minutes[action.project.name])
        if action.category == "Deploy":
            return self.deploy_minutes
        return QUICK_ACTION_MINUTES


def _pipeline_lines(
    pipelines: Sequence[Pipeline], run: _Run, book: PriceBook, free_tier: bool
) -> list[LineItem]:
    items = []
    v2_minutes = Decimal(0)
    minute_price = book.require("codepipeline.v2.action_minute").value
    for pipeline in pipelines:
        billed = [a for a in pipeline.actions if a.billed]
        if pipeline.pipeline_type == "V2":
            per_run = sum((run.minutes(a) for a in billed), Decimal(0))
            used = per_run * run.per_month
            v2_minutes += used
            item = (
                f"V2 action execution minutes: {len(billed)} billed actions, "
                f"{plain(per_run)} minutes a run"
            )
            items.append(
                LineItem(
                    "CodePipeline", item, used, "action minutes", minute_price, used * minute_price
                )
            )
            continue
        fee = book.require("codepipeline.v1.active_pipeline").value
        active = Decimal(1 if run.per_day > 0 else 0)
        items.append(
            LineItem("CodePipeline", "V1 active pipeline", active, "pipelines", fee, fee * active)
        )
        if free_tier and active:
            free = min(book.require("codepipeline.v1.free_active_pipelines").value, active)
            item = f"Free tier: {plain(free)} active V1 pipeline a month"
            items.append(LineItem("CodePipeline", item, free, "pipelines", -fee, -fee * free))
    if free_tier and v2_minutes > 0:
        free_minutes = book.require("codepipeline.v2.free_action_minutes").value
        credited = min(free_minutes, v2_minutes)
        items.append(
            LineItem(
                "CodePipeline",
                f"Free tier: {plain(free_minutes)} V2 action minutes a month",
                credited,
                "action minutes",
                -minute_price,
                -minute_price * credited,
            )
        )
    return items


def _build_lines(
    projects: Sequence[Project],
    pipelines: Sequence[Pipeline],
    run: _Run,
    book: PriceBook,
    free_tier: bool,
    notes: list[str],
) -> list[LineItem]:
    """One line per project: its builds a run (one per action that runs it) x its minutes."""
    builds = {p.name: 0 for p in projects}
    for pipeline in pipelines:
        for action in pipeline.actions:
            if action.project is not None:
                builds[action.project.name] += 1
    items = []
    priced: list[tuple[Project, Decimal]] = []
    for project in projects:
        count = builds[project.name]
        if count == 0:
            notes.append(
                f"CodeBuild project {project.name} is run by no pipeline action: left out."
            )
            continue
        each = _up(run.build_minutes[project.name])
        used = run.per_month * count * each
        figure = book.get(project.price_key)
        if figure is None:
            notes.append(
                f"{PRICES_FILE} has no price for {project.environment_type} "
                f"{project.compute_type} ({project.name}): its {plain(used)} minutes are "
                "not in the total."
            )
        else:
            priced.append((project, used))
        item = (
            f"{project.name} ({_compute_label(project)}): {count} "
            f"{'build' if count == 1 else 'builds'} a run x {plain(each)} min"
        )
        minute_price = None if figure is None else figure.value
        amount = Decimal(0) if figure is None else used * figure.value
        items.append(LineItem("CodeBuild", item, used, "build minutes", minute_price, amount))
    if not free_tier:
        return items
    free = book.require("codebuild.free_build_minutes")
    left = free.value
    for free_key in free.applies_to:  # in the price file's order
        used = sum((m for p, m in priced if p.free_key == free_key), Decimal(0))
        credited = min(left, used)
        if credited <= 0:
            continue
        left -= credited
        minute_price = book.require(f"codebuild.{free_key}").value
        items.append(
            LineItem(
                "CodeBuild",
                f"Free tier: {plain(free.value)} {_compute_short(free_key)} build minutes a month",
                credited,
                "build minutes",
                -minute_price,
                -minute_price * credited,
            )
        )
    return items


def _key_lines(built: _Built, book: PriceBook) -> list[LineItem]:
    key_price = book.require("kms.key_month").value
    items = []
    for key in built.kms_keys():
        kind = "replica key" if key.replica else "customer managed key"
        if key.copies != 1:
            kind += "s"
        if key.multi_region:
            kind += " (multi-Region primary)"
        via = f", {key.via}" if key.via else ""
        items.append(
            LineItem(
                "KMS",
                f"{key.logical_id} in {key.path}: {kind}{via}",
                Decimal(key.copies),
                "key-months",
                key_price,
                key_price * key.copies,
            )
        )
    return items


def _storage_lines(
    regions: Sequence[str], run: _Run, days: tuple[Decimal, Decimal], book: PriceBook
) -> list[LineItem]:
    """Steady state: a day's artifacts times the days an object stays (current + noncurrent)."""
    storage_price = book.require("s3.standard_gb_month").value
    kept = days[0] + days[1]
    stored_gb = run.per_day * run.artifact_mb * kept / MB_PER_GB
    item = f"{plain(run.per_day)} runs a day x {plain(run.artifact_mb)} MB, kept {plain(kept)} days"
    return [
        LineItem(
            "S3",
            f"Artifact store in {region}: {item}",
            stored_gb,
            "GB-months",
            storage_price,
            stored_gb * storage_price,
        )
        for region in regions
    ]


def _compute_label(project: Project) -> str:
    platform = {"LINUX_CONTAINER": "Linux", "ARM_CONTAINER": "ARM"}.get(
        project.environment_type, project.environment_type
    )
    return f"{project.compute_type}, {platform}"


def _compute_short(free_key: str) -> str:
    environment_type, compute_type = free_key.split(".")
    size = compute_type.removeprefix("BUILD_GENERAL1_").lower()
    return f"arm1.{size}" if environment_type == "ARM_CONTAINER" else f"general1.{size}"


def _assumptions(
    spec: PipelineSpec[Any],
    book: PriceBook,
    run: _Run,
    *,
    projects: Sequence[Project],
    manual: int,
    days: tuple[Decimal, Decimal],
    several_stores: bool,
    free_tier: bool,
    pipeline_type: str,
) -> list[str]:
    usage = spec.usage
    listed = ", ".join(f"{p.short_name} {plain(run.build_minutes[p.name])}" for p in projects)
    text = [
        f"{plain(run.per_day)} runs a day, {plain(DAYS_PER_MONTH)} days a month: "
        f"{plain(run.per_month)} runs, each through every stage (every approval given; no "
        "failures, retries or rollbacks).",
        f"Minutes a build takes (usage.build_minutes, else {usage.default_build_minutes:g}): "
        f"{listed or 'no projects'}. A CodeBuild action lasts as long as its build.",
        f"Deploy actions take {plain(run.deploy_minutes)} minutes (usage.deploy_minutes); "
        f"source, invoke and other short actions {plain(QUICK_ACTION_MINUTES)} minute. "
        "CodePipeline and CodeBuild round every action and build up to whole minutes.",
    ]
    if pipeline_type == "V2":
        gates = f"the {manual} manual approval(s) of a run" if manual else "manual approvals"
        text.append(
            f"CodePipeline V2 bills action minutes only, with no per-pipeline fee; {gates} and "
            "custom actions are not billed. The bake time after a deploy (bake_minutes) is a "
            "stage condition, not an action, and is not counted."
        )
    current, noncurrent = days
    store = "each artifact store" if several_stores else "the artifact store"
    if noncurrent:
        kept = (
            f"the versioned bucket keeps it {plain(current)} days as the current version and "
            f"{plain(noncurrent)} more as a noncurrent one (its lifecycle rule, from "
            f"artifact_retention_days: {spec.artifact_retention_days}), "
            f"{plain(current + noncurrent)} days in all"
        )
    else:
        kept = f"it is kept {plain(current)} days"
    text.append(
        f"A run stores {plain(run.artifact_mb)} MB of artifacts (usage.artifact_mb) in {store}; "
        f"{kept}. Storage is the steady state, reached after that many days; 1 GB = 1024 MB."
    )
    text.append(
        "KMS keys at their first-year price: each of the first two yearly rotations adds "
        f"{unit_price(book.require('kms.key_month').value)} a key-month."
    )
    if free_tier:
        text.append(
            "Free tiers are subtracted as if this pipeline were the account's only user "
            "(usage.free_tier): they are shared by every pipeline and project of the account."
        )
    else:
        text.append("Free tiers are not subtracted.")
    return text


def _region_notes(spec_region: str, price_region: str, regions: Sequence[str]) -> list[str]:
    notes = []
    if spec_region != price_region:
        notes.append(
            f"The pipeline runs in {spec_region}, but these are {price_region} list prices; "
            f"{spec_region}'s may differ."
        )
    others = sorted(r for r in regions if r not in (spec_region, price_region))
    if others:
        notes.append(
            f"Resources in {', '.join(others)} are priced at {price_region} rates as well."
        )
    return notes


# --- rendering --------------------------------------------------------------------------------


def money(amount: Decimal) -> str:
    rounded = cents(amount)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.2f}"


def unit_price(price: Decimal | None) -> str:
    """At least cents, else every digit the price file gives: $1.00, $0.01, $0.0798."""
    if price is None:
        return "no price"
    sign = "-" if price < 0 else ""
    shown = plain(abs(price))
    decimals = len(shown.partition(".")[2])
    return f"{sign}${abs(price):.{max(2, decimals)}f}"


def quantity(value: Decimal, unit: str) -> str:
    """Thousands separated, at most two decimals; a unit of one loses its plural s."""
    shown = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{shown} {unit.removesuffix('s') if value == 1 else unit}"


def _intro(estimate: CostEstimate, subject: str) -> str:
    return (
        f"Estimated monthly cost of {subject}, from {estimate.price_region} list prices of "
        f"{estimate.price_date} ({PRICES_FILE}) and the usage below. An estimate, not a quote: "
        "the bill depends on what actually runs."
    )


def render_markdown(estimate: CostEstimate) -> str:
    """The "## Cost estimate" section of the pipeline's README."""
    out = [
        "## Cost estimate",
        "",
        _intro(estimate, f"pipeline `{estimate.pipeline}`").replace(
            PRICES_FILE, f"`{PRICES_FILE}`"
        ),
        "",
        "| Service | Item | Quantity | Unit price | Monthly |",
        "|---|---|--:|--:|--:|",
    ]
    for line in estimate.lines:
        cells = [
            line.service,
            line.item,
            quantity(line.quantity, line.unit),
            unit_price(line.unit_price),
            money(line.monthly_usd),
        ]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append(f"| **Total** | | | | **{money(estimate.total_usd)}** |")
    out += ["", "Assumptions:", ""]
    out += [f"- {a}" for a in estimate.assumptions]
    out += ["", "Notes:", ""]
    out += [f"- {n}" for n in estimate.notes]
    return "\n".join(out) + "\n"


def render_text(estimate: CostEstimate) -> str:
    """A plain table for the terminal."""
    header = ("service", "item", "quantity", "unit price", "monthly")
    rows = [
        (
            line.service,
            line.item,
            quantity(line.quantity, line.unit),
            unit_price(line.unit_price),
            money(line.monthly_usd),
        )
        for line in estimate.lines
    ]
    rows.append(("", "total", "", "", money(estimate.total_usd)))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def row_text(row: Sequence[str]) -> str:
        left = [row[i].ljust(widths[i]) for i in range(2)]
        right = [row[i].rjust(widths[i]) for i in range(2, len(row))]
        return "  ".join(left + right).rstrip()

    out = [
        f"{estimate.pipeline} ({estimate.spec_file})",
        _intro(estimate, f"pipeline {estimate.pipeline}"),
        "",
        row_text(header),
        row_text(["-" * w for w in widths]),
    ]
    out += [row_text(row) for row in rows[:-1]]
    out.append(row_text(["-" * w for w in widths]))
    out.append(row_text(rows[-1]))
    out += ["", "Assumptions:"]
    out += [f"  - {a}" for a in estimate.assumptions]
    out += ["Notes:"]
    out += [f"  - {n}" for n in estimate.notes]
    return "\n".join(out) + "\n"
