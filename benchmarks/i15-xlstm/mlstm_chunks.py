"""The mLSTM chunkwise form at 64x100x128x256 (4 heads): chunk length 64 (the old cut, padded
to 128 steps), 50 (two equal chunks, today's cut for chunk_size 64) and 100 (the parallel
form), inference and training, interleaved, median of 7.

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/i15-xlstm/mlstm_chunks.py
"""

import statistics
import time

import torch

from lstmkit.cells.mlstm import mLSTMCellSpec
from lstmkit.kernels import mlstm as km

torch.manual_seed(0)
B, T, I, H = 64, 100, 128, 256
spec = mLSTMCellSpec(I, H, num_heads=4)
p = {k: (torch.randn(s) * 0.05).requires_grad_() for k, s in spec.param_shapes().items()}
x = torch.randn(T, B, I)
state = spec.initial_state(B)


def run(L, train):
    if train:
        out, _ = km._run(spec, p, x, state, None, False, L)
        out.sum().backward()
    else:
        with torch.no_grad():
            km._run(spec, p, x, state, None, False, L)


for train in (False, True):
    times = {64: [], 50: [], 100: []}
    for L in times:
        run(L, train)
    for _ in range(7):
        for L in times:
            t = time.perf_counter()
            run(L, train)
            times[L].append(time.perf_counter() - t)
    print("training" if train else "inference", {L: round(statistics.median(v) * 1e3, 1) for L, v in times.items()})
