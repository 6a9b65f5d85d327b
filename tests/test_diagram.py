"""The pipeline diagram (generator/review/diagram.py): SVG geometry and text, Mermaid syntax, and
real renders of the SVGs in headless Chromium, for hand-built views and every committed diagram.

Chromium is Debian's `chromium`; .ci/run installs it. Its tests skip only where it is missing
and CI is unset: in CI a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from generator.review.diagram import mermaid, mermaid_label, svg, text_columns
from generator.review.pipeline_view import ActionView, PipelineView, StageView

SVG_NS = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "output"
CHROMIUM_TIMEOUT = 60  # seconds, per browser run


# ---- hand-built views ------------------------------------------------------------------------


def act(
    name: str,
    category: str = "Build",
    provider: str = "CodeBuild",
    run_order: int = 1,
    region: str = "us-east-1",
    account: str = "pipeline",
    role: str = "",
) -> ActionView:
    return ActionView(
        name=name,
        category=category,
        provider=provider,
        run_order=run_order,
        what=f"runs {provider} {name}",
        role=role,
        region=region,
        account=account,
    )


def approve(name: str = "Approve", run_order: int = 1, **kw: str) -> ActionView:
    return act(name, "Approval", "Manual", run_order, **kw)


def view(
    name: str,
    stages: list[StageView],
    description: str = "",
    regions: tuple[str, ...] = (),
    accounts: tuple[str, ...] = (),
) -> PipelineView:
    return PipelineView(
        name=name,
        description=description,
        region="us-east-1",
        account="pipeline",
        pipeline_type="V2",
        execution_mode="QUEUED",
        stages=tuple(stages),
        parameters=(),
        outputs=(),
        roles=(),
        templates=("root.yaml",),
        regions=regions,
        accounts=accounts,
    )


def source() -> StageView:
    return StageView("Source", (act("Checkout", "Source", "CodeStarSourceConnection"),))


SMALL = view("small", [source(), StageView("Build", (act("Build"),))], "Two stages")

WEB_APP = view(
    "web-app",
    [
        source(),
        StageView("Build", (act("Build"),)),
        StageView(
            "Test",
            (
                act("UnitTests", "Test"),
                act("SecurityScan", "Test"),
                act("IntegrationTests", "Test", run_order=2),
            ),
        ),
        StageView(
            "DeployDev",
            (act("Deploy", "Deploy", "CodeDeploy"), act("SmokeTest", "Test", run_order=2)),
            on_failure="ROLLBACK",
        ),
        StageView("DeployStaging", (act("Deploy", "Deploy", "CodeDeploy"),), on_failure="RETRY"),
        StageView("ApproveProd", (approve(),), gated=True),
        StageView(
            "DeployProd",
            (
                approve("Approve", 1),
                act("Deploy", "Deploy", "CodeDeployToECS", run_order=2),
                act("Bake", "Invoke", "Lambda", run_order=3),
                act("SmokeTest", "Test", run_order=3),
            ),
            on_failure="ROLLBACK",
            gated=True,
        ),
    ],
    "Storefront web application on EC2 behind an Application Load Balancer",
)


def _deploys(targets: list[tuple[str, str]], run_order: int = 1) -> tuple[ActionView, ...]:
    return tuple(
        act(f"Deploy-{acct}-{region}", "Deploy", "CloudFormation", run_order, region, acct)
        for acct, region in targets
    )


MULTI_REGION = view(
    "multi-region",
    [
        source(),
        StageView("Build", (act("Build"), act("UnitTests", "Test"), act("SecurityScan", "Test"))),
        StageView("canary", _deploys([("222222222222", "us-east-1")])),
        StageView(
            "europe",
            (
                approve(),
                *_deploys(
                    [
                        ("333333333333", "eu-west-1"),
                        ("333333333333", "eu-central-1"),
                        ("444444444444", "eu-west-1"),
                    ],
                    2,
                ),
            ),
            gated=True,
        ),
        StageView(
            "global",
            (
                approve(),
                *_deploys(
                    [
                        ("333333333333", "us-east-1"),
                        ("333333333333", "ap-southeast-2"),
                        ("444444444444", "us-east-1"),
                        ("444444444444", "ap-southeast-2"),
                    ],
                    2,
                ),
            ),
            gated=True,
        ),
    ],
    "Storefront API delivered to four regions in three accounts, in waves",
    regions=("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"),
    accounts=("222222222222", "333333333333", "444444444444"),
)

LONG = "A-very-long-action-name-that-goes-on-and-on-" * 3
NASTY = view(
    'nasty <pipe> & "co"',
    [
        StageView(
            'Src <"main"> & co',
            (act("Check'out & <fetch>", "Source", "S3"), act('"quoted" name', "Source", "S3")),
        ),
        StageView(
            "Ünïcødé ✓ 部署",
            (
                act("Bâtir ½ ☃ 構築", run_order=1),
                act("#quot; #35; `tick` ]]> --> end", run_order=2),
                act(LONG, run_order=2),
                act("bell\x07 and\ttab", run_order=3),
            ),
        ),
        StageView("</svg>", (approve('Approve <now> & "then"'),), gated=True),
        StageView("end", (act("end", "Deploy", "CloudFormation"),)),
    ],
    'Description with <markup> & "quotes" and a very long tail ' + "x" * 200,
)

EMPTY = view("empty", [])
LONE_STAGE = view("lone", [StageView("Nothing", ())])

VIEWS = {
    "small": SMALL,
    "web-app": WEB_APP,
    "multi-region": MULTI_REGION,
    "nasty": NASTY,
    "empty": EMPTY,
    "lone-stage": LONE_STAGE,
}
DRAWN = [k for k, v in VIEWS.items() if v.stages]


def shown(text: str) -> str:
    """What the diagram can show of `text`: XML 1.0 holds no control characters."""
    return re.sub(r"[\t\n\r]", " ", re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", text))


# ---- reading an SVG back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    attrs: dict[str, str]

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Rect) -> bool:
        return not (
            self.right <= other.x
            or other.right <= self.x
            or self.bottom <= other.y
            or other.bottom <= self.y
        )

    def contains(self, other: Rect, margin: float = 0) -> bool:
        return (
            self.x + margin <= other.x
            and other.right <= self.right - margin
            and self.y + margin <= other.y
            and other.bottom <= self.bottom - margin
        )


def rects(root: ET.Element, cls: str) -> list[Rect]:
    return [
        Rect(
            float(e.get("x", "0")),
            float(e.get("y", "0")),
            float(e.get("width", "0")),
            float(e.get("height", "0")),
            dict(e.attrib),
        )
        for e in root.iter(f"{SVG_NS}rect")
        if cls in e.get("class", "").split()
    ]


def groups_of(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG_NS}g") if cls in e.get("class", "").split()]


def texts(el: ET.Element, cls: str | None = None) -> list[str]:
    return [
        t.text or ""
        for t in el.iter(f"{SVG_NS}text")
        if cls is None or cls in t.get("class", "").split()
    ]


def title(el: ET.Element) -> str:
    t = el.find(f"{SVG_NS}title")
    assert t is not None
    return t.text or ""


def canvas(root: ET.Element) -> tuple[int, int]:
    width, height = int(root.get("width", "0")), int(root.get("height", "0"))
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert width > 0 and height > 0
    return width, height


def parse(doc: str) -> ET.Element:
    root = ET.fromstring(doc)
    assert root.tag == f"{SVG_NS}svg"
    return root


# ---- SVG -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(VIEWS))
def test_svg_is_xml_with_size_viewbox_and_a_white_background(key: str) -> None:
    doc = svg(VIEWS[key])
    root = parse(doc)
    width, height = canvas(root)
    (bg,) = rects(root, "background")
    assert (bg.x, bg.y, bg.w, bg.h) == (0, 0, width, height)
    assert bg.attrs["fill"] == "#ffffff"
    assert "href" not in doc and "<image" not in doc and "@import" not in doc  # no assets


@pytest.mark.parametrize("key", list(VIEWS))
def test_every_stage_and_action_is_labelled(key: str) -> None:
    v = VIEWS[key]
    root = parse(svg(v))
    assert texts(root, "pipeline-name") == [shown(v.name)]
    stage_groups = groups_of(root, "stage-group")
    action_groups = groups_of(root, "action-group")
    assert len(stage_groups) == len(v.stages)
    assert len(action_groups) == sum(len(s.actions) for s in v.stages)
    ordered = [(si, a) for si, s in enumerate(v.stages) for _o, group in s.groups() for a in group]
    for si, (stage, group) in enumerate(zip(v.stages, stage_groups, strict=True)):
        (label,) = texts(group, "stage-name")
        assert_label(label, shown(stage.name), title(group))
        (rect,) = rects(group, "stage")
        assert rect.attrs["data-name"] == shown(stage.name)
        assert rect.attrs["data-index"] == str(si)
    for (si, action), group in zip(ordered, action_groups, strict=True):
        (label,) = texts(group, "action-name")
        assert_label(label, shown(action.name), title(group).split("\n")[0])
        (rect,) = rects(group, "action")
        assert rect.attrs["data-name"] == shown(action.name)
        assert rect.attrs["data-stage-index"] == str(si)
        assert rect.attrs["data-run-order"] == str(action.run_order)


def assert_label(label: str, full: str, tooltip: str) -> None:
    """A label shows its full text, or its start cut with an ellipsis; the tooltip has it all."""
    assert tooltip == full
    if label != full:
        assert text_columns(full) > 40
        assert label.endswith("\u2026")
        assert full.startswith(label[:-1])
        assert text_columns(label) <= 40


def test_escaping_keeps_markup_as_text() -> None:
    doc = svg(NASTY)
    root = parse(doc)
    names = texts(root, "stage-name") + texts(root, "action-name")
    assert "</svg>" in names
    assert 'Src <"main"> & co' in names
    assert 'Approve <now> & "then"' in names
    assert "Ünïcødé ✓ 部署" in names
    assert "bell\ufffd and tab" in names  # a control character can't be in XML
    assert doc.count("<svg") == 1 and doc.count("</svg>") == 1  # the stage's name is escaped


@pytest.mark.parametrize("key", DRAWN)
def test_boxes_do_not_overlap_and_actions_sit_inside_their_stage(key: str) -> None:
    v = VIEWS[key]
    root = parse(svg(v))
    width, height = canvas(root)
    page = Rect(0, 0, width, height, {})
    stages = rects(root, "stage")
    actions = rects(root, "action")
    assert len(stages) == len(v.stages)
    for i, a in enumerate(stages):
        assert page.contains(a, margin=10)
        for b in stages[i + 1 :]:
            assert not a.overlaps(b), (a.attrs["data-name"], b.attrs["data-name"])
        if i:
            assert stages[i - 1].right < a.x  # left to right, in order
    for i, a in enumerate(actions):
        stage = stages[int(a.attrs["data-stage-index"])]
        assert stage.contains(a, margin=8), (a.attrs["data-name"], stage.attrs["data-name"])
        for b in actions[i + 1 :]:
            assert not a.overlaps(b), (a.attrs["data-name"], b.attrs["data-name"])


@pytest.mark.parametrize("key", DRAWN)
def test_run_orders_follow_each_other_and_parallel_actions_stack(key: str) -> None:
    v = VIEWS[key]
    root = parse(svg(v))
    actions = rects(root, "action")
    for si, stage in enumerate(v.stages):
        mine = [r for r in actions if r.attrs["data-stage-index"] == str(si)]
        columns: dict[int, list[Rect]] = {}
        for r in mine:
            columns.setdefault(int(r.attrs["data-run-order"]), []).append(r)
        assert sorted(columns) == [o for o, _g in stage.groups()]
        previous_right = None
        for order in sorted(columns):
            column = columns[order]
            assert len({r.x for r in column}) == 1  # one column per run order
            assert [r.y for r in column] == sorted(r.y for r in column)
            if previous_right is not None:
                assert previous_right < column[0].x  # the next run order is to the right
            previous_right = max(r.right for r in column)
    run_arrows = groups_of(root, "run-order-arrow")
    stage_arrows = groups_of(root, "stage-arrow")
    assert len(stage_arrows) == len(v.stages) - 1
    assert len(run_arrows) == sum(max(0, len(s.groups()) - 1) for s in v.stages)


@pytest.mark.parametrize("key", DRAWN)
def test_estimated_text_fits_its_box(key: str) -> None:
    """Each line's estimated width (0.6 em a cell, 12 px) ends inside its box."""
    root = parse(svg(VIEWS[key]))
    for group in groups_of(root, "action-group") + groups_of(root, "stage-group"):
        (box,) = rects(group, "action") or rects(group, "stage")
        for t in group.iter(f"{SVG_NS}text"):
            x = float(t.get("x", "0"))
            assert box.x < x
            assert x + text_columns(t.text or "") * 7.2 <= box.right - 6, t.text


