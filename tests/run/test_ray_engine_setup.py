"""`--engine ray` without a cluster: sharding by request id, and what is refused before anything
is asked (Ray not installed, batch models, Ray options without the engine). Runs with or without
Ray installed: where Ray is needed, its absence is simulated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from silspec.cli.main import main
from silspec.run.errors import RunSetupError
from silspec.run.ray_engine import RAY_MISSING, RayEngine, plan_shards, shard_of
from silspec.run.runner import run_plan
from silspec.run.store import Store
from silspec.spec.model import Parser
from tests.run import _fakes as fk

ROOT = Path(__file__).resolve().parents[2]
REPLAY_SPEC = ROOT / "specs" / "kgss_paper_replay.sil"


def requests(model: str, backend: str, personas: int = 20):
    return fk.requests_for("c", model, [fk.item("Q1"), fk.item("Q2")], personas, backend=backend)


def test_shards_split_a_local_model_by_request_id_and_keep_an_api_lane_whole():
    local, api = requests("tiny", "hf"), requests("gpt", "openai")
    models = {"tiny": fk.model("tiny", "hf"), "gpt": fk.model("gpt", "openai")}
    shards = plan_shards(local + api, models, workers=3)

    tiny = [s for s in shards if s.model == "tiny"]
    assert [s.index for s in tiny] == [0, 1, 2] and all(s.of == 3 for s in tiny)
    ids = [r.id for s in tiny for r in s.requests]
    assert sorted(ids) == sorted(r.id for r in local)  # disjoint and complete
    for shard in tiny:
        assert all(shard_of(r.id, 3) == shard.index for r in shard.requests)
        order = [r.id for r in local if shard_of(r.id, 3) == shard.index]
        assert [r.id for r in shard.requests] == order  # plan order within a shard
    (lane,) = [s for s in shards if s.model == "gpt"]
    assert lane.of == 1 and [r.id for r in lane.requests] == [r.id for r in api]
    assert lane.name == "gpt shard 1/1"


def test_a_request_keeps_its_shard_whatever_else_is_pending():
    everything = requests("tiny", "hf", personas=30)
    models = {"tiny": fk.model("tiny", "hf")}
    first = {r.id: s.index for s in plan_shards(everything, models, 4) for r in s.requests}
    rest = everything[::3]  # a rerun: most ids already stored
    again = {r.id: s.index for s in plan_shards(rest, models, 4) for r in s.requests}
    assert all(first[rid] == shard for rid, shard in again.items())
    # stable across processes and machines (sha256 of the id, not Python's salted hash)
    assert shard_of("0" * 64, 7) == int.from_bytes(bytes.fromhex("60e05bd1b195af2f"), "big") % 7


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    plan = fk.plan([fk.model("gpt", "openai")], {"c": ("gpt", Parser("first"))}, [fk.item("Q1")],
                   requests("gpt", "openai", personas=2)[:2])
    with pytest.raises(RunSetupError, match=r"pip install 'silspec\[ray\]'"):
        run_plan(plan, tmp_path / "run", env={}, engine=RayEngine())
    assert not (tmp_path / "run").exists()  # refused before the run folder or store


@pytest.mark.skipif(not REPLAY_SPEC.is_file(), reason="the KGSS replay spec is not shipped in this checkout")
@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_cli_engine_ray_without_ray_exits_2_with_the_install_line(monkeypatch, tmp_path, capsys, extra):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["run", str(REPLAY_SPEC), "--engine", "ray", "--out", str(tmp_path / "run"), "--quiet", *extra])
    assert code == 2
    assert RAY_MISSING in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not REPLAY_SPEC.is_file(), reason="the KGSS replay spec is not shipped in this checkout")
def test_cli_ray_options_without_the_ray_engine_are_a_usage_error(tmp_path, capsys):
    code = main(["run", str(REPLAY_SPEC), "--workers", "4", "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2
    assert "--workers only apply with --engine ray" in capsys.readouterr().err
    code = main(["run", str(REPLAY_SPEC), "--cpus-per-worker", "4", "--gpus-per-worker", "1",
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "--gpus-per-worker, --cpus-per-worker only apply with --engine ray" in capsys.readouterr().err
    code = main(["run", str(REPLAY_SPEC), "--engine", "ray", "--workers", "0", "--out", str(tmp_path / "run")])
    assert code == 2 and "--workers must be 1 or more" in capsys.readouterr().err
    code = main(["run", str(REPLAY_SPEC), "--engine", "ray", "--cpus-per-worker", "0", "--out", str(tmp_path / "run")])
    assert code == 2 and "--cpus-per-worker must be more than 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_batch_models_are_refused_before_anything_is_asked(tmp_path):
    batch = fk.model("gpt", "openai", options={"batch": True})
    plan = fk.plan([batch], {"c": ("gpt", Parser("first"))}, [fk.item("Q1")], requests("gpt", "openai", 2)[:2])
    with pytest.raises(RunSetupError, match=r"does not run batch = true models \(gpt\)"):
        run_plan(plan, tmp_path / "run", env={}, engine=RayEngine())
    assert not (tmp_path / "run").exists()


class FakeCluster:
    """What ``_check_resources`` reads of Ray: the cluster's resources."""

    def __init__(self, gpus: float):
        self.gpus = gpus

    def cluster_resources(self):
        return {"CPU": 16.0, **({"GPU": self.gpus} if self.gpus else {})}


