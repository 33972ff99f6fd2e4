"""Side-by-side ratios of two bench JSONs: python benchmarks/i14-zen4/compare.py A.json B.json [label A] [label B]"""
import json, sys
a_path, b_path = sys.argv[1], sys.argv[2]
la, lb = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("before", "after")
def key(s): return "x".join(str(s[k]) for k in ("B", "T", "I", "H")) if isinstance(s, dict) and "B" in s else json.dumps(s)
def rows(d): return {(r["model"], key(r["shape"]), r["mode"]): r for r in d["rows"] if r["mode"] != "streaming"}
ra, rb = rows(json.load(open(a_path))), rows(json.load(open(b_path)))
shapes, models = [], []
for m, s, _ in rb:
    shapes += [s] if s not in shapes else []
    models += [m] if m not in models else []
print("| model | mode | " + " | ".join(f"{s} {la} | {lb}" for s in shapes) + " |")
print("|---|---|" + "---|---|" * len(shapes))
for m in models:
    for mode in ("inference", "training"):
        cells = []
        for s in shapes:
            x, y = ra.get((m, s, mode)), rb.get((m, s, mode))
            cells.append(f"{x['ratio']:.2f}x ({x['ms']:.1f} ms) | {y['ratio']:.2f}x ({y['ms']:.1f} ms)" if x and y else " | ")
        print(f"| {m} | {mode} | " + " | ".join(cells) + " |")