def test_approvals_and_gated_stages_stand_out() -> None:
    root = parse(svg(WEB_APP))
    approvals = [r for r in rects(root, "action") if "approval" in r.attrs["class"].split()]
    assert len(approvals) == 2
    plain = [r for r in rects(root, "action") if r not in approvals]
    assert {r.attrs["fill"] for r in approvals}.isdisjoint({r.attrs["fill"] for r in plain})
    for group in groups_of(root, "action-group"):
        (r,) = rects(group, "action")
        is_approval = r in approvals
        assert ("approval" in texts(group, "action-detail")) == is_approval
    gated = [r.attrs["data-name"] for r in rects(root, "stage") if "gated" in r.attrs["class"]]
    assert gated == ["ApproveProd", "DeployProd"]
    assert texts(root, "stage-note").count("approval gate \u00b7 on failure: rollback") == 1


def test_multi_region_actions_show_region_and_account() -> None:
    root = parse(svg(MULTI_REGION))
    assert root.get("data-shows-where") == "true"
    actions = [a for s in MULTI_REGION.stages for _o, g in s.groups() for a in g]
    groups = groups_of(root, "action-group")
    for action, group in zip(actions, groups, strict=True):
        assert texts(group, "action-where") == [f"{action.region} \u00b7 {action.account}"]
    assert "eu-central-1 \u00b7 333333333333" in texts(root, "action-where")


