import json, sys, time
from lstmkit.apps.video import compare_video, format_compare
r = compare_video(hidden=[16], fc_hidden=[256], n_train=1000, n_val=32, n_test=128, epochs=6, batch_size=8, lr=3e-3, progress=False, log=lambda s: print(s, flush=True))
print(format_compare(r)); print(r["ordering_reproduced"])
for row in r["rows"]: print(row["name"], [round(-h["score"],1) if h.get("score") is not None else None for h in row["history"]])
json.dump({k: v for k, v in r.items()}, open("probe3.json", "w"), indent=1, default=float)
