#!/usr/bin/env python3
"""Turns bench/run's raw measurements (bench-out/raw/*.json) into the printed table and results.json.
Sections that did not run are left out; a missing figure prints as '-'."""
import json, os, sys

raw, dest = sys.argv[1], sys.argv[2]


def load(name):
    p = os.path.join(raw, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        text = f.read().strip()
    if not text:
        return None
    if name.endswith(".jsonl"):
        return [json.loads(l) for l in text.splitlines()]
    return json.loads(text.splitlines()[-1])


def div(a, b):
    return a / b if a is not None and b else None


machine = load("machine.json") or {}
machine.update(load("machine_after.json") or {})
results = {"machine": machine}
rows = []  # (section, what, figure, unit, note)


def row(section, what, value, unit, note=""):
    rows.append((section, what, value, unit, note))


def target(ratio, goal):
    if ratio is None:
        return "-"
    return f"{'MET' if ratio >= goal else 'MISSED'} (target >= {goal:g})"


# 1. Hot path
hp = load("hotpath.jsonl")
if hp:
    posts = machine.get("sizes", {}).get("posts")
    stages = {s["stage"]: s for s in hp}
    size = stages["count"]["bytes"]
    tr, d1, dn, py, agree = (load(n) for n in ("trends.json", "duckdb1.json", "duckdbN.json", "python.json", "agreement.json"))
    count = stages["count"]
    sec = {"input_bytes": size, "posts": count["posts"], "stages": stages, "trends_command": tr, "duckdb_1_thread": d1,
           f"duckdb_{machine.get('nproc', 'all')}_threads": dn, "python": py, "agreement": agree}
    for st in ("decode", "extract", "count"):
        s = stages.get(st)
        if s:
            label = {"decode": "decode", "extract": "decode + extract", "count": "decode + extract + count"}[st]
            row("1 hot path", f"hashtrend bench-hotpath: {label}",
                s["mb_per_cpu_s"], "MB/s per core", f"{s['posts_per_cpu_s'] / 1e6:.2f} M posts/s per core")
    if tr:
        row("1 hot path", "hashtrend trends (whole command, JSON out)", div(size / 1e6, tr["cpu_s"]), "MB/s per core",
            f"wall {tr['wall_s']:.2f} s, cpu {tr['cpu_s']:.2f} s, {div(count['posts'], tr['cpu_s']) / 1e6:.2f} M posts/s")
    if d1:
        row("1 hot path", "DuckDB, 1 thread", d1["mb_per_cpu_s"], "MB/s per core", f"wall {d1['wall_s']:.2f} s, cpu {d1['cpu_s']:.2f} s")
    if dn:
        row("1 hot path", f"DuckDB, {dn['threads']} threads", dn["mb_per_wall_s"], "MB/s (wall)",
            f"wall {dn['wall_s']:.2f} s, cpu {dn['cpu_s']:.2f} s, {dn['mb_per_cpu_s']:.0f} MB/s per core")
    if py:
        row("1 hot path", "plain Python (json + dict)", py["mb_per_cpu_s"], "MB/s per core", f"wall {py['wall_s']:.2f} s")
    r1 = div(count["mb_per_cpu_s"], d1 and d1["mb_per_cpu_s"])
    sec["ratio_vs_duckdb_per_core"] = r1
    row("1 hot path", "engine / DuckDB, same core (CPU time)", r1, "x", target(r1, 2))
    if tr and d1:
        r1t = div(d1["cpu_s"], tr["cpu_s"])
        sec["ratio_trends_command_vs_duckdb_per_core"] = r1t
        row("1 hot path", "hashtrend trends / DuckDB 1 thread (CPU time)", r1t, "x", target(r1t, 2))
    if tr and dn:
        rN = div(dn["wall_s"], tr["wall_s"])
        sec["ratio_trends_1_core_vs_duckdb_all_cores_wall"] = rN
        row("1 hot path", f"hashtrend trends (1 core) / DuckDB {dn['threads']} threads (wall)", rN, "x", "")
    row("1 hot path", "engine MB/s per core vs 400 MB/s", count["mb_per_cpu_s"], "MB/s", target(count["mb_per_cpu_s"] / 400, 1))
    if agree:
        for k, v in agree.items():
            if isinstance(v, dict):
                row("1 hot path", f"same top-50 as {k}", v["identical"], "windows", f"of {v['common']} common ({agree['engine_windows']} ours, {v['windows']} theirs)")
    results["hotpath"] = sec

# 3. ingestd vs kcat -P
ing, kp, broker = load("ingestd.json"), load("kcat_produce.json"), load("broker.json")
posts = machine.get("sizes", {}).get("posts")
if ing:
    sec = {"ingestd": ing, "kcat_produce": kp, "broker": broker}
    ri = div(posts, ing["wall_s"])
    row("3 ingest", f"ingestd --source replay ({broker['partitions']} partitions)", ri, "posts/s", f"wall {ing['wall_s']:.2f} s, cpu {ing['cpu_s']:.2f} s, exit {ing['exit']}")
    if kp:
        rk = div(posts, kp["wall_s"])
        row("3 ingest", "kcat -P, same producer settings (idempotent, zstd, linger 5ms)", rk, "posts/s", f"wall {kp['wall_s']:.2f} s, cpu {kp['cpu_s']:.2f} s, exit {kp['exit']}")
        kq = load("kcat_produce_plain.json")
        sec["kcat_produce_plain"] = kq
        if kq:
            row("3 ingest", "kcat -P, librdkafka defaults (no compression)", div(posts, kq["wall_s"]), "posts/s", f"wall {kq['wall_s']:.2f} s, cpu {kq['cpu_s']:.2f} s, exit {kq['exit']}")
        sec["ratio"] = div(ri, rk)
        row("3 ingest", "ingestd / kcat -P (same settings)", sec["ratio"], "x", target(sec["ratio"], 0.8))
    results["ingest"] = sec

# 2. trendd vs kcat -C
kc, td = load("kcat_consume.json"), load("trendd.json")
if kc:
    with open(os.path.join(raw, "kcat_consume.out")) as f:
        n = int("".join(ch for ch in f.read() if ch.isdigit()) or 0)
    sec = {"kcat_consume": kc, "records": n, "trendd": td}
    rk = div(n, kc["wall_s"])
    row("2 trendd", "kcat -C -o beginning -e (| wc -l)", rk, "posts/s", f"{n} records, wall {kc['wall_s']:.2f} s, cpu {kc['cpu_s']:.2f} s")
    if td and td.get("done_s"):
        rt = div(td["posts"], td["done_s"])
        row("2 trendd", "trendd, start to last post counted", rt, "posts/s",
            f"ready {td['ready_s'] or 0:.2f} s, done {td['done_s']:.2f} s, cpu {td['cpu_s']:.2f} s, rss {td['max_rss_kb'] >> 10} MiB")
        sec["ratio_start_to_done"] = div(rt, rk)
        if td.get("first_status_s") is not None and td["done_s"] > td["first_status_s"]:
            rs = div(td["posts"] - td["first_posts"], td["done_s"] - td["first_status_s"])
            row("2 trendd", "trendd, steady (first progress status to done)", rs, "posts/s",
                f"{td['posts'] - td['first_posts']} posts in {td['done_s'] - td['first_status_s']:.2f} s (excludes the group join)")
            sec["ratio_steady"] = div(rs, rk)
            row("2 trendd", "trendd steady / kcat -C", sec["ratio_steady"], "x", target(sec["ratio_steady"], 0.8))
        row("2 trendd", "trendd start-to-done / kcat -C", sec["ratio_start_to_done"], "x", target(sec["ratio_start_to_done"], 0.8))
    elif td:
        row("2 trendd", "trendd", None, "", f"did not finish: {td.get('posts')} of {td.get('target')} posts")
    results["trendd"] = sec

# 4. Peak RSS
ex, bd, em = load("rss_exact.json"), load("rss_bounded.json"), load("rss_empty.json")
if ex:
    u = machine.get("sizes", {}).get("unique_tags")
    sec = {"exact": ex, "bounded_10000": bd, "empty_input": em}
    row("4 memory", f"peak RSS, {u} distinct tags, exact", ex["max_rss_kb"] / 1024, "MiB", f"wall {ex['wall_s']:.2f} s")
    if bd:
        row("4 memory", f"peak RSS, {u} distinct tags, --max-tags 10000", bd["max_rss_kb"] / 1024, "MiB", f"wall {bd['wall_s']:.2f} s")
    sm = load("rss_sametag.json")
    sec["same_tag"] = sm
    if sm:
        row("4 memory", f"peak RSS, {u} posts with one shared tag", sm["max_rss_kb"] / 1024, "MiB", f"wall {sm['wall_s']:.2f} s")
    if em:
        row("4 memory", "peak RSS, empty input (baseline)", em["max_rss_kb"] / 1024, "MiB", "")
        per = div((ex["max_rss_kb"] - em["max_rss_kb"]) * 1024, u)
        sec["bytes_per_distinct_tag_exact"] = per
        row("4 memory", "exact: bytes per post with a distinct tag (over empty input)", per, "B", "")
        if sm:
            per_tag = div((ex["max_rss_kb"] - sm["max_rss_kb"]) * 1024, u)
            sec["bytes_per_distinct_tag_over_same_tag"] = per_tag
            row("4 memory", "exact: bytes per distinct tag (over one shared tag)", per_tag, "B", "")
    results["memory"] = sec

# 5. Parquet
po, pa = load("parquet_ours.json"), load("parquet_pyarrow.json")
if po:
    sec = {"hashtrend": po, "pyarrow": pa}
    row("5 parquet", f"hashtrend ParquetWriter, {po['rows']} rows", po["rows_per_s"], "rows/s",
        f"{po['bytes'] / 1e6:.1f} MB, {po['row_groups']} row groups, cpu {po['encode_cpu_s']:.2f} s")
    if pa:
        row("5 parquet", "pyarrow write_table, same rows", pa["rows_per_s"], "rows/s",
            f"{pa['bytes'] / 1e6:.1f} MB, {pa['row_groups']} row groups, cpu {pa['cpu_s']:.2f} s")
        sec["speed_ratio"] = div(po["rows_per_s"], pa["rows_per_s"])
        sec["size_ratio"] = div(po["bytes"], pa["bytes"])
        row("5 parquet", "hashtrend / pyarrow rows/s", sec["speed_ratio"], "x", target(sec["speed_ratio"], 1))
        row("5 parquet", "hashtrend / pyarrow file size", sec["size_ratio"], "x",
            "-" if sec["size_ratio"] is None else f"{'MET' if sec['size_ratio'] <= 1.1 else 'MISSED'} (target <= 1.1)")
    results["parquet"] = sec

results["table"] = [dict(zip(("section", "what", "value", "unit", "note"), r)) for r in rows]
with open(dest, "w") as f:
    json.dump(results, f, indent=2, ensure_ascii=False)


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


print(f"\nHashtrend benchmarks  {machine.get('date', '')}  {machine.get('cpu', '')}, {machine.get('nproc')} cores; "
      f"load before {machine.get('load_before')}, after {machine.get('load_after')} (shared machine)")
print(f"swift {machine.get('swift', '')}; duckdb {machine.get('duckdb')}, pyarrow {machine.get('pyarrow')}, kcat {machine.get('kcat')}")
w1 = max(len(r[1]) for r in rows) if rows else 10
last = None
for s, what, v, unit, note in rows:
    if s != last:
        print(f"\n[{s}]")
        last = s
    print(f"  {what:<{w1}}  {fmt(v):>12} {unit:<14} {note}")
print(f"\nfigures also in {dest}")
