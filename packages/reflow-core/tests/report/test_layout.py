"""The DAG layout: layers follow dependencies, nodes never overlap."""

from __future__ import annotations

from reflow.report.layout import layered_layout


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
