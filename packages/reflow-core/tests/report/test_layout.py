"""The DAG layout: layers follow dependencies, nodes never overlap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reflow.report.layout import Box, Route, graph_layout, layered_layout


def test_each_task_sits_below_every_task_it_depends_on_and_nodes_do_not_overlap() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"], "f": []}
    order = ["a", "b", "c", "d", "e", "f"]
    boxes, width, height = layered_layout(order, deps, width=100, height=40, gap_x=20, gap_y=50)
    for task, ups in deps.items():
        for up in ups:
            assert boxes[up].y + boxes[up].height < boxes[task].y
    assert boxes["b"].y == boxes["c"].y  # same depth, same layer
    names = list(boxes)
    for i, one in enumerate(names):
        for two in names[i + 1 :]:
            p, q = boxes[one], boxes[two]
            apart = (
                p.x + p.width <= q.x
                or q.x + q.width <= p.x
                or p.y + p.height <= q.y
                or q.y + q.height <= p.y
            )
            assert apart, (one, two)
    for box in boxes.values():
        assert box.x >= 0 and box.x + box.width <= width
        assert box.y >= 0 and box.y + box.height <= height


def test_barycentre_ordering_removes_a_needless_crossing() -> None:
    # a1 -> b2 and a2 -> b1: ordering layer b by its parents uncrosses the edges.
    deps = {"a1": [], "a2": [], "b1": ["a2"], "b2": ["a1"]}
    boxes, _, _ = layered_layout(
        ["a1", "a2", "b1", "b2"], deps, width=100, height=40, gap_x=20, gap_y=50
    )
    assert (boxes["a1"].x < boxes["a2"].x) == (boxes["b2"].x < boxes["b1"].x)


def _inside(point: tuple[float, float], box: Box, margin: float = 0.5) -> bool:
    x, y = point
    return (
        box.x + margin < x < box.x + box.width - margin
        and box.y + margin < y < box.y + box.height - margin
    )


def _route_points(route: Route, steps: int = 24) -> list[tuple[float, float]]:
    """Points along the drawn edge: cubic curves between layers, straight lines within."""
    out = []
    pts = route.points
    for n in range(len(pts) - 1):
        (x1, y1), (x2, y2) = pts[n], pts[n + 1]
        mid = (y1 + y2) / 2
        for k in range(steps + 1):
            t = k / steps
            if n % 2 == 0:  # the same curve dag.py draws: controls at mid-gap
                x = (
                    (1 - t) ** 3 * x1
                    + 3 * (1 - t) ** 2 * t * x1
                    + 3 * (1 - t) * t**2 * x2
                    + t**3 * x2
                )
                y = (
                    (1 - t) ** 3 * y1
                    + 3 * (1 - t) ** 2 * t * mid
                    + 3 * (1 - t) * t**2 * mid
                    + t**3 * y2
                )
            else:
                x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
            out.append((x, y))
    return out


def _overlap(p: Box, q: Box) -> bool:
    return not (
        p.x + p.width <= q.x
        or q.x + q.width <= p.x
        or p.y + p.height <= q.y
        or q.y + q.height <= p.y
    )


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    n = draw(st.integers(min_value=1, max_value=12))
    order = [f"t{i}" for i in range(n)]
    deps = {
        name: draw(st.lists(st.sampled_from(order[:i]), unique=True, max_size=3)) if i else []
        for i, name in enumerate(order)
    }
    return order, deps


@settings(max_examples=60, deadline=None)
@given(dags())
def test_edges_never_pass_under_a_node_and_labels_never_overlap(
    graph: tuple[list[str], dict[str, list[str]]],
) -> None:
    order, deps = graph
    edges = [(d, t, f"{t}_param: fan_out") for t in order for d in deps[t]]
    placed = graph_layout(
        order,
        deps,
        edges,
        width=120,
        height=50,
        gap_x=30,
        gap_y=56,
        label_size=lambda label: (len(label) * 6.6 + 10, 16),
    )
    assert len(placed.routes) == len(edges)
    nodes = list(placed.boxes.values())
    labels = [r.label_box for r in placed.routes if r.label_box is not None]
    assert len(labels) == len(edges)
    boxes = nodes + labels
    for i, one in enumerate(boxes):
        assert one.x >= 0 and one.x + one.width <= placed.width
        assert one.y >= 0 and one.y + one.height <= placed.height
        for two in boxes[i + 1 :]:
            assert not _overlap(one, two), (one, two)
    for route in placed.routes:
        for point in _route_points(route):
            assert not any(_inside(point, box) for box in nodes), (route, point)


def test_a_long_edge_goes_round_the_task_in_its_way() -> None:
    # a -> b -> c and a -> c: the long edge crosses b's layer beside b, not through it.
    deps = {"a": [], "b": ["a"], "c": ["a", "b"]}
    edges = [("a", "b", ""), ("b", "c", ""), ("a", "c", "")]
    placed = graph_layout(["a", "b", "c"], deps, edges, width=100, height=40, gap_x=20, gap_y=50)
    (long_route,) = [r for r in placed.routes if (r.source, r.target) == ("a", "c")]
    b = placed.boxes["b"]
    crossing = [x for x, y in long_route.points[1:-1] if b.y <= y <= b.y + b.height]
    assert crossing and all(x <= b.x - 10 or x >= b.x + b.width + 10 for x in crossing)