def test_single_region_pipelines_do_not_repeat_where_actions_run() -> None:
    for v in (SMALL, WEB_APP):
        root = parse(svg(v))
        assert root.get("data-shows-where") == "false"
        assert texts(root, "action-where") == []
    # One action in another account is enough to show it for all.
    stages = (*SMALL.stages, StageView("Prod", (act("Deploy", account="999999999999"),)))
    root = parse(svg(replace(SMALL, stages=stages)))
    assert len(texts(root, "action-where")) == 3


@pytest.mark.parametrize("key", list(VIEWS))
def test_svg_is_deterministic(key: str) -> None:
    v = VIEWS[key]
    rebuilt = replace(v, stages=tuple(replace(s) for s in v.stages))
    first = svg(v)
    assert svg(rebuilt) == first
    assert svg(v) == first
    assert re.search(r"\d{4}-\d{2}-\d{2}", first) is None  # no timestamps


def test_size_follows_content() -> None:
    small = canvas(parse(svg(SMALL)))
    web = canvas(parse(svg(WEB_APP)))
    multi = canvas(parse(svg(MULTI_REGION)))
    assert small[0] < web[0]
    assert web[1] < multi[1]  # four parallel deploys, three lines each


# ---- Mermaid ---------------------------------------------------------------------------------

