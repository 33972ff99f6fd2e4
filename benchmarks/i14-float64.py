"""float64 inference and training of our fused LSTM kernel, two builds in one process: the
libm exp/tanh build (before) and the vectorisable exp build (after), interleaved, against
torch.nn.LSTM in float64. Run: PYTHONPATH=src python benchmarks/i14-float64.py OLD.so NEW.so"""

import importlib.util
import sys
import time

import torch

from lstmkit.cells import LSTMCellSpec
from lstmkit.kernels import fused

torch.set_num_threads(1)


def load(path):
    name = path.rsplit("/", 1)[-1].split(".")[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


exts = {"before (libm)": load(sys.argv[1]), "after (exp_fast)": load(sys.argv[2])}
for B, T, I, H in ((32, 100, 2, 64), (64, 100, 128, 256)):
    for variant in ("vanilla", "cifg"):
        spec = LSTMCellSpec(I, H, variant)
        g = torch.Generator().manual_seed(0)
        p = {k: torch.randn(s, generator=g, dtype=torch.float64) * 0.1 for k, s in spec.param_shapes().items()}
        x = torch.randn(T, B, I, generator=g, dtype=torch.float64)
        st = tuple(torch.zeros(B, n, dtype=torch.float64) for n in spec.state_sizes())
        ref = torch.nn.LSTM(I, H).double()
        for mode in ("inference", "training"):
            def ours(ext):
                if mode == "inference":
                    with torch.no_grad():
                        fused.run_fused(spec, p, x, st, ext=ext)
                else:
                    q = {k: v.requires_grad_() for k, v in p.items()}
                    out, _ = fused.run_fused(spec, q, x, st, ext=ext)
                    out.sum().backward()

            def theirs():
                if mode == "inference":
                    with torch.no_grad():
                        ref(x)
                else:
                    ref(x)[0].sum().backward()

            sides = {**{k: (lambda e=e: ours(e)) for k, e in exts.items()}, "torch.nn.LSTM": theirs}
            times = {k: [] for k in sides}
            for r in range(8):
                for k, f in sides.items():
                    t0 = time.perf_counter()
                    f()
                    if r:
                        times[k].append(time.perf_counter() - t0)
            med = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}
            tt = med["torch.nn.LSTM"]
            print(f"{B}x{T}x{I}x{H} {variant} float64 {mode}: " + ", ".join(
                f"{k} {v:.1f} ms ({v / tt:.2f}x)" for k, v in med.items()))
