"""M1 yearly as a panel: one global LSTM across all 181 series (lstmkit.apps.panel), each
series scored on its own last 6 points against its own baselines, beside the per-series
benchmark (benchmarks/i13-forecast/results.json: one model per series, the combination
where a series is too short for one).

Run: python benchmarks/i13-panel/m1_panel.py  (writes benchmarks/i13-panel/m1_panel.json)
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lstmkit.apps.panel import train_panel
from lstmkit.data.forecast_benchmark import benchmark_series

torch.set_num_threads(1)
here = Path(__file__).resolve().parent
items = [b for b in benchmark_series() if b.dataset == "M1 yearly" and b.horizon == 6]
panel = {b.key: b.series for b in items}
t0 = time.time()
r = train_panel(panel, 6, season=1, seed=0, progress=sys.stderr.isatty())
per = {e["key"]: e for e in json.loads((here.parent / "i13-forecast" / "results.json").read_text())["series"]}


def per_series_mase(key):
    """lstmkit's test MASE on this series in the per-series benchmark."""
    e = per.get(key)
    return e["metrics"]["lstmkit"]["mase"] if e and "mase" in e["metrics"].get("lstmkit", {}) else None


rows = {}
for k, s in r["series"].items():
    m = s["test"]["metrics"]
    rows[k] = {"panel": m[s["output"]["name"]]["mase"], "panel_lstm": m["LSTM"]["mase"],
               "seasonal naive": m["seasonal naive"]["mase"], "ETS": m.get("ETS", {}).get("mase"),
               "per_series": per_series_mase(k), "saved": s["output"]["name"]}
out = {"command": "python benchmarks/i13-panel/m1_panel.py", "seconds": time.time() - t0,
       "series": len(panel), "modelled": len(r["series"]), "left_out": r["left_out"], "summary": r["summary"],
       "training": {k: v for k, v in r["training"].items() if k != "history"},
       "preprocessing": r["preprocessing"], "rows": rows}
(here / "m1_panel.json").write_text(json.dumps(out, indent=1))
sn = np.array([v["seasonal naive"] for v in rows.values()])
for name in ("panel", "panel_lstm"):
    v = np.array([x[name] for x in rows.values()])
    print(f"{name}: mean MASE {v.mean():.3f}, beats seasonal naive on {np.mean(v < sn * 0.995):.0%}")
ps = [x["per_series"] for x in rows.values() if x["per_series"] is not None]
print(f"per-series benchmark entries found: {len(ps)}; mean {np.mean(ps) if ps else float('nan'):.3f}")
print(json.dumps(r["summary"], indent=1))
