import json, time
from lstmkit.apps.mdlstm import mdlstm_vs_bilstm, format_mdlstm
r = mdlstm_vs_bilstm(n_train=600, n_val=60, n_test=200, epochs=4, progress=True, log=lambda s: print(s, flush=True))
print(format_mdlstm(r), flush=True)
json.dump(r, open("md.json", "w"), indent=1, default=float)
