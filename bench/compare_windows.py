#!/usr/bin/env python3
"""Checks that implementations of the hot path found the same trends: `hashtrend trends` output
(the trends topic's records) against hotpath_ref.py --out files. Prints one JSON object."""
import json, sys
from datetime import datetime


def load_engine(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ws = int(datetime.fromisoformat(r["window_start"].replace("Z", "+00:00")).timestamp() * 1000)
            out[ws] = [[e["tag"], e["count"]] for e in r["top"]]
    return out


def load_ref(path):
    with open(path, encoding="utf-8") as f:
        return {r["window_start"]: r["top"] for r in map(json.loads, f)}


engine = load_engine(sys.argv[1])
result = {"engine_windows": len(engine)}
for ref_path in sys.argv[2:]:
    ref = load_ref(ref_path)
    common = sorted(set(engine) & set(ref))
    same = sum(1 for ws in common if engine[ws] == ref[ws])
    diff = [ws for ws in common if engine[ws] != ref[ws]][:1]
    name = ref_path.rsplit("/", 1)[-1].split(".")[0]
    result[name] = {"windows": len(ref), "common": len(common), "identical": same}
    if diff:
        e, r = engine[diff[0]], ref[diff[0]]
        i = next((j for j in range(min(len(e), len(r))) if e[j] != r[j]), min(len(e), len(r)))
        result[name]["first_difference"] = {"window_start": diff[0], "rank": i + 1,
                                            "engine": e[i] if i < len(e) else None,
                                            "ref": r[i] if i < len(r) else None}
print(json.dumps(result, ensure_ascii=False))
