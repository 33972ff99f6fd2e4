"""The A/B table of docs/performance.md (issue 14): `python table.py t1|tdef [FOLDER]` (default: this folder)."""
import json
import statistics
import sys
from pathlib import Path

tag = sys.argv[1] if len(sys.argv) > 1 else "t1"
here = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
runs = sorted(here.glob(f"*-{tag}-*.json"), key=lambda p: (p.stem.split("-")[-1], p.stem))
data = {p.stem: json.loads(p.read_text())["rows"] for p in runs}
order = sorted(data, key=lambda n: (n.split("-")[-1], 0 if n.startswith("measured") else 1))
keys = []
for r in data[order[0]]:
    keys.append((r["model"], r["mode"], r["shape"]["B"], r["shape"]["T"], r["shape"]["I"], r["shape"]["H"]))


def cell(r):
    if r["mode"] == "streaming":
        return f"{r['us_per_step']:.1f} µs ({r['ratio']:.2f}x)" if "us_per_step" in r else f"{r['ratio']:.2f}x"
    return f"{r['ratio']:.2f}x"


print("| model | mode | B | T | I | H | " + " | ".join(order) + " | measured median | rule median |")
print("|" + "---|" * (6 + len(order) + 2))
for k in keys:
    cells, m, rr = [], [], []
    for n in order:
        row = next(r for r in data[n] if (r["model"], r["mode"], r["shape"]["B"], r["shape"]["T"], r["shape"]["I"],
                                          r["shape"]["H"]) == k)
        cells.append(cell(row))
        (m if n.startswith("measured") else rr).append(row["ratio"])
    print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {k[5]} | " + " | ".join(cells)
          + f" | {statistics.median(m):.2f}x | {statistics.median(rr):.2f}x |")
