"""Training at scale: sparse tables touch only the batch's rows, resume equals an uninterrupted run, and two
torchrun processes stay in sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.errors import DataError
from personae.models.mf import MF, SingleVectorNetwork
from personae.train.optim import SPARSE_FROM_USERS, Optimizers, wants_sparse

TINY = {"dim": 8, "batch_size": 64, "progress": False}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=60, n_clusters=4, items_per_cluster=10, events_per_user=12))


def one_step(sparse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(user table before, after) one step on a batch of users 0 and 1, weight decay on."""
    torch.manual_seed(0)
    network = SingleVectorNetwork(n_users=50, n_items=20, dim=4, dropout=0.0)
    optimizers = Optimizers(network, lr=0.1, weight_decay=0.01, sparse=sparse)
    before = network.users.detach().clone()
    network.sparse_gradients = sparse
    optimizers.zero_grad()
    network(torch.tensor([0, 1]), torch.tensor([[3, 4], [5, 6]])).sum().backward()
    optimizers.step()
    return before, network.users.detach()


def test_a_sparse_step_changes_only_the_rows_of_the_batch():
    before, after = one_step(sparse=True)
    changed = (before != after).any(dim=1)
    assert changed[:2].all() and not changed[2:].any()


def test_a_dense_step_with_weight_decay_changes_every_row():
    # the control: dense Adam's decay rewrites every user row, seen in the batch or not
    before, after = one_step(sparse=False)
    assert (before != after).any(dim=1).all()


def test_auto_optimizer_is_sparse_from_the_user_threshold_only():
    network = SingleVectorNetwork(n_users=5, n_items=5, dim=2, dropout=0.0)
    assert not wants_sparse("auto", network, SPARSE_FROM_USERS - 1)
    assert wants_sparse("auto", network, SPARSE_FROM_USERS)
    assert wants_sparse("sparse", network, 5) and not wants_sparse("dense", network, 10**7)


@pytest.mark.parametrize("optimizer", ["dense", "sparse"])
def test_resuming_from_an_epoch_checkpoint_equals_the_uninterrupted_run(split, tmp_path, optimizer):
    options = dict(TINY, optimizer=optimizer, seed=3)
    whole = MF(epochs=2, **options).fit(split.train, split.valid)
    MF(epochs=1, checkpoint_dir=str(tmp_path), **options).fit(split.train, split.valid)
    resumed = MF(epochs=2, checkpoint_dir=str(tmp_path), resume=True, **options).fit(split.train, split.valid)
    for name, value in whole.state_arrays().items():
        np.testing.assert_array_equal(resumed.state_arrays()[name], value)
    assert resumed.report_.history == whole.report_.history
    # control: a run that starts over instead of resuming is not the same run
    fresh_second = MF(epochs=1, seed=4, **{k: v for k, v in options.items() if k != "seed"}).fit(split.train)
    assert not np.array_equal(fresh_second.state_arrays()["users"], whole.state_arrays()["users"])


def test_resume_refuses_a_checkpoint_of_another_run(split, tmp_path):
    MF(epochs=1, checkpoint_dir=str(tmp_path), seed=0, **TINY).fit(split.train)
    with pytest.raises(DataError, match="meta.seed"):
        MF(epochs=2, checkpoint_dir=str(tmp_path), resume=True, seed=1, **TINY).fit(split.train)


def test_resume_without_a_checkpoint_names_the_missing_file(split, tmp_path):
    with pytest.raises(DataError, match="no checkpoint"):
        MF(epochs=1, checkpoint_dir=str(tmp_path), resume=True, **TINY).fit(split.train)


@pytest.mark.slow
def test_two_torchrun_processes_keep_parameters_in_sync_and_the_loss_falls(tmp_path):
    out = tmp_path / "result.json"
    worker = Path(__file__).with_name("distributed_worker.py")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
               str(out), str(tmp_path / "checkpoints")]
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)  # its own process group: a hang kills both workers too
    try:
        _, stderr = launcher.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.communicate()
        raise
    assert launcher.returncode == 0, stderr.decode()[-2000:]
    results = json.loads(out.read_text())
    for name, result in results.items():
        assert result["world"] == 2 and result["in_sync"], name
        assert result["loss"][-1] < result["loss"][0], name
    assert results["mf-sparse"]["optimizer"] == "sparse"
    assert (tmp_path / "checkpoints" / "ampcf-dense" / "checkpoint.json").is_file()
