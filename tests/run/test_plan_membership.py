"""The store records which request ids make up each plan, whole or not at all."""

from __future__ import annotations

import types

import pytest

from silspec.run import store as store_module
from silspec.run.store import Store


def request(i: int, condition: str = "c"):
    return types.SimpleNamespace(id=f"r{i:05d}", condition=condition, model="m", item="s.Q1",
                                 persona=f"P{i}", replicate=0, prompt_hash="h")


def plan(plan_hash: str, conditions=("c",), limit=None, overrides=()):
    header = types.SimpleNamespace(spec_hash="S", overrides=overrides, conditions=dict.fromkeys(conditions),
                                   limit=limit)
    return types.SimpleNamespace(plan_hash=plan_hash, header=header)


def test_a_streamed_plan_is_recorded_in_chunks_with_its_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "RECORD_CHUNK", 7)
    with Store.open(tmp_path) as store:
        store.record_requests((request(i) for i in range(50)), plan("P1"))  # a generator: read once
        store.record_requests((request(i) for i in range(40, 60)), plan("P2", limit=5, overrides=(("a", "1"),)))
        recorded = {p["plan_hash"]: p for p in store.recorded_plans()}
        assert recorded["P1"]["n_requests"] == 50 and recorded["P1"]["conditions"] == ["c"]
        assert recorded["P2"]["limit"] == 5 and recorded["P2"]["overrides"] == [("a", "1")]
        assert store.plan_request_ids(["P1"]) == {f"r{i:05d}" for i in range(50)}
        assert len(store.plan_request_ids(["P1", "P2"])) == 60
        assert len(store.requested_ids()) == 60  # the requests table keeps the first sighting


def test_a_plan_that_fails_half_way_is_not_recorded_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "RECORD_CHUNK", 5)

    def failing():
        for i in range(12):
            yield request(i)
        raise RuntimeError("compilation failed mid-plan")

    with Store.open(tmp_path) as store:
        with pytest.raises(RuntimeError):
            store.record_requests(failing(), plan("P1"))
        assert store.recorded_plans() == [] and store.plan_request_ids(["P1"]) == frozenset()
        assert store.requested_ids() == set()


def test_without_a_plan_only_the_requests_table_is_written(tmp_path):
    with Store.open(tmp_path) as store:
        store.record_requests([request(1), request(2)])
        assert store.recorded_plans() == [] and len(store.requested_ids()) == 2
