"""redislab.structures.documents: one document as a string, a hash and native JSON."""

from __future__ import annotations

import json

import pytest

from redislab import structures as S
from redislab.errors import StructureError


def test_documents_are_seeded_and_flatten_to_dotted_fields() -> None:
    a, b = S.make_documents(3, seed=5), S.make_documents(3, seed=5)
    assert a == b and a != S.make_documents(3, seed=6)
    flat = S.flatten_document(a[0])
    assert flat["address.city"] == a[0]["address"]["city"]
    assert flat["stats.score"] == str(a[0]["stats"]["score"])
    assert json.loads(flat["events"]) == a[0]["events"]  # a hash keeps a list as JSON text
    assert "address" not in flat and "stats" not in flat


@pytest.mark.parametrize("layout", S.DOC_LAYOUTS)
def test_every_layout_reads_a_path_and_updates_in_place(json_lab, layout) -> None:
    r = json_lab.client()
    doc = S.make_documents(1, seed=1)[0] | {"id": f"t-{layout}"}
    S.store_documents(r, layout, [doc])
    assert S.read_path(r, layout, doc["id"], "address.city") == doc["address"]["city"]
    before = int(S.read_path(r, layout, doc["id"], "stats.score"))
    S.increment_field(r, layout, doc["id"], "stats.score", 3)
    assert int(S.read_path(r, layout, doc["id"], "stats.score")) == before + 3
    S.append_event(r, layout, doc["id"], {"ts": 1, "kind": "view"})
    events = S.read_path(r, layout, doc["id"], "events")
    assert len(events) == len(doc["events"]) + 1 and events[-1] == {"ts": 1, "kind": "view"}


def test_json_updates_are_one_round_trip_and_the_string_rewrite_three(json_lab) -> None:
    r = json_lab.client()
    docs = S.make_documents(5, seed=2)
    for layout in ("string", "json"):
        S.store_documents(r, layout, docs)
    string = S.round_trips(r, lambda c: S.increment_field(c, "string", 1), n=5)
    native = S.round_trips(r, lambda c: S.increment_field(c, "json", 1), n=5)
    assert (string, native) == (3, 1)  # WATCH, GET, MULTI+SET+EXEC against JSON.NUMINCRBY


def test_comparison_measures_each_layout_and_operation(json_lab) -> None:
    r = json_lab.client()
    df = S.document_comparison(r, S.make_documents(60, seed=3), sample=20, show_progress=False)
    assert set(df["layout"]) == set(S.DOC_LAYOUTS) and len(df) == 3 * 4
    mem = df.groupby("layout")["memory_per_doc_B"].first()
    assert (mem > 0).all()
    json_inc = df[(df["layout"] == "json") & (df["operation"] == "stats.score += 1")].iloc[0]
    assert json_inc["commands"] == 1 and json_inc["round_trips"] == 1


def test_concurrent_json_increments_keep_every_update(json_lab) -> None:
    r = json_lab.client()
    for mode in ("json", "string_watch"):
        out = S.concurrent_increments(r, mode, threads=3, per_thread=30)
        assert out == {"expected": 90, "final": 90, "lost": 0}
    with pytest.raises(StructureError, match="unknown mode"):
        S.concurrent_increments(r, "hash")


def test_without_the_module_native_json_says_so(standalone_lab) -> None:
    with pytest.raises(StructureError, match="RedisJSON"):
        S.store_documents(standalone_lab.client(), "json", S.make_documents(1, seed=0))
    with pytest.raises(StructureError, match="unknown layout"):
        S.document_key("xml", 1)


def test_json_update_check_reads_back_exactly_the_edit(json_lab) -> None:
    r = json_lab.client()
    doc = S.make_documents(1, seed=5)[0]
    out = S.json_update_check(r, doc, by=3)
    assert out["after_numincrby"] and out["after_arrappend"]
    assert out["score"] == doc["stats"]["score"] + 3 and out["events"] == len(doc["events"]) + 1


def test_in_place_updates_cost_the_same_bytes_at_any_size(json_lab) -> None:
    r = json_lab.client()
    sizes = S.update_bytes_by_size(r, sizes=(4, 400), seed=2, n=10)
    by = sizes.set_index(["layout", "operation", "events"])
    for op in ("stats.score += 1", "append an event"):
        assert abs(by.loc[("json", op, 400), "bytes_in"] - by.loc[("json", op, 4), "bytes_in"]) <= 8
        assert by.loc[("string", op, 400), "bytes_in"] > 10 * by.loc[("string", op, 4), "bytes_in"]
