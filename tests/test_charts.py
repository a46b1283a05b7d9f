"""Charts (simgen.report.png: a study's PNG results charts; simgen.report.svg: the HTML reports'
plots), drawn with matplotlib: the data each chart carries, read back from its Figure (bar
heights, whiskers, seed dots, line points, ticks, titles, legends, "n/a" marks), files that are
valid PNG / SVG of the stated size, the same bytes for the same input, nothing outside the
picture, one clear error for bad input, the study's chart writing with made-up results, and
what happens without matplotlib: one warning naming the extra, no chart, no failure."""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from simgen import SimgenError
from simgen.report import mpl, svg
from simgen.report.png import PALETTE, bar_chart, bar_figure, line_chart, line_figure, nice_max

from matplotlib.backends.backend_agg import FigureCanvasAgg  # the report extra, in .[test]
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.text import Text  # noqa: E402


def bars(fig) -> dict[str, list[tuple[float, float]]]:
    """Series name -> [(bar centre x, height)] of a bar chart, left to right."""
    ax = fig.axes[0]
    return {c.get_label(): sorted((p.get_x() + p.get_width() / 2, p.get_height()) for p in c.patches)
            for c in ax.containers if isinstance(c, BarContainer)}


def bar_colours(fig) -> dict[str, set[str]]:
    return {c.get_label(): {to_hex(p.get_facecolor()) for p in c.patches}
            for c in fig.axes[0].containers if isinstance(c, BarContainer)}


def whiskers(fig) -> list[tuple[float, float, float]]:
    """(x, low, high) of every min..max whisker, sorted."""
    out = []
    for c in fig.axes[0].containers:
        if isinstance(c, ErrorbarContainer):
            for seg in c.lines[2][0].get_segments():
                (x0, y0), (x1, y1) = seg
                assert x0 == pytest.approx(x1)
                out.append((float(x0), float(min(y0, y1)), float(max(y0, y1))))
    return sorted(out)


def dots(fig) -> list[tuple[float, float]]:
    ax = fig.axes[0]
    return sorted(tuple(map(float, p)) for c in ax.collections if isinstance(c, PathCollection)
                  for p in c.get_offsets())


def texts(fig, s: str) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text() == s]


def tick_labels(ax, axis: str = "x") -> list[str]:
    return [t.get_text() for t in (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())]


