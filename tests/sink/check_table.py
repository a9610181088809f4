#!/usr/bin/env python3
"""Checks a trends table written by sinkd or `hashtrend sink` against the window records that went in.

Usage: check_table.py --root DIR --expected RECORDS.jsonl [--no-tmp]

RECORDS.jsonl holds window records (the trends topic's JSON lines); the final ones are the expectation.
Checks, each reported as a mismatch:
  - every file under <root>/trends/ has a committed name (dt=/hour=/trends+P+S+E.parquet), is readable
    by pyarrow, and its footer (hashtrend.partition/start_offset/end_offset/windows/last_window_end)
    agrees with its name and rows; its dt=/hour= directory is the hour of each row's window_end
    (final windows without entries, e.g. posts=0, have no rows: the footer may count them, and its
    last_window_end may be one of them, when the expected records hold such windows);
  - the offset ranges of one partition's files never overlap;
  - files outside trends/ are temporary files under _tmp/ only (and none at all with --no-tmp);
  - DuckDB over read_parquet('<root>/trends/**/*.parquet', hive_partitioning=true): no (window_end, rank)
    twice, and the rows equal the expected ones (window_start, window_end, rank, hashtag=tag, display,
    count, score, posts, emitted_at), compared exactly.
Prints a JSON report on stdout; exit status 1 on any mismatch.
"""
import argparse
import calendar
import json
import os
import re
import sys

import duckdb
import pyarrow.parquet as pq

NAME = re.compile(r"^trends/dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/trends\+(\d{5})\+(\d{20})\+(\d{20})\.parquet$")
TMP = re.compile(r"^_tmp/trends\+\d+\+\d+\+\d+\.[0-9a-f]+\.parquet\.tmp$")
TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")

mismatches = []
empty_windows = set()  # ends of expected final windows without entries (no rows in the table)


def bad(msg):
    mismatches.append(msg)


def millis(text):
    m = TS.match(text)
    if not m:
        raise ValueError(f"not RFC 3339 UTC: {text!r}")
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "0").ljust(3, "0")[:3]
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + int(frac)


def expected_rows(path):
    rows, windows = [], set()
    global empty_windows
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            w = json.loads(line)
            if not w.get("final"):
                continue
            ws, we, em = millis(w["window_start"]), millis(w["window_end"]), millis(w["emitted_at"])
            windows.add(we)
            if not w["top"]:
                empty_windows.add(we)
            for e in w["top"]:
                rows.append((ws, we, int(e["rank"]), e["tag"], e["display"], int(e["count"]), float(e["score"]),
                             int(w["posts"]), em))
    return rows, windows


def check_files(root, no_tmp):
    files, tmp, ranges = 0, 0, {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), root).replace(os.sep, "/")
            if rel.startswith("trends/"):
                files += 1
                check_committed(root, rel, ranges)
            elif TMP.match(rel):
                tmp += 1
                if no_tmp:
                    bad(f"{rel}: temporary file left over")
            else:
                bad(f"{rel}: neither a committed file under trends/ nor a temporary file under _tmp/")
    for p, rs in ranges.items():
        rs.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(rs, rs[1:]):
            if s2 <= e1:
                bad(f"partition {p}: offset ranges overlap: {n1} and {n2}")
    return files, tmp, {str(p): len(rs) for p, rs in ranges.items()}


def check_committed(root, rel, ranges):
    m = NAME.match(rel)
    if not m:
        bad(f"{rel}: not a committed file name")
        return
    y, mo, d, h, p, s, e = (int(x) for x in m.groups())
    hour_start = calendar.timegm((y, mo, d, h, 0, 0, 0, 0, 0)) * 1000
    if s > e:
        bad(f"{rel}: start offset after end offset")
    ranges.setdefault(p, []).append((s, e, rel))
    try:
        pf = pq.ParquetFile(os.path.join(root, rel))
        table = pf.read()
    except Exception as ex:  # a partial or corrupt file under a final name
        bad(f"{rel}: unreadable by pyarrow: {ex}")
        return
    kv = {k.decode(): v.decode() for k, v in (pf.metadata.metadata or {}).items()}
    for key, want in (("hashtrend.partition", p), ("hashtrend.start_offset", s), ("hashtrend.end_offset", e)):
        if kv.get(key) is None or int(kv[key]) != want:
            bad(f"{rel}: footer {key}={kv.get(key)!r}, name says {want}")
    if str(table.schema.field("window_end").type) != "timestamp[ms, tz=UTC]":
        bad(f"{rel}: window_end is {table.schema.field('window_end').type}, not timestamp[ms, tz=UTC]")
    ends = table.column("window_end").cast("int64").to_pylist()
    footer_windows = kv.get("hashtrend.windows")
    if footer_windows is None or not (len(set(ends)) <= int(footer_windows) <= len(set(ends)) + len(empty_windows)):
        bad(f"{rel}: footer hashtrend.windows={footer_windows!r}, rows hold {len(set(ends))} windows"
            f" (and {len(empty_windows)} expected windows have no rows)")
    if ends:
        last = millis(kv["hashtrend.last_window_end"]) if "hashtrend.last_window_end" in kv else None
        if last is None or not (last == max(ends) or (last > max(ends) and last in empty_windows)):
            bad(f"{rel}: footer last_window_end {kv.get('hashtrend.last_window_end')!r} is neither the newest row's"
                f" nor a later window without entries")
        if any(not (hour_start <= x < hour_start + 3_600_000) for x in ends):
            bad(f"{rel}: a row's window_end is outside dt={y:04d}-{mo:02d}-{d:02d}/hour={h:02d}")


def check_rows(root, want, want_windows):
    glob = os.path.join(root, "trends", "**", "*.parquet")
    con = duckdb.connect()
    src = f"read_parquet('{glob}', hive_partitioning=true)"
    import glob as g
    if not g.glob(glob, recursive=True):
        got = []
    else:
      try:
        dups = con.execute(f"select window_end, rank, count(*) from {src} group by all having count(*) > 1 "
                           "order by 1, 2 limit 5").fetchall()
        for d in dups:
            bad(f"(window_end={d[0]}, rank={d[1]}) appears {d[2]} times")
        got = con.execute(f"select epoch_ms(window_start), epoch_ms(window_end), rank, hashtag, display, count, score, "
                          f"posts, epoch_ms(emitted_at) from {src}").fetchall()
      except duckdb.Error as ex:
        bad(f"DuckDB cannot read the table: {ex}")
        return 0, 0
    got = [tuple(r) for r in got]
    gs, ws = sorted(got), sorted(want)
    if gs != ws:
        missing = sorted(set(ws) - set(gs))
        extra = sorted(set(gs) - set(ws))
        bad(f"table rows differ from the final windows: {len(got)} rows vs {len(want)} expected; "
            f"{len(missing)} missing (first {missing[:2]}), {len(extra)} unexpected (first {extra[:2]})")
    return len(got), len({r[1] for r in got})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--no-tmp", action="store_true")
    a = ap.parse_args()
    want, want_windows = expected_rows(a.expected)
    files, tmp, per_partition = check_files(a.root, a.no_tmp)
    rows, windows = check_rows(a.root, want, want_windows)
    print(json.dumps({"files": files, "tmp_files": tmp, "files_per_partition": per_partition, "rows": rows,
                      "windows": windows, "expected_rows": len(want), "expected_windows": len(want_windows),
                      "mismatches": mismatches[:20], "mismatch_count": len(mismatches)}))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
