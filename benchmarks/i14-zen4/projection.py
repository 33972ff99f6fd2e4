"""The input projection's forward + backward with W^T as a view or a contiguous copy: LSTMKIT_CALIBRATE=0 taskset -c 0 python benchmarks/i14-zen4/projection.py"""
import torch
torch.set_num_threads(1)
from lstmkit.kernels.choose import time_interleaved
for (TB, G, I) in [(3200, 256, 2), (3200, 256, 32), (6400, 1024, 128), (8000, 2048, 64), (3200, 512, 4)]:
    x = torch.randn(TB, I); w = torch.randn(G, I, requires_grad=True); b = torch.randn(G, requires_grad=True)
    g = torch.randn(TB, G)
    def a():
        y = torch.addmm(b, x, w.t()); y.backward(g)
    def c():
        y = torch.addmm(b, x, w.t().contiguous()); y.backward(g)
    for _ in range(3):  # warm up (time_interleaved reports the warm-up itself when one is 4x another)
        a(); c()
    t = time_interleaved({"addmm(w.t())": a, "addmm(w.t().contiguous())": c}, reps=30, budget_s=2)
    print(f"TB={TB} G={G} I={I}: " + ", ".join(f"{k} {v*1e3:.3f} ms" for k,v in t.items()), flush=True)
