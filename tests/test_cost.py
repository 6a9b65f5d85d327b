"""The monthly cost estimate: exact line items from the price file, free tiers, usage overrides,
errors that name the file, line and field, and the `pipegen cost` command."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.errors import SpecError
from generator.review import cost
from generator.spec.loader import LoadedSpec, load_spec
from generator.spec.model import Usage

REPO = Path(__file__).resolve().parent.parent
WEB_APP = REPO / "pipelines" / "web-app.yaml"
MULTI_REGION = REPO / "pipelines" / "multi-region.yaml"
PRICES = cost.default_prices()


def price(key: str) -> Decimal:
    return PRICES.require(key).value


CODEPIPELINE = price("codepipeline.v2.action_minute")
FREE_ACTION_MINUTES = price("codepipeline.v2.free_action_minutes")
SMALL = price("codebuild.LINUX_CONTAINER.BUILD_GENERAL1_SMALL")
MEDIUM = price("codebuild.LINUX_CONTAINER.BUILD_GENERAL1_MEDIUM")
FREE_BUILD_MINUTES = price("codebuild.free_build_minutes")
KEY = price("kms.key_month")
STORAGE = price("s3.standard_gb_month")


def estimate_of(
    path: Path, display: str | None = None, **options: Any
) -> tuple[LoadedSpec, cost.CostEstimate]:
    loaded = load_spec(path, display)
    return loaded, cost.estimate(loaded, loaded.blueprint.build(loaded.spec, "yaml"), **options)


def with_usage(
    tmp_path: Path, usage: str, name: str = "web-app.yaml", base: Path = WEB_APP
) -> Path:
    """The reference spec with a `usage:` block appended."""
    path = tmp_path / name
    path.write_text(base.read_text(encoding="utf-8") + "\nusage:\n" + usage, encoding="utf-8")
    return path


def row(
    service: str, quantity: Decimal, unit: str, unit_price: Decimal
) -> tuple[str, Decimal, str, Decimal, Decimal]:
    """An expected line: its amount is quantity x unit price, exactly."""
    return service, quantity, unit, unit_price, quantity * unit_price


def plain(number: Decimal) -> str:
    return cost.plain(number)


def rows(estimate: cost.CostEstimate) -> list[tuple[str, Decimal, str, Decimal | None, Decimal]]:
    return [
        (line.service, line.quantity, line.unit, line.unit_price, line.monthly_usd)
        for line in estimate.lines
    ]


@pytest.fixture(scope="module")
def web_app() -> tuple[LoadedSpec, cost.CostEstimate]:
    return estimate_of(WEB_APP)


# --- the price file ---------------------------------------------------------------------------


def test_price_file_records_its_date_region_and_a_source_for_every_figure() -> None:
    assert PRICES.date == "2026-11-26"
    assert PRICES.region == "us-east-1"
    assert PRICES.currency == "USD"
    for figure in PRICES.figures:
        assert figure.source.startswith("https://aws.amazon.com/"), figure.key
        assert figure.region in ("us-east-1", "account"), figure.key
        assert figure.checked == "2026-11-26", figure.key
        assert figure.value >= 0, figure.key
    assert Decimal("0.002") == CODEPIPELINE
    assert Decimal(100) == FREE_ACTION_MINUTES


def test_a_price_file_without_a_needed_figure_is_a_clear_error() -> None:
    book = cost.parse_prices("date: '2026-11-26'\nregion: us-east-1\nfigures: {}\n")
    with pytest.raises(cost.PriceFileError, match=r"codepipeline\.v2\.action_minute"):
        book.require("codepipeline.v2.action_minute")


# --- the reference web-app pipeline, by hand ----------------------------------------------------


def test_web_app_line_items_are_exact(web_app: tuple[LoadedSpec, cost.CostEstimate]) -> None:
    loaded, estimate = web_app
    assert loaded.spec.usage == Usage()  # the defaults: 5 runs a day, 5/10 minutes, 50 MB
    runs = Decimal(5 * 30)
    # Billed per run: Checkout 1; PublishTemplates (UpdatePipeline), Build, UnitTests,
    # SecurityScan, IntegrationTests 5 each; three deploys 10 each; three smoke tests 5 each;
    # staging's LoadTest and ChaosExperimentStaging 5 each. ApproveProd (manual) is free.
    action_minutes = (1 + 5 * 5 + 3 * 10 + 3 * 5 + 2 * 5) * runs
    assert action_minutes == 12150
    once = runs * 5  # a project that builds once a run, for the default 5 minutes
    smoke_minutes = runs * 3 * 5  # the smoke test runs once per environment
    # 180 days current, then 180 days as a noncurrent version (the versioned bucket's rule)
    stored_gb = Decimal(5) * 50 * (180 + 180) / 1024
    expected = [
        row("CodePipeline", action_minutes, "action minutes", CODEPIPELINE),
        row("CodePipeline", Decimal(100), "action minutes", -CODEPIPELINE),  # free tier
        row("CodeBuild", once, "build minutes", MEDIUM),  # build
        row("CodeBuild", once, "build minutes", MEDIUM),  # unit tests
        row("CodeBuild", once, "build minutes", MEDIUM),  # security scan
        row("CodeBuild", once, "build minutes", MEDIUM),  # integration tests
        row("CodeBuild", smoke_minutes, "build minutes", SMALL),  # smoke test
        row("CodeBuild", once, "build minutes", MEDIUM),  # load test, in staging only
        row("CodeBuild", once, "build minutes", SMALL),  # chaos experiment, in staging only
        row("CodeBuild", once, "build minutes", SMALL),  # self-update
        row("CodeBuild", Decimal(100), "build minutes", -SMALL),  # free tier
        row("KMS", Decimal(1), "key-months", KEY),  # the artifact key
        row("KMS", Decimal(1), "key-months", KEY),  # the audit trail's key
        row("S3", stored_gb, "GB-months", STORAGE),
    ]
    assert rows(estimate) == expected
    items = [line.item for line in estimate.lines]
    assert items[0] == "V2 action execution minutes: 14 billed actions, 81 minutes a run"
    assert [i.split(" ")[0] for i in items[2:10]] == [
        "web-app-build",
        "web-app-unit-tests",
        "web-app-security-scan",
        "web-app-integration-tests",
        "web-app-smoke-test",
        "web-app-load-test",
        "web-app-chaos-staging",
        "web-app-self-update",
    ]
    assert "BUILD_GENERAL1_SMALL" in items[6] and "3 builds a run" in items[6]
    for single in items[7:10]:
        assert "1 build a run x 5 min" in single
    assert "BUILD_GENERAL1_MEDIUM" in items[7]
    assert "BUILD_GENERAL1_SMALL" in items[8] and "BUILD_GENERAL1_SMALL" in items[9]
    assert items[10] == "Free tier: 100 general1.small build minutes a month"
    assert items[11] == "ArtifactKey in stacks/artifact-store.yaml: customer managed key"
    assert items[12] == "AuditKey in stacks/audit.yaml: customer managed key"
    assert items[13] == "Artifact store in us-east-1: 5 runs a day x 50 MB, kept 360 days"
    total = sum((row[4] for row in expected), Decimal(0)).quantize(Decimal("0.01"))
    assert estimate.total_usd == total  # $83.87 at the prices of 2026-11-26


def test_web_app_estimate_says_what_it_is(web_app: tuple[LoadedSpec, cost.CostEstimate]) -> None:
    _, estimate = web_app
    assert (estimate.pipeline, estimate.spec_file) == ("web-app", str(WEB_APP))
    assert (estimate.price_region, estimate.price_date) == ("us-east-1", "2026-11-26")
    assumptions = "\n".join(estimate.assumptions)
    assert "150 runs" in assumptions
    assert "1 manual approval(s) of a run and custom actions are not billed" in assumptions
    assert "180 days as the current version and 180 more as a noncurrent one" in assumptions
    assert "free tiers are subtracted" in assumptions.lower()
    assert not any("list prices;" in n for n in estimate.notes)  # us-east-1: no region note
    assert any(n.startswith("Not included: KMS requests") for n in estimate.notes)


def test_markdown_is_one_section_with_the_table_and_assumptions(
    web_app: tuple[LoadedSpec, cost.CostEstimate],
) -> None:
    _, estimate = web_app
    text = cost.render_markdown(estimate)
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("#")] == ["## Cost estimate"]
    assert "from us-east-1 list prices of 2026-11-26" in text
    assert "An estimate, not a quote" in text
    header = lines.index("| Service | Item | Quantity | Unit price | Monthly |")
    table = lines[header + 2 : header + 2 + len(estimate.lines) + 1]
    smoke = estimate.lines[6]
    assert table[6] == (
        "| CodeBuild | web-app-smoke-test (BUILD_GENERAL1_SMALL, Linux): 3 builds a run x 5 min | "
        f"2,250 build minutes | ${plain(SMALL)} | {cost.money(smoke.monthly_usd)} |"
    )
    assert table[11] == (
        "| KMS | ArtifactKey in stacks/artifact-store.yaml: customer managed key | 1 key-month | "
        f"{cost.unit_price(KEY)} | {cost.money(KEY)} |"
    )
    assert table[-1] == f"| **Total** | | | | **{cost.money(estimate.total_usd)}** |"
    assert "Assumptions:" in lines and "Notes:" in lines
    assert f"- {estimate.assumptions[0]}" in lines
    assert text == cost.render_markdown(estimate)  # deterministic


def test_amounts_are_shown_to_the_cent_and_prices_in_full() -> None:
    assert cost.money(Decimal("63.371484375")) == "$63.37"
    assert cost.money(Decimal("-0.5")) == "-$0.50"
    assert cost.money(Decimal("1234.565")) == "$1,234.57"  # half up, never banker's rounding
    assert cost.unit_price(Decimal("1.00")) == "$1.00"
    assert cost.unit_price(Decimal("0.0798")) == "$0.0798"
    assert cost.unit_price(Decimal("-0.002")) == "-$0.002"
    assert cost.unit_price(None) == "no price"
    assert cost.quantity(Decimal(1), "key-months") == "1 key-month"
    assert cost.quantity(Decimal("87.890625"), "GB-months") == "87.89 GB-months"
    assert cost.quantity(Decimal(9900), "action minutes") == "9,900 action minutes"
    assert cost.plain(Decimal("9.9E+3")) == "9900"


def test_text_table_has_every_line_and_the_total(
    web_app: tuple[LoadedSpec, cost.CostEstimate],
) -> None:
    _, estimate = web_app
    text = cost.render_text(estimate)
    assert text.startswith(f"web-app ({WEB_APP})\n")
    total = re.escape(cost.money(estimate.total_usd))
    assert re.search(rf"^\s+total\s+{total}$", text, re.M)
    assert re.search(rf"{re.escape(cost.money(-100 * SMALL))}$", text, re.M)  # free tier
    for line in estimate.lines:
        assert line.item in text


# --- free tiers -------------------------------------------------------------------------------


def test_without_free_tier_there_are_no_credits(
    web_app: tuple[LoadedSpec, cost.CostEstimate],
) -> None:
    _, with_free = web_app
    _, without = estimate_of(WEB_APP, free_tier=False)
    assert [line for line in without.lines if line.item.startswith("Free tier")] == []
    assert without.total_usd - with_free.total_usd == 100 * CODEPIPELINE + 100 * SMALL
    assert "Free tiers are not subtracted." in without.assumptions
    assert not without.free_tier and with_free.free_tier


def test_usage_free_tier_false_leaves_them_out(tmp_path: Path) -> None:
    _, estimate = estimate_of(with_usage(tmp_path, "  free_tier: false\n"))
    assert not estimate.free_tier
    assert not any(line.monthly_usd < 0 for line in estimate.lines)
    _, forced = estimate_of(with_usage(tmp_path, "  free_tier: false\n"), free_tier=True)
    assert forced.free_tier


def test_free_tier_credits_no_more_than_is_used(tmp_path: Path) -> None:
    """3 runs a month: 243 action minutes (100 free) and 75 small build minutes (all free:
    the smoke test 3 times a run, the chaos experiment and the self-update once)."""
    _, estimate = estimate_of(with_usage(tmp_path, "  runs_per_day: 0.1\n"))
    runs = Decimal("0.1") * 30
    by_item = {line.item: line for line in estimate.lines}
    pipeline = by_item["V2 action execution minutes: 14 billed actions, 81 minutes a run"]
    assert pipeline.quantity == 81 * runs == 243
    free_actions = by_item["Free tier: 100 V2 action minutes a month"]
    assert (free_actions.quantity, free_actions.monthly_usd) == (100, -100 * CODEPIPELINE)
    free_builds = by_item["Free tier: 100 general1.small build minutes a month"]
    assert free_builds.quantity == (3 + 1 + 1) * 5 * runs == 75
    small = [
        line
        for line in estimate.lines
        if line.item.split(" ")[0]
        in ("web-app-smoke-test", "web-app-chaos-staging", "web-app-self-update")
    ]
    assert len(small) == 3
    assert sum(line.monthly_usd for line in small) + free_builds.monthly_usd == 0
    # build, unit tests, security scan, integration tests and the load test: medium, once a run
    assert estimate.total_usd == (
        143 * CODEPIPELINE + 5 * runs * 5 * MEDIUM + 2 * KEY + runs / 30 * 50 * 360 / 1024 * STORAGE
    ).quantize(Decimal("0.01"))


def test_no_runs_leaves_only_the_keys(tmp_path: Path) -> None:
    _, estimate = estimate_of(with_usage(tmp_path, "  runs_per_day: 0\n"))
    assert not any(line.item.startswith("Free tier") for line in estimate.lines)
    assert estimate.total_usd == 2 * KEY  # the artifact key and the audit trail's key


# --- usage overrides --------------------------------------------------------------------------


def test_usage_overrides(tmp_path: Path) -> None:
    spec = with_usage(
        tmp_path,
        "  runs_per_day: 12\n"
        "  build_minutes:\n"
        "    build: 8\n"
        "    web-app-unit-tests: 3.5\n"  # a full name; rounded up to 4 when billed
        "    smoke-test: 2\n"
        "  default_build_minutes: 6\n"
        "  deploy_minutes: 7\n"
        "  artifact_mb: 120\n"
        "  free_tier: false\n",
    )
    loaded, estimate = estimate_of(spec)
    assert loaded.spec.usage.build_minutes == {
        "build": 8,
        "web-app-unit-tests": 3.5,
        "smoke-test": 2,
    }
    runs = Decimal(12 * 30)
    # source, self-update, 4 builds, 3 deploys, 3 smoke tests, the load test, the chaos experiment
    per_run = 1 + 6 + 8 + 4 + 6 + 6 + 3 * 7 + 3 * 2 + 6 + 6
    stored_gb = Decimal(12) * 120 * 360 / 1024
    assert rows(estimate) == [
        row("CodePipeline", per_run * runs, "action minutes", CODEPIPELINE),
        row("CodeBuild", 8 * runs, "build minutes", MEDIUM),  # build
        row("CodeBuild", 4 * runs, "build minutes", MEDIUM),  # unit tests
        row("CodeBuild", 6 * runs, "build minutes", MEDIUM),  # security scan
        row("CodeBuild", 6 * runs, "build minutes", MEDIUM),  # integration tests
        row("CodeBuild", 3 * 2 * runs, "build minutes", SMALL),  # smoke test
        row("CodeBuild", 6 * runs, "build minutes", MEDIUM),  # load test
        row("CodeBuild", 6 * runs, "build minutes", SMALL),  # chaos experiment
        row("CodeBuild", 6 * runs, "build minutes", SMALL),  # self-update
        row("KMS", Decimal(1), "key-months", KEY),
        row("KMS", Decimal(1), "key-months", KEY),
        row("S3", stored_gb, "GB-months", STORAGE),
    ]
    assert estimate.lines[2].item.endswith("1 build a run x 4 min")
    assert "unit-tests 3.5" in estimate.assumptions[1]
    assert (
        estimate.lines[-1].item
        == "Artifact store in us-east-1: 12 runs a day x 120 MB, kept 360 days"
    )


def test_another_region_is_named(tmp_path: Path) -> None:
    text = WEB_APP.read_text(encoding="utf-8").replace("region: us-east-1", "region: eu-west-1")
    path = tmp_path / "web-app.yaml"
    path.write_text(text, encoding="utf-8")
    _, estimate = estimate_of(path)
    assert estimate.spec_region == "eu-west-1"
    assert (
        "The pipeline runs in eu-west-1, but these are us-east-1 list prices; eu-west-1's may "
        "differ." in estimate.notes
    )
    assert "The pipeline runs in eu-west-1" in cost.render_markdown(estimate)


def test_a_compute_type_without_a_price_is_listed_but_not_added(tmp_path: Path) -> None:
    text = WEB_APP.read_text(encoding="utf-8").replace(
        "image: aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "image: aws/codebuild/amazonlinux-aarch64-standard:3.0",
    )
    path = tmp_path / "web-app.yaml"
    path.write_text(text, encoding="utf-8")
    _, estimate = estimate_of(path)
    build = next(line for line in estimate.lines if line.item.startswith("web-app-build "))
    assert (build.unit_price, build.monthly_usd) == (None, 0)
    assert "ARM" in build.item
    assert any(
        "no price for ARM_CONTAINER BUILD_GENERAL1_MEDIUM (web-app-build)" in n
        for n in estimate.notes
    )
    assert "no price" in cost.render_text(estimate)


def test_multi_region_counts_replica_keys_and_regional_stores() -> None:
    _, estimate = estimate_of(MULTI_REGION)
    keys = [line for line in estimate.lines if line.service == "KMS"]
    assert [(k.quantity, k.monthly_usd) for k in keys] == [(1, KEY), (3, 3 * KEY)]
    assert keys[0].item.endswith("customer managed key (multi-Region primary)")
    assert (
        "StackSet RegionalArtifactStores in eu-west-1, eu-central-1, ap-southeast-2" in keys[1].item
    )
    stores = [line.item.split(":")[0] for line in estimate.lines if line.service == "S3"]
    assert stores == [
        "Artifact store in us-east-1",
        "Artifact store in eu-west-1",
        "Artifact store in eu-central-1",
        "Artifact store in ap-southeast-2",
    ]
    # two approvals are free; Checkout 1, PublishTemplates, Build, UnitTests, SecurityScan 5
    # each, and 8 CloudFormation deploys 10 each are billed
    assert (
        estimate.lines[0].item
        == "V2 action execution minutes: 13 billed actions, 101 minutes a run"
    )
    assert estimate.lines[0].quantity == (1 + 4 * 5 + 8 * 10) * 5 * 30
    assert any("ap-southeast-2, eu-central-1, eu-west-1" in n for n in estimate.notes)


def test_a_bare_spec_is_accepted(web_app: tuple[LoadedSpec, cost.CostEstimate]) -> None:
    loaded, from_loaded = web_app
    bare = cost.estimate(loaded.spec, loaded.blueprint.build(loaded.spec, "yaml"))
    assert bare.lines == from_loaded.lines
    assert bare.spec_file == "spec web-app"


# --- errors -----------------------------------------------------------------------------------


def line_number(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_unknown_project_names_file_line_field_and_the_valid_names(tmp_path: Path) -> None:
    path = with_usage(tmp_path, "  build_minutes:\n    build: 4\n    integration: 12\n")
    with pytest.raises(SpecError) as caught:
        estimate_of(path, "pipelines/web-app.yaml")
    line = line_number(path, "    integration: 12")
    assert str(caught.value) == (
        f"pipelines/web-app.yaml:{line}: usage.build_minutes.integration: no CodeBuild project "
        "'integration' in pipeline web-app; did you mean 'integration-tests'? valid names: "
        "build, chaos-staging, integration-tests, load-test, security-scan, self-update, "
        "smoke-test, unit-tests (or the full names, such as web-app-build)"
    )


def test_unknown_project_without_a_close_match(tmp_path: Path) -> None:
    path = with_usage(tmp_path, "  build_minutes:\n    lint: 2\n")
    with pytest.raises(SpecError, match=r"'lint' in pipeline web-app; valid names: build, "):
        estimate_of(path)


def test_minutes_over_the_project_timeout_and_a_project_named_twice(tmp_path: Path) -> None:
    path = with_usage(tmp_path, "  build_minutes:\n    build: 45\n    web-app-build: 6\n")
    with pytest.raises(SpecError) as caught:
        estimate_of(path, "web-app.yaml")
    first, second = line_number(path, "    build: 45"), line_number(path, "    web-app-build: 6")
    assert str(caught.value).splitlines() == [
        f"web-app.yaml:{first}: usage.build_minutes.build: 45 minutes is longer than "
        "web-app-build's timeout of 30 minutes, when CodeBuild stops the build; use at most 30, "
        "or raise the project's timeout_minutes",
        f"web-app.yaml:{second}: usage.build_minutes.web-app-build: names project web-app-build "
        "again (usage.build_minutes.build); give its minutes once",
    ]


def test_default_minutes_over_a_timeout(tmp_path: Path) -> None:
    path = with_usage(tmp_path, "  default_build_minutes: 25\n")
    with pytest.raises(SpecError) as caught:
        estimate_of(path, "web-app.yaml")
    line = line_number(path, "  default_build_minutes: 25")
    assert str(caught.value) == (
        f"web-app.yaml:{line}: usage.default_build_minutes: 25 minutes is longer than the "
        "timeout of web-app-integration-tests, web-app-security-scan, web-app-smoke-test, "
        "web-app-unit-tests; lower it, or give their minutes in usage.build_minutes"
    )


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("PIPEGEN_DEBUG", raising=False)
    return CliRunner()


def test_cli_json_has_exact_amounts(
    runner: CliRunner, web_app: tuple[LoadedSpec, cost.CostEstimate]
) -> None:
    result = runner.invoke(main, ["cost", "--format", "json", "pipelines/web-app.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    document = json.loads(result.stdout)
    (only,) = document["estimates"]
    assert document["total_usd"] == only["total_usd"] == str(web_app[1].total_usd)
    assert only["price_region"] == "us-east-1" and only["price_date"] == "2026-11-26"
    assert only["spec"] == "pipelines/web-app.yaml"
    assert "not a quote" in only["estimate"]
    assert only["lines"][0] == {
        "service": "CodePipeline",
        "item": "V2 action execution minutes: 14 billed actions, 81 minutes a run",
        "quantity": "12150",
        "unit": "action minutes",
        "unit_price": plain(CODEPIPELINE),
        "monthly_usd": str((12150 * CODEPIPELINE).quantize(Decimal("0.01"))),
    }
    assert only["lines"][-1]["quantity"] == "87.890625"
    assert [line["monthly_usd"] for line in only["lines"]] == [
        str(line.rounded_usd) for line in web_app[1].lines
    ]


def test_cli_text_markdown_and_free_tier(
    runner: CliRunner, web_app: tuple[LoadedSpec, cost.CostEstimate]
) -> None:
    text = runner.invoke(main, ["cost", "pipelines/web-app.yaml"])
    assert text.exit_code == 0, text.output
    total = re.escape(cost.money(web_app[1].total_usd))
    assert re.search(rf"total\s+{total}$", text.stdout, re.M)
    markdown = runner.invoke(main, ["cost", "--format", "markdown", "pipelines/web-app.yaml"])
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith("## Cost estimate\n")
    no_free = runner.invoke(
        main, ["cost", "--no-free-tier", "--format", "json", "pipelines/web-app.yaml"]
    )
    assert no_free.exit_code == 0
    without = web_app[1].total_usd + 100 * CODEPIPELINE + 100 * SMALL
    assert json.loads(no_free.stdout)["total_usd"] == str(without.quantize(Decimal("0.01")))


def test_cli_several_specs_add_up(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["cost", "--format", "json", "pipelines/web-app.yaml", "pipelines/multi-region.yaml"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    totals = [Decimal(e["total_usd"]) for e in document["estimates"]]
    assert [e["pipeline"] for e in document["estimates"]] == ["web-app", "multi-region"]
    assert Decimal(document["total_usd"]) == sum(totals)


def test_cli_unknown_project_exits_2_with_the_message(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_usage(tmp_path, "  build_minutes:\n    smoke: 1\n", name="shop.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["cost", "shop.yaml"])
    assert result.exit_code == 2
    assert result.stdout == ""
    line = line_number(tmp_path / "shop.yaml", "    smoke: 1")
    assert result.stderr.startswith(
        f"shop.yaml:{line}: usage.build_minutes.smoke: no CodeBuild project 'smoke' in pipeline "
        "web-app; did you mean 'smoke-test'? valid names: build, "
    )
    assert "Traceback" not in result.output


def test_cli_bad_spec_and_bad_usage_exit_2(runner: CliRunner) -> None:
    bad = runner.invoke(main, ["cost", "tests/bad_specs/usage-runs-per-day-negative.yaml"])
    assert bad.exit_code == 2
    assert bad.stderr == (
        "tests/bad_specs/usage-runs-per-day-negative.yaml:9: usage.runs_per_day: -2 is out of "
        "range; use a value at least 0.0\n"
    )
    usage = runner.invoke(main, ["cost", "--format", "csv", "pipelines/web-app.yaml"])
    assert usage.exit_code == 2
    missing = runner.invoke(main, ["cost", "pipelines/no-such.yaml"])
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr


def test_every_usage_field_has_a_description() -> None:
    for name, field in Usage.model_fields.items():
        assert field.description, name
    schema = yaml.safe_load(json.dumps(Usage.model_json_schema()))
    assert set(schema["properties"]) == set(Usage.model_fields)


def test_custom_actions_are_unbilled_but_not_counted_as_approvals() -> None:
    """microservice has one manual approval and a Jenkins custom action: neither is billed,
    and the assumptions count the approval alone."""
    _, estimate = estimate_of(WEB_APP.parent / "microservice.yaml")
    text = " ".join(estimate.assumptions)
    assert "the 1 manual approval(s) of a run and custom actions are not billed" in text
