"""ours before (LSTMKIT_BACKEND=reference: main's reference loop) vs after (the fused sLSTM
kernel), same process, interleaved, median of 3 after one warm-up each."""
import os, time, statistics, torch, lstmkit
torch.manual_seed(0)
shapes=[(32,100,2,64),(32,1000,2,64),(64,100,128,256),(16,500,64,512)]
def once(f):
    a=time.perf_counter(); f(); return time.perf_counter()-a
print("| B | T | I | H | mode | reference loop | fused kernel | speed-up |")
print("|---|---|---|---|---|---|---|---|")
for B,T,I,H in shapes:
    m=lstmkit.sLSTM(I,H,num_heads=4)
    x=torch.randn(T,B,I)
    def inf():
        with torch.no_grad(): m(x)
    def tr():
        out,_=m(x); out.sum().backward()
    for mode,f in (("inference",inf),("training",tr)):
        ts={"reference":[],"auto":[]}
        for k in ts:
            os.environ["LSTMKIT_BACKEND"]=k; f()
        for _ in range(3):
            for k in ts:
                os.environ["LSTMKIT_BACKEND"]=k; ts[k].append(once(f))
        r=statistics.median(ts["reference"])*1e3; a=statistics.median(ts["auto"])*1e3
        print(f"| {B} | {T} | {I} | {H} | {mode} | {r:.1f} ms | {a:.1f} ms | {r/a:.1f}x |", flush=True)