def test_gpu_reservations_are_checked_against_the_cluster():
    local = requests("tiny", "hf", personas=2)
    models = {"tiny": fk.model("tiny", "hf"), "gpt": fk.model("gpt", "openai")}
    with pytest.raises(RunSetupError, match=r"--gpus-per-worker 1, but the Ray cluster has 0 GPUs"):
        RayEngine(gpus_per_worker=1)._check_resources(FakeCluster(0), models, local)
    assert RayEngine(gpus_per_worker=1)._check_resources(FakeCluster(8), models, local) == []
    (note,) = RayEngine()._check_resources(FakeCluster(8), models, local)
    assert "8 GPUs but --gpus-per-worker is 0" in note and "tiny, which run on CPU" in note
    # an API lane reserves no GPU: nothing to check or say
    assert RayEngine(gpus_per_worker=1)._check_resources(FakeCluster(0), models, requests("gpt", "openai", 2)) == []


def test_importing_silspec_never_imports_ray():
    code = ("import sys; import silspec.cli.main, silspec.run.runner, silspec.run.ray_engine, silspec.api;"
            " sys.exit(1 if 'ray' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr or "ray was imported"


def test_a_cluster_that_cannot_be_joined_is_a_setup_error_and_nothing_is_asked(monkeypatch, tmp_path):
    class Unreachable:
        """What `import ray` gives here: a Ray whose init fails as an unreachable cluster does."""

        __version__ = "2.60.0"

        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(**kwargs):
            raise ConnectionError(f"could not connect to {kwargs['address']}\nafter 60 s")

    monkeypatch.setitem(sys.modules, "ray", Unreachable)
    plan = fk.plan([fk.model("gpt", "openai")], {"c": ("gpt", Parser("first"))}, [fk.item("Q1")],
                   requests("gpt", "openai", personas=2)[:2])
    with pytest.raises(RunSetupError) as caught:
        run_plan(plan, tmp_path / "run", env={}, engine=RayEngine(address="10.0.0.9:6379"))
    message = str(caught.value)
    assert "cannot start or join the Ray cluster (10.0.0.9:6379)" in message
    assert "ConnectionError: could not connect to 10.0.0.9:6379 … after 60 s; nothing was asked" in message
    with Store.open(tmp_path / "run", create=False) as store:
        assert store.count_answers() == 0 and [m["status"] for m in store.manifests()] == ["failed"]
