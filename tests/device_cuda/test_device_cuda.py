"""The device path on a GPU: the same models, kernel and checkpoints as on the CPU, on CUDA.

Every test here is marked ``cuda``: where no GPU exists they are deselected with a one-line note (conftest).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.evaluate import evaluate
from personae.models.ampcf import AMPCF
from personae.models.din import DIN
from personae.models.mf import MF
from personae.models.scoring import persona_top_k
from personae.train.devices import resolve_device

pytestmark = pytest.mark.cuda
SMALL = {"dim": 8, "epochs": 3, "batch_size": 128, "progress": False}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=120, n_clusters=6, items_per_cluster=10, interests_per_user=2,
                                            events_per_user=12, seed=5))


def test_auto_resolves_to_the_gpu():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("cls,options", [(AMPCF, {"personas": 3}), (MF, {}), (DIN, {}),
                                         (AMPCF, {"personas": 3, "optimizer": "sparse"}),
                                         (AMPCF, {"personas": "auto"})])
def test_a_model_trains_and_ranks_on_the_gpu(split, cls, options):
    model = cls(device="cuda", **SMALL, **options).fit(split.train, split.valid)
    assert model.device.type == "cuda"
    metrics = evaluate(model, split, ks=(10,)).metrics
    assert np.isfinite(metrics["ndcg@10"])
    assert isinstance(model.score(np.arange(4)), np.ndarray)


def test_gpu_and_cpu_scores_of_the_same_weights_agree(split):
    model = AMPCF(device="cpu", personas=3, **SMALL).fit(split.train)
    users = np.arange(split.train.n_users)
    on_cpu = model.score(users)
    on_gpu = model.to("cuda").score(users)
    assert np.allclose(on_cpu, on_gpu, atol=1e-4)


def test_the_kernels_top_k_on_the_gpu_equals_the_cpus(split):
    torch.manual_seed(0)
    personas, items, bias = torch.randn(200, 4, 16), torch.randn(500, 16), torch.randn(500)
    cpu = persona_top_k(personas, items, bias, 10)
    gpu = persona_top_k(personas.cuda(), items.cuda(), bias.cuda(), 10, attribution=True)
    assert (cpu.items == gpu.items).mean() > 0.99  # float rounding may swap near-ties
    assert np.allclose(cpu.scores, gpu.scores, atol=1e-4)
    assert gpu.persona.shape == (200, 10)


def test_bf16_training_on_the_gpu_keeps_a_finite_falling_loss(split):
    model = AMPCF(device="cuda", precision="bf16", personas=3, **SMALL).fit(split.train)
    losses = [h["loss"] for h in model.report_.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_a_checkpoint_written_on_the_gpu_resumes(split, tmp_path):
    options = {"personas": 3, **SMALL, "checkpoint_dir": str(tmp_path)}
    full = AMPCF(device="cuda", **(options | {"epochs": 2})).fit(split.train)
    AMPCF(device="cuda", **(options | {"epochs": 1, "checkpoint_dir": str(tmp_path / "b")})).fit(split.train)
    resumed = AMPCF(device="cuda", **(options | {"epochs": 2, "checkpoint_dir": str(tmp_path / "b"),
                                                  "resume": True})).fit(split.train)
    assert resumed.report_.epochs_run == 2
    assert np.isfinite(resumed.score(np.arange(3))).all() and np.isfinite(full.score(np.arange(3))).all()
