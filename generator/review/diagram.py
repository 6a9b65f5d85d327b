"""The pipeline diagram, drawn from a PipelineView: an SVG of our own and a Mermaid flowchart.

The SVG is laid out here, with no Graphviz and no external assets: stages are columns from left
to right; inside a stage each run order is a column of its own, its actions stacked one above
the other (they run in parallel), and successive run orders follow left to right. Approval
actions are amber pills labelled "approval", and a stage that holds one is drawn dashed amber.
When the pipeline acts in more than one region or account, every action shows where it runs.

Text is set in a monospace font, so its width is estimated from the number of characters
(East Asian wide characters count twice, combining marks not at all). Every box carries
machine-readable hooks (class, data-name, data-stage-index, ...) for tests and tools. The output
depends on the view alone: the same view always gives the same bytes.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from generator.review.pipeline_view import ActionView, PipelineView, StageView

__all__ = ["mermaid", "mermaid_label", "svg", "text_columns"]

# ---- text ------------------------------------------------------------------------------------

FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace"
FONT_SIZE = 12
CHAR_WIDTH = 0.6 * FONT_SIZE  # the advance of every common monospace font is 0.6 em
LINE_HEIGHT = 16
TITLE_SIZE = 16
TITLE_CHAR_WIDTH = 0.6 * TITLE_SIZE

MAX_NAME_COLUMNS = 40  # longer names are cut with an ellipsis; the full text is in <title>
MAX_DETAIL_COLUMNS = 44
MAX_DESCRIPTION_COLUMNS = 120

ELLIPSIS = "\u2026"
MIDDLE_DOT = "\u00b7"


def _clean(text: str) -> str:
    """`text` with what XML 1.0 can't hold replaced: whitespace controls by a space, the rest
    (other controls, lone surrogates, U+FFFE/U+FFFF) by U+FFFD."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r":
            out.append(" ")
        elif cat in ("Cc", "Cs") or ch in "\ufffe\uffff":
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def _columns(ch: str) -> int:
    """How many monospace cells a character takes: 2 when wide, 0 when it combines."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_columns(text: str) -> int:
    """The width of `text` in monospace cells."""
    return sum(_columns(ch) for ch in text)


def _truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` cells, ending in an ellipsis when it was cut."""
    if text_columns(text) <= limit:
        return text
    kept, used = [], 0
    for ch in text:
        width = _columns(ch)
        if used + width > limit - 1:
            break
        kept.append(ch)
        used += width
    return "".join(kept).rstrip() + ELLIPSIS


def _px(columns: int, char_width: float = CHAR_WIDTH) -> int:
    return math.ceil(columns * char_width)