NODE = re.compile(r'^\s+([A-Za-z0-9_]+)(\["|\{\{")(.*)("\]|"\}\})$')
SUBGRAPH = re.compile(r'^\s+subgraph ([A-Za-z0-9_]+)\["(.*)"\]$')
ENTITIES = {"#quot;": '"', "#lt;": "<", "#gt;": ">", "#amp;": "&", "#35;": "#", "#96;": "`"}


def unmermaid(label: str) -> str:
    return re.sub(r"#\w+;", lambda m: ENTITIES[m.group(0)], label)


def test_mermaid_label_escapes_what_mermaid_reads() -> None:
    assert mermaid_label('a "b" <c> & #d `e`') == "a #quot;b#quot; #lt;c#gt; #amp; #35;d #96;e#96;"
    assert mermaid_label("two\nlines") == "two lines"


@pytest.mark.parametrize("key", list(VIEWS))
def test_mermaid_flowchart(key: str) -> None:
    v = VIEWS[key]
    text = mermaid(v)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert mermaid(v) == text
    assert sum(1 for x in lines if x.strip().startswith("subgraph ")) == len(v.stages)
    assert sum(1 for x in lines if x.strip() == "end") == len(v.stages)
    depth = 0  # subgraph ... end balance, never below zero
    for x in lines:
        depth += x.strip().startswith("subgraph ")
        depth -= x.strip() == "end"
        assert 0 <= depth <= 1
    assert depth == 0

    subgraphs = [m.groups() for x in lines if (m := SUBGRAPH.match(x))]
    nodes = [m.groups() for x in lines if (m := NODE.match(x))]
    ids = [g[0] for g in subgraphs] + [n[0] for n in nodes]
    assert len(ids) == len(set(ids))
    assert [unmermaid(label) for _id, label in subgraphs] == [shown(s.name) for s in v.stages]
    actions = [a for s in v.stages for _o, g in s.groups() for a in g]
    assert len(nodes) == len(actions)
    for (_id, opening, label, _close), action in zip(nodes, actions, strict=True):
        assert '"' not in label and "\n" not in label
        assert "<" not in label.replace("<br/>", "")
        assert unmermaid(label).split("<br/>")[0] == shown(action.name)
        assert (opening == '{{"') == (action.category == "Approval")

    # Every edge joins known ids: run orders inside a stage, then stage to stage.
    known = set(ids)
    edges = [x.strip() for x in lines if " --> " in x]
    for edge in edges:
        for side in edge.split(" --> "):
            assert set(side.split(" & ")) <= known, edge
    stage_edges = [e for e in edges if e.split(" --> ")[0] in {g[0] for g in subgraphs}]
    assert len(stage_edges) == max(0, len(v.stages) - 1)
    run_edges = len(edges) - len(stage_edges)
    assert run_edges == sum(max(0, len(s.groups()) - 1) for s in v.stages)


