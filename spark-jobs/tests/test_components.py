"""Connected components (spark_jobs/components.py) against a plain-Python union-find."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from spark_jobs.components import NotConverged, connected_components


def smallest_member(edges: list[tuple[str, str]]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def root(v: str) -> str:
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {v: root(v) for v in parent}


def assert_labels(labels: DataFrame, expected: dict[str, str]) -> None:
    """Each vertex once (a vertex labelled twice would hide in a dict), with its expected label."""
    rows = labels.collect()
    assert len(rows) == len({r.doc_id for r in rows}), "a vertex labelled twice"
    assert {r.doc_id: r.label for r in rows} == expected


def union_find_labels(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Every vertex's smallest component member, but the self-loop's lone vertex (no edge)."""
    return {v: m for v, m in smallest_member(edges).items() if v != "z"}


def graph() -> list[tuple[str, str]]:
    """A 256-vertex path in shuffled id order, 150 random edges among 200 vertices (cycles, trees
    and lone vertices), a star, a lone pair, a self-loop and a repeated edge; the edges in
    shuffled order and direction."""
    rng = random.Random(5)
    path = [f"p{i:03d}" for i in range(256)]
    rng.shuffle(path)
    edges = list(zip(path, path[1:], strict=False))
    edges += [(f"r{rng.randrange(200):03d}", f"r{rng.randrange(200):03d}") for _ in range(150)]
    edges += [("s00", f"s{i:02d}") for i in range(1, 9)]
    edges += [("q1", "q0"), ("q0", "q1"), ("z", "z")]
    edges = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in edges]
    rng.shuffle(edges)
    return edges


def test_every_vertex_gets_its_components_smallest_id(spark: SparkSession) -> None:
    edges = graph()
    df = spark.createDataFrame(edges, ["src", "dst"]).repartition(3)
    labels, rounds = connected_components(df)
    # Catches a round that stops early (a path left in pieces) or a label that is not the minimum.
    assert_labels(labels, union_find_labels(edges))
    # Large and small stars settle a path in about log2(n) rounds (7 here, as a plain-Python model
    # of the same rounds); min-label propagation needed 80 on this path, past its 30-round limit.
    assert 1 <= rounds <= 12, rounds


def test_it_gives_up_after_max_iterations(spark: SparkSession) -> None:
    df = spark.createDataFrame(graph(), ["src", "dst"])
    # Catches a convergence test that always says "done": the path needs 7 rounds to settle.
    with pytest.raises(NotConverged):
        connected_components(df, max_iterations=1)


def test_edges_that_are_stars_already_take_no_round(spark: SparkSession) -> None:
    edges = [(f"s{i:02d}", "s00") for i in range(1, 9)] + [("q0", "q1"), ("q1", "q0")]
    labels, rounds = connected_components(spark.createDataFrame(edges, ["src", "dst"]))
    # Catches a check that misses a settled forest (a round run for nothing) or wrong labels.
    assert rounds == 0
    expected = {f"s{i:02d}": "s00" for i in range(9)} | {"q0": "q0", "q1": "q0"}
    assert_labels(labels, expected)


def test_a_graph_settled_by_the_last_allowed_round_converges(spark: SparkSession) -> None:
    """Regression: round 1 turns these edges into the star forest; with one round allowed, its
    output is checked before the limit fails the run."""
    edges = spark.createDataFrame([("c", "a"), ("c", "b")], ["src", "dst"])
    labels, rounds = connected_components(edges, max_iterations=1)
    assert rounds == 1
    assert sorted((r.doc_id, r.label) for r in labels.collect()) == [
        ("a", "a"),
        ("b", "a"),
        ("c", "a"),
    ]


@pytest.fixture
def reliable_checkpoints(spark: SparkSession, tmp_path: Path) -> Iterator[Path]:
    """The session checkpoints into a folder, as a cluster run does (`spark.checkpoint.dir`), for
    one test; then locally again."""
    context = spark.sparkContext
    context.setCheckpointDir(str(tmp_path))
    try:
        yield tmp_path
    finally:
        getattr(context._jsc.sc(), "checkpointDir_$eq")(context._jvm.scala.Option.empty())


def test_rounds_with_reliable_checkpoints(spark: SparkSession, reliable_checkpoints: Path) -> None:
    """The rounds checkpoint into the folder a cluster run sets, and its checks read them."""
    edges = graph()
    labels, rounds = connected_components(spark.createDataFrame(edges, ["src", "dst"]))
    assert any(reliable_checkpoints.rglob("part-*")), "the rounds were not checkpointed there"
    assert_labels(labels, union_find_labels(edges))
    assert 1 <= rounds <= 12, rounds
