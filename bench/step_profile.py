"""What a sparse training step spends its CPU on (issue 21): torch profiler over N steps of ampcf's defaults.

    nice -n 10 python bench/step_profile.py USERS STEPS [POOL]   # e.g. 1000000 10; users = items, planted synth
                                                                 # data; POOL: TrainOptions.negative_pool
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torch.profiler import ProfilerActivity, profile

from bench.scale import synth_data
from personae.models.ampcf import AMPCF

users = int(sys.argv[1]); steps = int(sys.argv[2]); pool = int(sys.argv[3]) if len(sys.argv) > 3 else 0
data, _ = synth_data(users, users)
AMPCF(epochs=1, steps_per_epoch=3, optimizer="sparse", progress=False, batch_size=2048).fit(data)  # warm
m = AMPCF(epochs=1, steps_per_epoch=steps, optimizer="sparse", progress=False, batch_size=2048, negative_pool=pool)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    t = time.process_time(); m.fit(data); t = time.process_time() - t
print(users, "cpu ms/step (incl. setup)", 1e3 * t / steps, "epoch cpu ms/step", 1e3 * m.report_.epoch_cpu_seconds[-1] / steps)
print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=30, max_shapes_column_width=60))
