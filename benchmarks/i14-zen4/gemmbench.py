"""Interleaved timing of mkl / own / own512 per call (docs/performance.md, issue 14 on Zen 4): LSTMKIT_CALIBRATE=0 taskset -c 0 python benchmarks/i14-zen4/gemmbench.py"""
# per-product timing of the three candidates on LSTM training/inference shapes
import os, time, torch, sys
torch.set_num_threads(1)
from lstmkit.kernels import _build, fused, choose
ext = _build.load_extension()
from lstmkit.kernels.choose import _lstm_case, time_interleaved
for (B,T,I,H) in [(32,100,2,64),(64,100,128,256),(16,100,64,512),(1,200,32,128)]:
    for variant in ("vanilla",):
        spec,p,x,state = _lstm_case(B,T,I,H,variant,grad=True)
        run = fused._RUNNERS[type(spec)]
        cls = choose.shape_class(B,H)
        def path(mode, train):
            def f():
                for c in range(3): ext.set_own_gemm(c, mode)
                if train:
                    out,_ = run(ext,spec,p,x,state,None,False); out.sum().backward()
                else:
                    with torch.no_grad(): run(ext,spec,p,x,state,None,False)
            return f
        for train in (False, True):
            t = time_interleaved({"mkl":path(0,train),"own":path(1,train),"own512":path(2,train)}, reps=7, stat="min")
            print(f"{B}x{T}x{I}x{H} {'train' if train else 'infer'}: " + ", ".join(f"{k} {v*1e3:.2f} ms" for k,v in t.items()), flush=True)