def test_mermaid_marks_approvals_and_gated_stages() -> None:
    text = mermaid(WEB_APP)
    (approvals,) = [x for x in text.splitlines() if x.endswith(" approval") and "class " in x]
    assert len(approvals.split()[1].split(",")) == 2
    (gated,) = [x for x in text.splitlines() if x.strip().startswith("class ") and "gated" in x]
    assert gated.split()[1] == "s5_ApproveProd,s6_DeployProd"
    assert (
        "Deploy-333333333333-eu-central-1<br/>CloudFormation<br/>eu-central-1 · 333333333333"
        in (mermaid(MULTI_REGION))
    )


# ---- real renders in headless Chromium -------------------------------------------------------


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and there is no chromium: .ci/run installs Debian's chromium")
        pytest.skip("no chromium here (apt-get install chromium); CI runs these")
    return exe


PAD = 16  # white space between the diagrams of one page


@dataclass(frozen=True)
class Render:
    """One SVG's part of a Chromium screenshot, as RGB rows."""

    width: int
    height: int
    rgb: bytes  # row by row, 3 bytes a pixel

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        i = 3 * (y * self.width + x)
        return self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]

    def pixels(self) -> Iterator[tuple[int, int, int]]:
        rgb = self.rgb
        return zip(rgb[0::3], rgb[1::3], rgb[2::3], strict=True)


def render(svgs: dict[str, str], workdir: Path) -> dict[str, Render]:
    """Renders each SVG as an <img> on one page, in one Chromium run, and cuts the screenshot
    back into one image per SVG. Checks that the screenshot has the page's size."""
    from PIL import Image

    exe = chromium()
    placed: list[tuple[str, int, int, int]] = []  # key, top, width, height
    top = PAD
    imgs = []
    for n, (key, doc) in enumerate(svgs.items()):
        width, height = canvas(parse(doc))
        (workdir / f"d{n}.svg").write_text(doc, encoding="utf-8")
        imgs.append(
            f'<img src="d{n}.svg" width="{width}" height="{height}" '
            f'style="position:absolute;left:{PAD}px;top:{top}px">'
        )
        placed.append((key, top, width, height))
        top += height + PAD
    page_w = max((w for _k, _t, w, _h in placed), default=100) + 2 * PAD
    page_h = top
    (workdir / "page.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "html,body{margin:0;padding:0;background:#fff;overflow:hidden}</style></head><body>"
        + "".join(imgs)
        + "</body></html>",
        encoding="utf-8",
    )
    png = workdir / "page.png"
    profile = workdir / "profile"
    profile.mkdir()
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={page_w},{page_h}",
        (workdir / "page.html").as_uri(),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium took over {CHROMIUM_TIMEOUT} s")
    log = out.decode(errors="replace")[-3000:]
    assert proc.returncode == 0, log
    assert png.is_file(), log
    with Image.open(png) as image:
        assert image.size == (page_w, page_h), log
        rgb = image.convert("RGB")
        result = {}
        for key, top_, width, height in placed:
            crop = rgb.crop((PAD, top_, PAD + width, top_ + height))
            result[key] = Render(width, height, crop.tobytes())
    return result


def near(colour: tuple[int, int, int], hex_colour: str, tolerance: int = 8) -> bool:
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, want, strict=True))


