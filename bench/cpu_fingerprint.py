"""Print the fingerprint of short CPU training runs (issue 21): run it in two trees and compare the outputs.

    PYTHONPATH=TREE python bench/cpu_fingerprint.py > TREE.json     # then: cmp a.json b.json
tests/test_device_cpu.py keeps the values main's code gave before the device path.
"""

import json

import numpy as np

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.models.ampcf import AMPCF
from personae.models.din import DIN

RUNS = {
    "ampcf-dense": (AMPCF, {"personas": 3, "dim": 6, "epochs": 3, "batch_size": 64}),
    "ampcf-sparse": (AMPCF, {"personas": 3, "dim": 6, "epochs": 3, "batch_size": 64, "optimizer": "sparse",
                             "weight_decay": 1e-3}),
    "din": (DIN, {"dim": 6, "epochs": 2, "batch_size": 64}),
}
split = leave_last_out(planted_interests(n_users=60, n_clusters=6, items_per_cluster=9, interests_per_user=2,
                                         events_per_user=10, seed=3))
out = {}
for name, (cls, options) in RUNS.items():
    model = cls(progress=False, **options).fit(split.train, split.valid)
    sums = {k: float(np.abs(v.astype(np.float64)).sum()) for k, v in sorted(model.state_arrays().items())}
    top = model.rank(np.arange(split.train.n_users), 10, split.train.csr).items
    out[name] = {"sums": sums, "loss": [h["loss"] for h in model.report_.history],
                 "top10": top[:8].tolist()}
print(json.dumps(out))
