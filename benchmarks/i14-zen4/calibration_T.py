"""Per-use calibration timings (fastest of interleaved reps) by calibration shape, inference vs training:
LSTMKIT_CALIBRATE=0 taskset -c 0 python benchmarks/i14-zen4/calibration_T.py 1x48x32x128 32x24x32x64 ... (docs/performance.md)"""
import sys, time, torch
torch.set_num_threads(1)
from lstmkit.kernels import _build, choose
ext = _build.load_extension()
for s in sys.argv[1:]:
    B, T, I, H = (int(v) for v in s.split("x"))
    cls = choose.shape_class(B, H)
    for name in ("inference", "training"):
        old = choose._GEMM_SHAPES[name]
        choose._GEMM_SHAPES[name] = tuple((B, T, I, H) if c == cls else old[c] for c in range(3))
        t0 = time.time()
        t, _ = choose._measure_gemm(ext, cls, name == "inference")
        choose._GEMM_SHAPES[name] = old
        print(f"{s} cls{cls} {name:9s}: " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in t.items())
              + f" ms ({time.time() - t0:.1f} s)", flush=True)