def drawn(fig):
    """The figure laid out and drawn by Agg; returns its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def assert_inside(fig) -> None:
    """Every piece of text lies within the picture (nothing clipped at its edges)."""
    r = drawn(fig)
    w, h = fig.bbox.width, fig.bbox.height
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            bb = t.get_window_extent(r)
            assert bb.x0 >= -1 and bb.y0 >= -1 and bb.x1 <= w + 1 and bb.y1 <= h + 1, (t.get_text()[:40], bb, w, h)


def png_size(p) -> tuple[int, int]:
    with Image.open(p) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


# --------------------------------------------------------------------------- bar chart

def test_bar_heights_labels_title_and_file(tmp_path):
    fig = bar_figure(["a", "b"], ["only"], [[[0.25]], [[0.5]]], title="AP per arm", ylabel="AP", ymax=1)
    got = bars(fig)
    assert list(got) == ["only"]
    (xa, ha), (xb, hb) = got["only"]
    assert (ha, hb) == (0.25, 0.5) and xa == pytest.approx(0) and xb == pytest.approx(1)
    ax = fig.axes[0]
    assert tick_labels(ax) == ["a", "b"] and ax.get_ylim() == (0, 1)
    assert fig.get_suptitle() == "AP per arm" and ax.get_ylabel() == "AP"
    assert ax.get_legend() is None                     # one series: no legend
    assert "single seed" in fig.get_supxlabel()
    p = bar_chart(tmp_path / "sub" / "b.png", ["a", "b"], ["only"], [[[0.25]], [[0.5]]], title="AP per arm",
                  ylabel="AP", ymax=1)
    assert p == tmp_path / "sub" / "b.png" and png_size(p) == (800, 480)
    # the file is the figure: the bar at b is twice as tall as the bar at a, in the series' colour
    img = np.asarray(Image.open(p).convert("RGB")).astype(int)
    blue = np.all(np.abs(img - np.array([0, 114, 178])) < 3, axis=-1)
    cols = np.flatnonzero(blue.any(axis=0))
    cut = np.flatnonzero(np.diff(cols) > 1)
    assert cut.size == 1                               # two bars, nothing else of that colour
    left, right = cols[:cut[0] + 1], cols[cut[0] + 1:]
    tall = [int(blue[:, c[len(c) // 4]].sum()) for c in (left, right)]   # off the centre's seed dot
    assert tall[1] == pytest.approx(2 * tall[0], abs=3), tall


def test_whisker_spans_min_to_max_and_each_seed_has_a_dot():
    fig = bar_figure(["a"], ["s"], [[[0.2, 0.4, 0.6]]], title="t", ylabel="AP", ymax=1.0)
    (x, h), = bars(fig)["s"]
    assert h == pytest.approx(0.4)                    # the mean
    (wx, lo, hi), = whiskers(fig)
    assert (wx, lo, hi) == pytest.approx((x, 0.2, 0.6))
    d = dots(fig)
    assert [y for _, y in d] == pytest.approx([0.2, 0.4, 0.6])
    xs = [px for px, _ in d]
    assert xs[0] < xs[1] < xs[2] and xs[1] == pytest.approx(x)   # spread across the bar, in its middle
    patch = fig.axes[0].containers[0].patches[0]
    assert patch.get_x() < xs[0] and xs[2] < patch.get_x() + patch.get_width()
    assert texts(fig, "0.4")                           # the mean over the bar
    assert "whiskers: min-max over 3 seeds; dots: each seed" in fig.get_supxlabel()


def test_each_series_its_colour_place_and_legend_entry():
    groups, series = ["g1", "g2"], ["s0", "s1", "s2"]
    vals = [[[0.2, 0.25], [0.3, 0.35], [0.4, 0.45]], [[0.5, 0.45], [0.35, 0.3], [0.6, 0.55]]]
    fig = bar_figure(groups, series, vals, title="t", ylabel="AP", ymax=1)
    got = bars(fig)
    assert list(got) == series
    assert bar_colours(fig) == {s: {PALETTE[i]} for i, s in enumerate(series)}
    for g in range(2):                                 # within a group: s0 | s1 | s2, left to right
        xs = [got[s][g][0] for s in series]
        assert xs == sorted(xs) and g - 0.5 < xs[0] and xs[-1] < g + 0.5
    for s, want in zip(series, ([0.225, 0.475], [0.325, 0.325], [0.425, 0.575])):
        assert [h for _, h in got[s]] == pytest.approx(want)
    assert len(whiskers(fig)) == 6 and len(dots(fig)) == 12
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == series
    assert [to_hex(h.get_facecolor()) for h in legend.legend_handles] == list(PALETTE[:3])


def test_minus_one_and_empty_give_no_bar_but_na(tmp_path):
    vals = [[[0.5], [-1.0, -1.0]], [[0.5], [0.5]]]
    fig = bar_figure(["a", "b"], ["s1", "s2"], vals, title="t", ylabel="AP", ymax=1)
    got = bars(fig)
    assert len(got["s1"]) == 2 and len(got["s2"]) == 1       # only group b has an s2 bar
    na = texts(fig, "n/a")
    assert len(na) == 1
    x_a_s2 = got["s2"][0][0] - 1                               # where group a's s2 bar would be
    assert na[0].get_position() == pytest.approx((x_a_s2, 0))
    assert "n/a: no value" in fig.get_supxlabel()
    # a group without any value gets one "n/a" in its middle
    fig = bar_figure(["a", "b"], ["s1", "s2"], [[[-1], []], [[0.5], [0.5]]], title="t", ylabel="AP", ymax=1)
    na = texts(fig, "n/a")
    assert len(na) == 1 and na[0].get_position() == pytest.approx((0, 0))
    # an empty list and NaN mean the same as -1: the same picture
    args = dict(title="t", ylabel="AP", ymax=1)
    p = bar_chart(tmp_path / "b.png", ["a", "b"], ["s1", "s2"], vals, **args)
    q = bar_chart(tmp_path / "c.png", ["a", "b"], ["s1", "s2"], [[[0.5], []], [[0.5], [0.5]]], **args)
    r = bar_chart(tmp_path / "d.png", ["a", "b"], ["s1", "s2"], [[[0.5], [math.nan]], [[0.5], [0.5]]], **args)
    assert p.read_bytes() == q.read_bytes() == r.read_bytes()
    t = bar_chart(tmp_path / "e.png", ["a", "b"], ["s1", "s2"], [[[0.5], [0.0]], [[0.5], [0.5]]], **args)
    assert t.read_bytes() != p.read_bytes()                   # a real 0 is not "no value"


def test_default_ymax_is_a_nice_number_above_the_largest_seed():
    fig = bar_figure(["a"], ["s"], [[[0.30, 0.37]]], title="t", ylabel="AP")
    assert fig.axes[0].get_ylim() == pytest.approx((0, 0.4))
    assert bars(fig)["s"][0][1] == pytest.approx(0.335)
    assert [nice_max(v) for v in (0.37, 0.92, 1.0, 0.0, -1, 0.051, 12, 0.62, 0.8)] == \
        [0.4, 1.0, 1.0, 1.0, 1.0, 0.06, 12, 0.8, 0.8]


def test_values_above_ymax_are_cut_and_said_so():
    fig = bar_figure(["g"], ["s"], [[[0.5, 1.5]]], title="t", ylabel="y", ymax=1)
    assert fig.axes[0].get_ylim() == (0, 1) and bars(fig)["s"][0][1] == pytest.approx(1.0)
    assert "values above 1 are cut at the top" in fig.get_supxlabel()
    fig = bar_figure(["g"], ["s"], [[[0.5, 0.9]]], title="t", ylabel="y", ymax=1)
    assert "cut" not in fig.get_supxlabel()


def test_same_input_same_bytes(tmp_path):
    args = (["AP", "AP50", "AP75"], ["none", "texture", "lighting", "full"],
            [[[0.3 + 0.01 * s + 0.1 * g, 0.32 + 0.1 * g] for s in range(4)] for g in range(3)])
    a = bar_chart(tmp_path / "a.png", *args, title="AP per arm", ylabel="AP")
    b = bar_chart(tmp_path / "sub" / "b.png", *args, title="AP per arm", ylabel="AP")
    assert a.read_bytes() == b.read_bytes()
    assert os.path.getsize(a) < 60_000
    series = {"none": [(16, [0.1, 0.12]), (32, [0.2, 0.21])], "dr": [(16, [0.2]), (32, [0.3, 0.33])]}
    c = line_chart(tmp_path / "c.png", series, title="t", xlabel="frames", ylabel="AP", log_x=True)
    d = line_chart(tmp_path / "d.png", series, title="t", xlabel="frames", ylabel="AP", log_x=True)
    assert c.read_bytes() == d.read_bytes() and png_size(c) == (800, 480) and os.path.getsize(c) < 60_000
    assert sorted(os.listdir(tmp_path)) == ["a.png", "c.png", "d.png", "sub"]  # no temp files left


def test_long_title_and_labels_stay_inside_and_apart(tmp_path):
    groups = [f"category_with_a_rather_long_name_number_{i:02d}" for i in range(60)]
    series = ["none", "texture", "lighting", "full domain randomization"]
    vals = [[[0.1 + 0.01 * s, 0.2] for s in range(4)] for _ in groups]
    title = "A very long title " * 20
    fig = bar_figure(groups, series, vals, title=title, ylabel="AP", ymax=1)
    w, h = fig.bbox.width, fig.bbox.height
    assert w > 800 and h > 480                         # wider for 60 x 4 bars, taller for upright labels
    assert len(fig.get_suptitle().splitlines()) >= 2   # wrapped
    labels = fig.axes[0].get_xticklabels()
    assert len(labels) == 60 and all(t.get_rotation() == 90 for t in labels)
    names = [t.get_text() for t in labels]
    assert len(set(names)) == 60 and all(len(n) <= 28 for n in names)   # shortened in the middle, still apart
    assert names[7].endswith("_07")
    assert_inside(fig)
    r = drawn(fig)
    boxes = [t.get_window_extent(r) for t in labels]
    assert all(a.x1 <= b.x0 + 0.5 for a, b in zip(boxes, boxes[1:]))   # side by side, not overlapping
    p = bar_chart(tmp_path / "b.png", groups, series, vals, title=title, ylabel="AP", ymax=1)
    assert png_size(p) == (round(w), round(h))


def test_short_labels_stay_horizontal():
    fig = bar_figure(["AP", "AP50"], ["a", "b"], [[[0.5], [0.6]], [[0.7], [0.8]]], title="t", ylabel="AP", ymax=1)
    assert all(t.get_rotation() == 0 for t in fig.axes[0].get_xticklabels())
    assert fig.bbox.width == 800


# --------------------------------------------------------------------------- line chart

def lines(fig) -> dict[str, tuple[list[float], list[float]]]:
    return {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in fig.axes[0].get_lines()
            if not ln.get_label().startswith("_")}


def test_line_points_are_the_means_at_their_x():
    s = {"arm": [(32, [0.6]), (16, [0.2]), (64, [0.4])]}     # given out of order
    fig = line_figure(s, title="AP against frames", xlabel="frames", ylabel="AP", ymax=1.0)
    assert lines(fig) == {"arm": ([16, 32, 64], pytest.approx([0.2, 0.6, 0.4]))}
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [16, 32, 64] and tick_labels(ax) == ["16", "32", "64"]
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "frames" and ax.get_ylim() == (0, 1)
    assert fig.get_suptitle() == "AP against frames"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["arm"]
    drawn(fig)                                         # linear x: 16 -> 32 is half as far as 32 -> 64
    px = [ax.transData.transform((x, 0))[0] for x in (16, 32, 64)]
    assert px[2] - px[1] == pytest.approx(2 * (px[1] - px[0]), abs=0.5)


def test_log_x_spaces_doubling_sizes_evenly():
    s = {"arm": [(16, [0.2]), (32, [0.3]), (64, [0.4]), (128, [0.5])]}
    fig = line_figure(s, title="t", xlabel="frames", ylabel="AP", log_x=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "frames (log scale)"
    assert tick_labels(ax) == ["16", "32", "64", "128"]
    drawn(fig)
    gaps = np.diff([ax.transData.transform((x, 0))[0] for x in (16, 32, 64, 128)])
    assert gaps.max() - gaps.min() < 0.5, gaps
    lo, hi = ax.get_xlim()
    assert lo < 16 and hi > 128                        # the first and last points are not at the edge


def test_line_whiskers_span_the_seeds():
    s = {"arm": [(1, [0.2, 0.4, 0.6]), (2, [0.5])]}
    fig = line_figure(s, title="t", xlabel="x", ylabel="AP", ymax=1.0)
    assert lines(fig)["arm"][1] == pytest.approx([0.4, 0.5])
    assert whiskers(fig) == [pytest.approx((1, 0.2, 0.6))]   # none for the single seed at x = 2


def test_line_series_colours_markers_and_missing_points():
    s = {"a": [(1, [0.2]), (2, [0.3]), (3, [0.4])], "b": [(1, [0.5]), (2, [-1]), (3, [0.7])]}
    fig = line_figure(s, title="t", xlabel="x", ylabel="AP", ymax=1.0)
    got = lines(fig)
    assert got["a"][1] == pytest.approx([0.2, 0.3, 0.4])
    ya = got["b"][1]
    assert ya[0] == pytest.approx(0.5) and math.isnan(ya[1]) and ya[2] == pytest.approx(0.7)   # a gap at x = 2
    ln = {x.get_label(): x for x in fig.axes[0].get_lines()}
    assert to_hex(ln["a"].get_color()) == PALETTE[0] and to_hex(ln["b"].get_color()) == PALETTE[1]
    assert ln["a"].get_marker() != ln["b"].get_marker()
    assert "left out" in fig.get_supxlabel()
    # shared x values: the two series are drawn a few points apart
    drawn(fig)
    xa = ln["a"].get_transform().transform((1, 0.5))[0]
    xb = ln["b"].get_transform().transform((1, 0.5))[0]
    assert 2 <= abs(xa - xb) <= 10


def test_a_title_without_spaces_is_broken_not_clipped():
    fig = line_figure({"a": [(1, [0.5])]}, title="T" * 300, xlabel="x" * 200, ylabel="y" * 200, ymax=1)
    assert len(fig.get_suptitle().splitlines()) >= 3
    assert_inside(fig)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, words", [
    (lambda p: bar_chart(p, [], ["s"], [], title="t", ylabel="y"), "nothing to draw"),
    (lambda p: bar_chart(p, ["g"], [], [[]], title="t", ylabel="y"), "nothing to draw"),
    (lambda p: bar_chart(p, ["g", "h"], ["s"], [[[0.1]]], title="t", ylabel="y"), "one list per group"),
    (lambda p: bar_chart(p, ["g"], ["s", "u"], [[[0.1]]], title="t", ylabel="y"), "per series"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[["x"]]], title="t", ylabel="y"), "list of numbers"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[math.inf]]], title="t", ylabel="y"), "infinite"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[0.1]]], title="t", ylabel="y", ymax=0), "ymax"),
    (lambda p: bar_chart(p, ["g"], ["s"], [[[0.1]]], title="t", ylabel="y", ymax=math.nan), "ymax"),
    (lambda p: bar_chart(p, ["g", "g"], ["s"], [[[0.1]], [[0.2]]], title="t", ylabel="y"), "distinct"),
    (lambda p: bar_chart(p, ["g"], [f"s{i}" for i in range(17)], [[[0.1]] * 17], title="t", ylabel="y"), "colours"),
    (lambda p: line_chart(p, {}, title="t", xlabel="x", ylabel="y"), "nothing to draw"),
    (lambda p: line_chart(p, {"a": []}, title="t", xlabel="x", ylabel="y"), "nothing to draw"),
    (lambda p: line_chart(p, {"a": [(0, [0.1])]}, title="t", xlabel="x", ylabel="y", log_x=True), "> 0"),
    (lambda p: line_chart(p, {"a": [(1, [0.1]), (1, [0.2])]}, title="t", xlabel="x", ylabel="y"), "repeats"),
    (lambda p: line_chart(p, {"a": [(math.nan, [0.1])]}, title="t", xlabel="x", ylabel="y"), "finite"),
    (lambda p: line_chart(p, {"a": [0.1, 0.2]}, title="t", xlabel="x", ylabel="y"), "pair"),
    (lambda p: line_chart(p, [("a", [(1, [0.1])])], title="t", xlabel="x", ylabel="y"), "dict"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, call, words):
    p = tmp_path / "x.png"
    with pytest.raises(SimgenError, match=words) as e:
        call(p)
    assert "x.png" in str(e.value) or "ymax" in str(e.value)
    assert not list(tmp_path.iterdir())


def test_unwritable_destination_is_a_simgen_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SimgenError, match="cannot write chart"):
        bar_chart(tmp_path / "file" / "x.png", ["g"], ["s"], [[[0.1]]], title="t", ylabel="y")


# --------------------------------------------------------------------------- the HTML reports' plots

def decode_img(html: str) -> tuple[dict[str, str], str]:
    """The attributes of an <img class="plot"> element and the SVG document of its data: URI."""
    m = re.fullmatch(r'<img class="plot" ([^>]*)>', html)
    assert m, html[:200]
    attrs = dict(re.findall(r'([a-z]+)="([^"]*)"', m.group(1)))
    prefix = "data:image/svg+xml;base64,"
    assert attrs["src"].startswith(prefix)
    return attrs, base64.b64decode(attrs["src"][len(prefix):]).decode()


def check_svg(doc: str) -> ET.Element:
    """A standalone SVG of the plot size that refers to nothing outside itself."""
    root = ET.fromstring(doc)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # matplotlib gives the size in pt (3/4 of a CSS pixel)
    assert root.get("width") == f"{svg.WIDTH * 0.75:g}pt" and root.get("height") == f"{svg.HEIGHT * 0.75:g}pt"
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.endswith("href"):
                assert v.startswith("#"), (k, v)
            assert "url(" not in v or re.fullmatch(r".*url\(#[\w-]+\).*", v), v
    return root


def test_report_bar_chart_carries_its_counts():
    names, counts = ["cube", "ball", "cone"], [12, 0, 7]
    colours = [svg.WARN if n == 0 else svg.COLOR for n in counts]
    fig = svg.bar_figure("Annotations per category", names, counts, "category", "annotations", colours)
    (c,) = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    assert [p.get_height() for p in c.patches] == counts
    assert [to_hex(p.get_facecolor()) for p in c.patches] == [svg.COLOR, svg.WARN, svg.COLOR]
    assert tick_labels(fig.axes[0]) == names and fig.axes[0].get_title() == "Annotations per category"
    assert [t.get_text() for t in fig.axes[0].texts] == ["12", "0", "7"]    # the value over each bar
    html = svg.bar_chart("Annotations per category", names, counts, "category", "annotations", colours)
    attrs, doc = decode_img(html)
    assert attrs["alt"] == attrs["title"] == "Annotations per category (annotations): cube: 12; ball: 0; cone: 7"
    assert (attrs["width"], attrs["height"]) == (str(svg.WIDTH), str(svg.HEIGHT))
    root = check_svg(doc)
    shown = {el.text for el in root.iter("{http://www.w3.org/2000/svg}text")}   # text stays text
    assert {"Annotations per category", "cube", "ball", "cone", "12", "7"} <= shown
    assert html == svg.bar_chart("Annotations per category", names, counts, "category", "annotations", colours)
    assert svg.bar_figure("empty", [], []) is not None    # a dataset without categories still gets its plot


def test_report_histogram_bins_scale_and_mark():
    edges, counts = [1.0, 10.0, 100.0, 1000.0], [3, 0, 5]
    fig = svg.histogram_figure("Box size", edges, counts, "px", "boxes", mark=50.0, log_x=True)
    ax = fig.axes[0]
    (c,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [(p.get_x(), p.get_x() + p.get_width(), p.get_height()) for p in c.patches] == \
        [pytest.approx((a, b, n)) for a, b, n in zip(edges[:-1], edges[1:], counts)]
    assert ax.get_xscale() == "log" and ax.get_xlim() == pytest.approx((1, 1000))
    (mark,) = [ln for ln in ax.get_lines()]
    assert list(mark.get_xdata()) == [50.0, 50.0] and to_hex(mark.get_color()) == svg.WARN
    assert not svg.histogram_figure("x", edges, counts, mark=5000.0).axes[0].get_lines()   # off the axis: no line
    attrs, doc = decode_img(svg.histogram("Box size", edges, counts, "px", "boxes", mark=50.0, log_x=True))
    assert attrs["alt"] == "Box size (boxes): 1..10: 3; 10..100: 0; 100..1000: 5"
    check_svg(doc)


def test_report_pair_plots_carry_both_datasets():
    a, b = [0.5, 0.25, 0.25], [0.1, 0.2, 0.7]
    fig = svg.pair_bars_figure("colour red", ["0", "8", "16"], a, b, xlabel="red", names=("run1", "real"))
    cs = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in cs] == ["run1", "real"]
    assert [[p.get_height() for p in c.patches] for c in cs] == [a, b]
    assert [to_hex(c.patches[0].get_facecolor()) for c in cs] == list(svg.SERIES)
    assert all(pa.get_x() < pb.get_x() for pa, pb in zip(cs[0].patches, cs[1].patches))   # A left of B
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["run1", "real"]
    attrs, doc = decode_img(svg.pair_bars("colour red", ["0", "8", "16"], a, b, xlabel="red"))
    assert attrs["alt"] == "colour red (share, A / B): 0: 0.5 / 0.1; 8: 0.25 / 0.2; 16: 0.25 / 0.7"
    check_svg(doc)
    xs = [0.1, 0.2, 0.3]
    fig = svg.pair_lines_figure("power spectrum", xs, [-1, -2, -3], [-1.5, -2.5, -2], ylabel="log10 share")
    got = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in fig.axes[0].get_lines()}
    assert got == {"A": (xs, [-1, -2, -3]), "B": (xs, [-1.5, -2.5, -2])}
    check_svg(decode_img(svg.pair_lines("power spectrum", xs, [-1, -2, -3], [-1.5, -2.5, -2]))[1])


# --------------------------------------------------------------------------- the study's charts

def fake_results(sizes=(16, 32), seeds=(0, 1, 2)) -> dict:
    arms, cats = ["narrow", "wide"], ["cube", "ball"]
    runs = []
    for n in sizes:
        for a, arm in enumerate(arms):
            for s in seeds:
                ap = 0.1 + 0.05 * a + 0.001 * n + 0.01 * s
                runs.append({"arm": arm, "frames": n, "real_images": 0, "seed": s, "AP": ap, "AP50": ap + 0.2,
                             "AP75": ap / 2, "per_category": {"cube": ap + 0.05, "ball": None if s == 0 else ap},
                             "train_seconds": 1.0, "render_seconds": 2.0, "device": "cpu"})
    spread = lambda v: {"mean": float(np.mean(v)), "std": float(np.std(v)), "min": min(v), "max": max(v), "n": len(v)}
    summary = [{"arm": arm, "frames": n, "real_images": 0, "train_seconds": 1.0,
                **{k: spread([r[k] for r in runs if r["arm"] == arm and r["frames"] == n])
                   for k in ("AP", "AP50", "AP75")}} for n in sizes for arm in arms]
    return {"study": "fake", "target": "/t", "headline": "wide helped most", "runs": runs, "summary": summary,
            "datasets": [{"name": a, "frames": max(sizes), "seconds": 1.0, "reused": False} for a in arms]}


def test_the_study_writes_its_charts(tmp_path, monkeypatch):
    from simgen.experiment.runner import plot, write_outputs
    from simgen.report import png

    calls: dict[str, tuple] = {}
    for name in ("bar_chart", "line_chart"):
        real = getattr(png, name)
        monkeypatch.setattr(png, name, lambda path, *a, _real=real, **k: calls.update({path.name: (a, k)})
                            or _real(path, *a, **k))
    results = fake_results()
    write_outputs(tmp_path, results)
    summary = (tmp_path / "summary.md").read_text()
    for name in ("ap_per_arm.png", "learning_curve.png", "ap_per_category.png"):
        w, h = png_size(tmp_path / name)
        assert w >= 800 and h >= 480 and f"]({name})" in summary
    runs = results["runs"]
    ap = lambda arm, n: [r["AP"] for r in runs if r["arm"] == arm and r["frames"] == n]
    (groups, series, values), kw = calls["ap_per_arm.png"]
    assert groups == ["narrow", "wide"] and series == ["AP"] and values == [[ap("narrow", 32)], [ap("wide", 32)]]
    assert "32 training frames, 3 seeds" in kw["title"]
    (curves,), kw = calls["learning_curve.png"]
    assert curves == {a: [(16, ap(a, 16)), (32, ap(a, 32))] for a in ("narrow", "wide")} and kw["log_x"]
    (cats, arms, values), _ = calls["ap_per_category.png"]
    assert cats == ["ball", "cube"] and arms == ["narrow", "wide"]
    assert values[0] == [[r["per_category"]["ball"] for r in runs if r["arm"] == a and r["frames"] == 32
                          and r["seed"] > 0] for a in arms]                          # None (no ground truth) left out
    # one size: no learning curve
    assert plot(tmp_path / "again", fake_results(sizes=(32,))) == ["ap_per_arm.png", "ap_per_category.png"]


# --------------------------------------------------------------------------- without matplotlib

def test_without_matplotlib_one_warning_and_no_chart(tmp_path, no_matplotlib, caplog):
    from simgen.experiment.runner import write_outputs

    (tmp_path / "study").mkdir()
    assert not mpl.available()
    with caplog.at_level(logging.WARNING):
        assert bar_chart(tmp_path / "b.png", ["g"], ["s"], [[[0.1]]], title="t", ylabel="y") is None
        assert line_chart(tmp_path / "l.png", {"a": [(1, [0.1])]}, title="t", xlabel="x", ylabel="y") is None
        assert svg.bar_chart("t", ["a"], [1]) == "" and svg.histogram("t", [0, 1], [1]) == ""
        assert svg.pair_bars("t", ["a"], [1], [1]) == "" and svg.pair_lines("t", [1], [1], [1]) == ""
        write_outputs(tmp_path / "study", fake_results())
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [mpl.MISSING] and "pip install -e '.[report]'" in warned[0]
    assert sorted(os.listdir(tmp_path)) == ["study"]
    assert sorted(os.listdir(tmp_path / "study")) == ["results.csv", "results.json", "summary.md"]
    assert ".png" not in (tmp_path / "study" / "summary.md").read_text()
    # bad input is still an error: it does not depend on matplotlib
    with pytest.raises(SimgenError, match="nothing to draw"):
        bar_chart(tmp_path / "x.png", [], ["s"], [], title="t", ylabel="y")