WHITE = "#ffffff"
BLANK_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120" viewBox="0 0 300 120">'
    '<rect width="300" height="120" fill="#ffffff"/></svg>'
)


def check_render(doc: str, image: Render) -> None:
    """The render is not blank, every box is where the SVG says with its own fill, and no text
    spills out of its box (so the width estimate held for the real font)."""
    root = parse(doc)
    assert (image.width, image.height) == canvas(root)
    labels = texts(root)
    chars = sum(len(t) for t in labels)
    non_white = sum(1 for p in image.pixels() if min(p) < 252)
    dark = sum(1 for p in image.pixels() if max(p) < 140)
    assert non_white >= 0.1 * image.width * image.height, (non_white, image.width * image.height)
    assert dark >= 8 * chars, (dark, chars)  # the text is drawn

    # Nothing near the canvas' right or bottom edge: the size covers the content.
    for y in range(image.height):
        for x in range(image.width - 4, image.width):
            assert near(image.at(x, y), WHITE, 2), (x, y)
    for x in range(image.width):
        assert near(image.at(x, image.height - 3), WHITE, 2), x

    stages = rects(root, "stage")
    arrows = [
        int(float(m.group(1)))
        for g in groups_of(root, "arrow")
        for m in [re.search(r'd="M\d+ (\d+)H', ET.tostring(g, encoding="unicode"))]
        if m
    ]
    for box in rects(root, "action") + stages:
        fill = box.attrs["fill"]
        x, y, w, h = int(box.x), int(box.y), int(box.w), int(box.h)
        assert near(image.at(x + 4, y + h // 2), fill), (box.attrs["data-name"], fill)
        # Just right of the box: the stage's fill (inside a stage) or white, bar the arrows.
        outside = WHITE
        if "action" in box.attrs["class"].split():
            outside = stages[int(box.attrs["data-stage-index"])].attrs["fill"]
        for yy in range(y + 2, y + h - 2):
            if any(abs(yy - a) <= 6 for a in arrows):
                continue
            for xx in (x + w + 2, x + w + 3):
                assert near(image.at(xx, yy), outside), (box.attrs["data-name"], xx, yy)


@pytest.fixture(scope="module")
def rendered() -> Iterator[dict[str, Render]]:
    svgs = {key: svg(VIEWS[key]) for key in VIEWS}
    svgs["blank"] = BLANK_SVG
    with tempfile.TemporaryDirectory(prefix="pipegen-diagram-") as tmp:
        yield render(svgs, Path(tmp))


@pytest.mark.parametrize("key", DRAWN)
def test_chromium_draws_the_diagram(key: str, rendered: dict[str, Render]) -> None:
    check_render(svg(VIEWS[key]), rendered[key])


def test_chromium_check_tells_a_blank_image(rendered: dict[str, Render]) -> None:
    with pytest.raises(AssertionError):
        check_render(BLANK_SVG, rendered["blank"])


# Every pipeline folder in output/ with a root.yaml has a committed diagram.
PIPELINES = sorted(p.parent.name for p in OUTPUT.glob("*/root.yaml"))


@pytest.fixture(scope="module")
def committed() -> Iterator[dict[str, Render]]:
    svgs = {
        path.parent.name: path.read_text(encoding="utf-8")
        for path in sorted(OUTPUT.glob("*/pipeline.svg"))
    }
    if not svgs:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="pipegen-diagram-") as tmp:
        yield render(svgs, Path(tmp))


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_chromium_draws_committed_diagram(pipeline: str, committed: dict[str, Render]) -> None:
    path = OUTPUT / pipeline / "pipeline.svg"
    assert path.is_file(), f"output/{pipeline}/pipeline.svg is missing: `make templates` writes it"
    check_render(path.read_text(encoding="utf-8"), committed[pipeline])


def test_there_are_committed_pipelines() -> None:
    assert len(PIPELINES) >= 4