def _esc(text: str, *, lines: bool = False) -> str:
    """Text for XML character data or a double-quoted attribute value; with `lines`, line
    breaks are kept (in a <title>), else they become spaces."""
    cleaned = "\n".join(_clean(line) for line in text.split("\n")) if lines else _clean(text)
    return (
        cleaned.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


# ---- layout ----------------------------------------------------------------------------------

MARGIN = 20
TITLE_BLOCK = 44  # the pipeline's name and description, above the stages
STAGE_PAD = 12
STAGE_HEADER = 2 * LINE_HEIGHT + 8  # the stage's name and its note line
STAGE_GAP = 44  # between stages: the arrow
GROUP_GAP = 32  # between run orders inside a stage: the arrow
ACTION_GAP = 10  # between parallel actions
ACTION_PAD_X = 10
APPROVAL_PAD_X = ACTION_PAD_X + 8  # clear of the pill's round ends
ACTION_PAD_Y = 8
MIN_ACTION_WIDTH = 120
MIN_STAGE_CONTENT = 60

# Colours: fill, stroke.
BACKGROUND = "#ffffff"
STAGE_COLOURS = ("#f6f8fa", "#8c959f")
GATED_STAGE_COLOURS = ("#fff8e6", "#c9900c")
CATEGORY_FILLS = {
    "Source": "#ddf4ff",
    "Build": "#dafbe1",
    "Test": "#fbefff",
    "Deploy": "#fff1e5",
    "Invoke": "#eef1ff",
}
ACTION_FILL = "#ffffff"
ACTION_STROKE = "#57606a"
APPROVAL_COLOURS = ("#fff3bf", "#b08800")
TEXT = "#1f2328"
MUTED = "#57606a"
ARROW = "#57606a"


def _is_approval(action: ActionView) -> bool:
    return action.category == "Approval"


def _spread(view: PipelineView) -> bool:
    """Whether the pipeline acts in more than one region or in other accounts than its own."""
    actions = [a for s in view.stages for a in s.actions]
    regions = {r for r in (view.region, *view.regions, *(a.region for a in actions)) if r}
    own = {"", "pipeline", view.account}
    foreign = {a for a in (*view.accounts, *(x.account for x in actions)) if a not in own}
    return len(regions) > 1 or bool(foreign)


def _where(action: ActionView) -> str:
    return f"{action.region or '?'} {MIDDLE_DOT} {action.account or 'pipeline'}"


def _action_lines(action: ActionView, spread: bool) -> list[str]:
    """The lines of an action's box: its name, what it is, and where it runs if that varies."""
    detail = "approval" if _is_approval(action) else (action.provider or action.category)
    lines = [action.name, detail]
    if spread:
        lines.append(_where(action))
    return lines


def _stage_note(stage: StageView) -> str:
    notes = []
    if stage.gated:
        notes.append("approval gate")
    if stage.on_failure:
        notes.append(f"on failure: {stage.on_failure.lower()}")
    return f" {MIDDLE_DOT} ".join(notes)


def _tooltip(action: ActionView) -> str:
    lines = [action.name, f"{action.category} {MIDDLE_DOT} {action.provider}"]
    if action.what:
        lines.append(action.what)
    lines.append(f"run order {action.run_order}")
    lines.append(f"runs in {_where(action)}")
    if action.role:
        lines.append(f"role: {action.role}")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class _PlacedAction:
    action: ActionView
    box: _Box
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _PlacedStage:
    index: int
    stage: StageView
    box: _Box
    actions: tuple[_PlacedAction, ...]
    group_boxes: tuple[_Box, ...]  # each run order's column


def _pad_x(action: ActionView) -> int:
    return APPROVAL_PAD_X if _is_approval(action) else ACTION_PAD_X


def _action_size(action: ActionView, lines: Sequence[str]) -> tuple[int, int]:
    columns = max(text_columns(line) for line in lines)
    width = max(MIN_ACTION_WIDTH, _px(columns) + 2 * _pad_x(action))
    return width, len(lines) * LINE_HEIGHT + 2 * ACTION_PAD_Y


def _content_mid(box: _Box) -> int:
    """The height of the middle of a stage's content: where arrows run."""
    return box.y + STAGE_PAD + STAGE_HEADER + (box.height - STAGE_HEADER - 2 * STAGE_PAD) // 2


@dataclass(frozen=True)
class _Column:
    """One run order of a stage, measured: its actions stack, all as wide as the widest."""

    actions: tuple[ActionView, ...]
    lines: tuple[tuple[str, ...], ...]
    heights: tuple[int, ...]
    width: int
    height: int


def _column(actions: tuple[ActionView, ...], spread: bool) -> _Column:
    lines = tuple(
        tuple(
            _truncate(line, MAX_NAME_COLUMNS if i == 0 else MAX_DETAIL_COLUMNS)
            for i, line in enumerate(_action_lines(a, spread))
        )
        for a in actions
    )
    sizes = [_action_size(a, ls) for a, ls in zip(actions, lines, strict=True)]
    return _Column(
        actions,
        lines,
        tuple(h for _w, h in sizes),
        max(w for w, _h in sizes),
        sum(h for _w, h in sizes) + ACTION_GAP * (len(actions) - 1),
    )


def _layout(view: PipelineView) -> tuple[list[_PlacedStage], int, int]:
    """Places every stage and action; returns them with the canvas' width and height."""
    spread = _spread(view)

    # Sizes first: every run order's column, and every stage's content and width.
    columns = [[_column(actions, spread) for _o, actions in s.groups()] for s in view.stages]
    content_widths = [sum(c.width for c in cs) + GROUP_GAP * max(0, len(cs) - 1) for cs in columns]
    content_height = max((c.height for cs in columns for c in cs), default=0)
    stage_height = STAGE_HEADER + content_height + 2 * STAGE_PAD
    top = MARGIN + TITLE_BLOCK

    placed: list[_PlacedStage] = []
    x = MARGIN
    for index, (stage, cs, content_w) in enumerate(
        zip(view.stages, columns, content_widths, strict=True)
    ):
        header_cols = max(
            text_columns(_truncate(stage.name, MAX_NAME_COLUMNS)),
            text_columns(_stage_note(stage)),
        )
        stage_w = max(content_w, _px(header_cols), MIN_STAGE_CONTENT) + 2 * STAGE_PAD
        area_top = top + STAGE_PAD + STAGE_HEADER
        gx = x + STAGE_PAD + (stage_w - 2 * STAGE_PAD - content_w) // 2
        actions: list[_PlacedAction] = []
        group_boxes: list[_Box] = []
        for c in cs:
            gy = area_top + (content_height - c.height) // 2
            group_boxes.append(_Box(gx, gy, c.width, c.height))
            y = gy
            for action, ls, h in zip(c.actions, c.lines, c.heights, strict=True):
                actions.append(_PlacedAction(action, _Box(gx, y, c.width, h), ls))
                y += h + ACTION_GAP
            gx += c.width + GROUP_GAP
        box = _Box(x, top, stage_w, stage_height)
        placed.append(_PlacedStage(index, stage, box, tuple(actions), tuple(group_boxes)))
        x += stage_w + STAGE_GAP

    stages_right = x - STAGE_GAP if placed else MARGIN
    title_w = max(
        _px(text_columns(_truncate(view.name, MAX_DESCRIPTION_COLUMNS)), TITLE_CHAR_WIDTH),
        _px(text_columns(_truncate(view.description, MAX_DESCRIPTION_COLUMNS))),
    )
    width = max(stages_right, MARGIN + title_w) + MARGIN
    height = top + (stage_height if placed else 0) + MARGIN
    return placed, width, height


# ---- SVG -------------------------------------------------------------------------------------


def _text(x: int, y: int, text: str, *, cls: str, size: int = FONT_SIZE, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text class="{cls}" x="{x}" y="{y}" font-size="{size}"{extra}>{_esc(text)}</text>'


def _arrow(x1: int, x2: int, y: int, cls: str, src: str, dst: str) -> str:
    head = 7
    return (
        f'<g class="{cls}" data-from="{src}" data-to="{dst}">'
        f'<path d="M{x1} {y}H{x2 - head}" stroke="{ARROW}" stroke-width="1.5" fill="none"/>'
        f'<path d="M{x2} {y}l-{head} -4v8z" fill="{ARROW}"/></g>'
    )


def svg(view: PipelineView) -> str:
    """The pipeline as a standalone SVG document: stages left to right, actions as boxes."""
    placed, width, height = _layout(view)
    spread = _spread(view)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT_FAMILY}" role="img" '
        f'class="pipeline" data-name="{_esc(view.name)}" data-shows-where="{str(spread).lower()}">',
        f"<title>{_esc(f'Pipeline {view.name}')}</title>",
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" '
        f'fill="{BACKGROUND}"/>',
        _text(
            MARGIN,
            MARGIN + TITLE_SIZE,
            _truncate(view.name, MAX_DESCRIPTION_COLUMNS),
            cls="pipeline-name",
            size=TITLE_SIZE,
            font_weight="bold",
            fill=TEXT,
        ),
    ]
    if view.description:
        out.append(
            _text(
                MARGIN,
                MARGIN + TITLE_SIZE + LINE_HEIGHT + 2,
                _truncate(view.description, MAX_DESCRIPTION_COLUMNS),
                cls="pipeline-description",
                fill=MUTED,
            )
        )

    for ps in placed:
        out.extend(_stage_svg(ps))

    # Arrows from stage to stage, level with the middle of the stages' content.
    for before, after in itertools.pairwise(placed):
        out.append(
            _arrow(
                before.box.x + before.box.width + 3,
                after.box.x - 3,
                _content_mid(before.box),
                "arrow stage-arrow",
                str(before.index),
                str(after.index),
            )
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _stage_svg(ps: _PlacedStage) -> list[str]:
    stage, box = ps.stage, ps.box
    fill, stroke = GATED_STAGE_COLOURS if stage.gated else STAGE_COLOURS
    dash = ' stroke-dasharray="6 4"' if stage.gated else ""
    classes = "stage gated" if stage.gated else "stage"
    out = [
        f'<g class="stage-group" data-index="{ps.index}">',
        f"<title>{_esc(stage.name)}</title>",
        f'<rect class="{classes}" data-name="{_esc(stage.name)}" data-index="{ps.index}" '
        f'data-gated="{str(stage.gated).lower()}" x="{box.x}" y="{box.y}" width="{box.width}" '
        f'height="{box.height}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>',
        _text(
            box.x + STAGE_PAD,
            box.y + STAGE_PAD + FONT_SIZE,
            _truncate(stage.name, MAX_NAME_COLUMNS),
            cls="stage-name",
            font_weight="bold",
            fill=TEXT,
        ),
    ]
    note = _stage_note(stage)
    if note:
        out.append(
            _text(
                box.x + STAGE_PAD,
                box.y + STAGE_PAD + FONT_SIZE + LINE_HEIGHT,
                note,
                cls="stage-note",
                fill=MUTED,
            )
        )
    out.append("</g>")
    for pa in ps.actions:
        out.extend(_action_svg(ps.index, stage.name, pa))
    # Arrows between successive run orders, level with the middle of the stage's content.
    groups = ps.group_boxes
    for n, (left, right) in enumerate(itertools.pairwise(groups)):
        out.append(
            _arrow(
                left.x + left.width + 4,
                right.x - 4,
                _content_mid(box),
                "arrow run-order-arrow",
                f"{ps.index}.{n}",
                f"{ps.index}.{n + 1}",
            )
        )
    return out


def _action_svg(stage_index: int, stage_name: str, pa: _PlacedAction) -> list[str]:
    action, box = pa.action, pa.box
    approval = _is_approval(action)
    if approval:
        fill, stroke = APPROVAL_COLOURS
        shape = f' rx="{box.height // 2}" stroke-dasharray="5 3"'
        classes = "action approval"
    else:
        fill, stroke = CATEGORY_FILLS.get(action.category, ACTION_FILL), ACTION_STROKE
        shape = ' rx="6"'
        classes = "action"
    out = [
        f'<g class="action-group" data-stage-index="{stage_index}">',
        f"<title>{_esc(_tooltip(action), lines=True)}</title>",
        f'<rect class="{classes}" data-name="{_esc(action.name)}" '
        f'data-stage="{_esc(stage_name)}" data-stage-index="{stage_index}" '
        f'data-category="{_esc(action.category)}" data-run-order="{action.run_order}" '
        f'data-region="{_esc(action.region)}" data-account="{_esc(action.account)}" '
        f'x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"{shape}/>',
    ]
    tx = box.x + _pad_x(action)
    for i, line in enumerate(pa.lines):
        y = box.y + ACTION_PAD_Y + FONT_SIZE + i * LINE_HEIGHT
        if i == 0:
            out.append(_text(tx, y, line, cls="action-name", font_weight="bold", fill=TEXT))
        else:
            cls = "action-where" if i == 2 else "action-detail"
            out.append(_text(tx, y, line, cls=cls, fill=MUTED))
    out.append("</g>")
    return out


# ---- Mermaid ---------------------------------------------------------------------------------

_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
}


def mermaid_label(text: str) -> str:
    """`text` safe inside a double-quoted Mermaid label: every character Mermaid would read
    (quotes, markup, entity starts, backticks) as its entity code; line breaks as spaces."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in _clean(text))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:24]


def _stage_id(index: int, stage: StageView) -> str:
    slug = _slug(stage.name)
    return f"s{index}_{slug}" if slug else f"s{index}"


def _action_id(stage_index: int, action_index: int, action: ActionView) -> str:
    slug = _slug(action.name)
    base = f"s{stage_index}a{action_index}"
    return f"{base}_{slug}" if slug else base


def mermaid(view: PipelineView) -> str:
    """The pipeline as a Mermaid `flowchart LR`: a subgraph per stage, a node per action, an
    edge from each run order to the next inside a stage and from each stage to the next."""
    spread = _spread(view)
    lines = ["flowchart LR"]
    stage_ids: list[str] = []
    approvals: list[str] = []
    gated: list[str] = []
    for si, stage in enumerate(view.stages):
        sid = _stage_id(si, stage)
        stage_ids.append(sid)
        if stage.gated:
            gated.append(sid)
        lines.append(f'  subgraph {sid}["{mermaid_label(stage.name)}"]')
        # Run orders left to right, parallel actions stacked: Mermaid keeps a subgraph's own
        # direction while no edge crosses its border (stages are joined subgraph to subgraph).
        lines.append("    direction LR")
        # Nodes by run order (as StageView.groups), so the text reads in the stage's order.
        indexed = list(enumerate(stage.actions))
        groups = [
            [(ai, a) for ai, a in indexed if a.run_order == order]
            for order in sorted({a.run_order for a in stage.actions})
        ]
        for group in groups:
            for ai, action in group:
                aid = _action_id(si, ai, action)
                label = "<br/>".join(mermaid_label(x) for x in _action_lines(action, spread))
                if _is_approval(action):
                    approvals.append(aid)
                    lines.append(f'    {aid}{{{{"{label}"}}}}')
                else:
                    lines.append(f'    {aid}["{label}"]')
        for first, then in itertools.pairwise(groups):
            src = " & ".join(_action_id(si, ai, a) for ai, a in first)
            dst = " & ".join(_action_id(si, ai, a) for ai, a in then)
            lines.append(f"    {src} --> {dst}")
        lines.append("  end")
    for before, after in itertools.pairwise(stage_ids):
        lines.append(f"  {before} --> {after}")
    fill, stroke = APPROVAL_COLOURS
    lines.append(f"  classDef approval fill:{fill},stroke:{stroke},stroke-dasharray:5 3")
    fill, stroke = GATED_STAGE_COLOURS
    lines.append(f"  classDef gated fill:{fill},stroke:{stroke},stroke-dasharray:6 4")
    if approvals:
        lines.append(f"  class {','.join(approvals)} approval")
    if gated:
        lines.append(f"  class {','.join(gated)} gated")
    return "\n".join(lines) + "\n"
