#!/usr/bin/env python3
"""Reads Parquet files written by Hashtrend's Swift writer with pyarrow, DuckDB and fastparquet and
compares values, types and statistics with the expectations the Swift test wrote next to each file.

Usage:
  readback.py <dir>                      every <dir>/*.expected.json (each names its .parquet file)
  readback.py --table <root> <expected>  the Hive layout <root>/trends/**/*.parquet against one expectation

Prints a JSON report on stdout ({"files", "checks", "mismatches": [...]}); exit status 1 on any mismatch.
Expected values: ints as JSON numbers, strings as strings, doubles as "0x<16 hex digits>" bit patterns
(JSON has no NaN or -0.0), null as null. Statistics are recomputed here from the expected values and
the row-group sizes, so they are checked independently of the writer.
"""
import glob
import json
import math
import os
import struct
import sys

import duckdb
import fastparquet
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

mismatches = []
checks = 0


def check(cond, where, msg):
    global checks
    checks += 1
    if not cond:
        mismatches.append(f"{where}: {msg}")
    return cond


def dbl(v):
    """Expected double from its bit pattern."""
    return struct.unpack("<d", bytes.fromhex(v[2:])[::-1])[0]


def bits(x):
    return struct.pack("<d", x).hex()


def decode_expected(col, values):
    if col["physical"] == "DOUBLE":
        return [None if v is None else dbl(v) for v in values]
    return values


def same(a, b, physical):
    """Exact equality; doubles compared bit-for-bit except that any NaN equals any NaN."""
    if a is None or b is None:
        return a is None and b is None
    if physical == "DOUBLE":
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return bits(a) == bits(b)
    return a == b


def compare_column(where, col, got, want):
    phys = col["physical"]
    if not check(len(got) == len(want), where, f"{col['name']}: {len(got)} values, expected {len(want)}"):
        return
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not same(g, w, phys)]
    if bad:
        i = bad[0]
        g, w = got[i], want[i]
        show = lambda v: (v[:60] + f"...({len(v)} chars)") if isinstance(v, str) and len(v) > 60 else v
        check(False, where, f"{col['name']}: {len(bad)} differing values, first at row {i}: got {show(g)!r} expected {show(w)!r}")
    else:
        check(True, where, "")


def expected_stats(col, vals):
    """min, max, null_count per parquet.thrift's ordering rules."""
    nulls = sum(1 for v in vals if v is None)
    present = [v for v in vals if v is not None]
    phys = col["physical"]
    if phys == "DOUBLE":
        present = [v for v in present if not math.isnan(v)]
    if not present:
        return None, None, nulls
    if phys == "BYTE_ARRAY":
        enc = [v.encode("utf-8") for v in present]
        return min(enc), max(enc), nulls
    mn, mx = min(present), max(present)
    if phys == "DOUBLE":
        if mn == 0:
            mn = -0.0
        if mx == 0:
            mx = 0.0
    return mn, mx, nulls


def check_pyarrow(where, exp, path, values):
    pf = pq.ParquetFile(path)
    md = pf.metadata
    cols = exp["columns"]
    check(md.num_rows == exp["num_rows"], where, f"pyarrow num_rows {md.num_rows} != {exp['num_rows']}")
    check(md.num_columns == len(cols), where, f"pyarrow num_columns {md.num_columns}")
    if "created_by_prefix" in exp:
        check((md.created_by or "").startswith(exp["created_by_prefix"]), where, f"created_by {md.created_by!r}")
    kv = {k.decode(): v.decode() for k, v in (md.metadata or {}).items()}
    for k, v in exp.get("key_value_metadata", {}).items():
        check(kv.get(k) == v, where, f"key_value_metadata[{k}] = {kv.get(k)!r}, expected {v!r}")
    if "min_row_groups" in exp:
        check(md.num_row_groups >= exp["min_row_groups"], where, f"{md.num_row_groups} row groups, expected >= {exp['min_row_groups']}")
    if "num_row_groups" in exp:
        check(md.num_row_groups == exp["num_row_groups"], where, f"{md.num_row_groups} row groups, expected {exp['num_row_groups']}")
    for j, col in enumerate(cols):
        sc = md.schema.column(j)
        check(sc.name == col["name"], where, f"column {j} name {sc.name!r}")
        check(sc.physical_type == col["physical"], where, f"{col['name']}: physical {sc.physical_type}")
        check(sc.max_definition_level == (1 if col["repetition"] == "OPTIONAL" else 0), where,
              f"{col['name']}: max_definition_level {sc.max_definition_level}")
        lt = str(sc.logical_type)
        if col.get("logical") == "string":
            check(lt == "String" and sc.converted_type == "UTF8", where, f"{col['name']}: logical {lt} converted {sc.converted_type}")
        elif col.get("logical") == "timestamp_ms_utc":
            check("isAdjustedToUTC=true" in lt and "milliseconds" in lt and sc.converted_type == "TIMESTAMP_MILLIS",
                  where, f"{col['name']}: logical {lt} converted {sc.converted_type}")
        else:
            check(lt == "None", where, f"{col['name']}: unexpected logical type {lt}")
    # Arrow types
    table = pf.read()
    arrow_types = {"INT32": pa.int32(), "INT64": pa.int64(), "DOUBLE": pa.float64(), "BYTE_ARRAY": pa.string()}
    for col in cols:
        f = table.schema.field(col["name"])
        want = pa.timestamp("ms", tz="UTC") if col.get("logical") == "timestamp_ms_utc" else arrow_types[col["physical"]]
        check(f.type == want, where, f"{col['name']}: arrow type {f.type}, expected {want}")
        check(f.nullable == (col["repetition"] == "OPTIONAL") or col["repetition"] == "OPTIONAL", where, f"{col['name']}: nullable {f.nullable}")
        arr = table.column(col["name"])
        if col.get("logical") == "timestamp_ms_utc":
            arr = pc.cast(arr, pa.int64())
        compare_column(where + " [pyarrow]", col, arr.to_pylist(), values[col["name"]])
    # statistics, recomputed from the expected values per row group
    start = 0
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        n = rg.num_rows
        for j, col in enumerate(cols):
            cm = rg.column(j)
            if "codec" in exp:
                check(cm.compression == exp["codec"], where, f"rg {i} {col['name']}: codec {cm.compression}")
            enc = set(cm.encodings)
            d = exp.get("dictionary", {}).get(col["name"])
            if d == "all":
                check("RLE_DICTIONARY" in enc and cm.has_dictionary_page, where, f"rg {i} {col['name']}: encodings {enc}")
            elif d == "none":
                check("RLE_DICTIONARY" not in enc and not cm.has_dictionary_page, where, f"rg {i} {col['name']}: encodings {enc}")
            elif d == "fallback" and i == 0:
                check({"RLE_DICTIONARY", "PLAIN"} <= enc, where, f"rg {i} {col['name']}: encodings {enc} (expected fallback)")
            vals = values[col["name"]][start:start + n]
            mn, mx, nulls = expected_stats(col, vals)
            st = cm.statistics
            if not check(st is not None, where, f"rg {i} {col['name']}: no statistics"):
                continue
            check(st.null_count == nulls, where, f"rg {i} {col['name']}: null_count {st.null_count}, expected {nulls}")
            if mn is None:
                check(not st.has_min_max, where, f"rg {i} {col['name']}: min/max present for no values")
                continue
            if not check(st.has_min_max, where, f"rg {i} {col['name']}: min/max missing"):
                continue
            gmn, gmx = st.min_raw, st.max_raw
            if col["physical"] == "BYTE_ARRAY":
                gmn = gmn.encode() if isinstance(gmn, str) else bytes(gmn)
                gmx = gmx.encode() if isinstance(gmx, str) else bytes(gmx)
            check(same(gmn, mn, col["physical"]), where, f"rg {i} {col['name']}: min {short(gmn)} expected {short(mn)}")
            check(same(gmx, mx, col["physical"]), where, f"rg {i} {col['name']}: max {short(gmx)} expected {short(mx)}")
            if col["physical"] == "DOUBLE" and isinstance(mn, float):
                check(bits(gmn) == bits(mn) and bits(gmx) == bits(mx), where,
                      f"rg {i} {col['name']}: zero signs min {gmn!r} max {gmx!r}")
        start += n
    check(start == exp["num_rows"], where, f"row groups sum to {start} rows")


def short(v):
    if isinstance(v, (bytes, str)) and len(v) > 40:
        return repr(v[:40]) + f"...({len(v)})"
    return repr(v)


def duck_expr(col):
    q = '"' + col["name"].replace('"', '""') + '"'
    if col.get("logical") == "timestamp_ms_utc":
        return f"epoch_ms({q})"
    return q


def check_duckdb(where, exp, path, values, con=None):
    con = con or duckdb.connect()
    cols = exp["columns"]
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    types = {r[0]: r[1] for r in desc}
    want = {"INT32": "INTEGER", "INT64": "BIGINT", "DOUBLE": "DOUBLE", "BYTE_ARRAY": "VARCHAR"}
    for col in cols:
        w = "TIMESTAMP WITH TIME ZONE" if col.get("logical") == "timestamp_ms_utc" else want[col["physical"]]
        check(types.get(col["name"]) == w, where, f"duckdb type of {col['name']}: {types.get(col['name'])}, expected {w}")
    sel = ", ".join(duck_expr(c) for c in cols)
    rows = con.execute(f"SELECT {sel} FROM read_parquet(?)", [path]).fetchall()
    check(len(rows) == exp["num_rows"], where, f"duckdb rows {len(rows)}")
    for j, col in enumerate(cols):
        compare_column(where + " [duckdb]", col, [r[j] for r in rows], values[col["name"]])


def check_fastparquet(where, exp, path, values):
    pf = fastparquet.ParquetFile(path)
    df = pf.to_pandas()
    check(len(df) == exp["num_rows"], where, f"fastparquet rows {len(df)}")
    for col in exp["columns"]:
        s = df[col["name"]]
        want = values[col["name"]]
        if col["name"] in exp.get("fastparquet_unreadable", []):
            # fastparquet (2026.9) returns nulls for BYTE_ARRAY chunks that fall back from dictionary to
            # PLAIN mid-chunk; it does the same with pyarrow's files. Checked by pyarrow and DuckDB only.
            continue
        if col.get("logical") == "timestamp_ms_utc":
            # fastparquet only makes timestamps tz-aware from pandas metadata; the instants are UTC either way.
            check(str(s.dtype).startswith("datetime64[ms"), where, f"fastparquet dtype of {col['name']}: {s.dtype}")
            naive = s.dt.tz_convert(None) if getattr(s.dt, "tz", None) is not None else s
            got = [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                   for v in [None if x != x else x for x in naive.astype("datetime64[ms]").astype("int64").tolist()]]
            mask = s.isna().tolist()
            got = [None if m else g for g, m in zip(got, mask)]
        else:
            mask = s.isna().tolist()
            got = [None if m else v for v, m in zip(s.tolist(), mask)]
            if col["physical"] in ("INT32", "INT64") and any(isinstance(v, float) for v in got):
                # fastparquet widens nullable ints to float64; compare at that precision.
                want = [None if v is None else float(v) for v in want]
            if col["physical"] == "DOUBLE":
                # pandas has no null distinct from NaN for float64.
                want = [float("nan") if v is None else v for v in want]
                got = [float("nan") if v is None else v for v in got]
        compare_column(where + " [fastparquet]", col, got, want)


def check_file(exp_path):
    with open(exp_path, encoding="utf-8") as f:
        exp = json.load(f)
    path = os.path.join(os.path.dirname(exp_path), exp["file"])
    where = os.path.basename(path)
    values = {c["name"]: decode_expected(c, exp["values"][c["name"]]) for c in exp["columns"]}
    for name, fn in (("pyarrow", check_pyarrow), ("duckdb", check_duckdb), ("fastparquet", check_fastparquet)):
        if name in exp.get("skip_readers", []):
            continue
        try:
            fn(where, exp, path, values)
        except Exception as e:  # a reader refusing the file is a mismatch, not a crash
            check(False, where, f"{name} failed: {type(e).__name__}: {e}")


def check_table(root, exp_path):
    """The trends layout: glob with Hive partitioning, dt/hour derived from window_end, no stray files."""
    with open(exp_path, encoding="utf-8") as f:
        exp = json.load(f)
    where = "table"
    files = sorted(glob.glob(os.path.join(root, "trends", "**", "*.parquet"), recursive=True))
    check(len(files) == exp["num_files"], where, f"{len(files)} files, expected {exp['num_files']}")
    values = {c["name"]: decode_expected(c, exp["values"][c["name"]]) for c in exp["columns"]}
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    cols = exp["columns"]
    sel = ", ".join(duck_expr(c) for c in cols)
    q = (f"SELECT {sel}, dt, hour, strftime(window_end, '%Y-%m-%d') AS wdt, CAST(hour(window_end) AS INTEGER) AS wh "
         f"FROM read_parquet(?, hive_partitioning=true) ORDER BY window_end, rank")
    rows = con.execute(q, [os.path.join(root, "trends", "**", "*.parquet")]).fetchall()
    check(len(rows) == exp["num_rows"], where, f"duckdb glob rows {len(rows)}, expected {exp['num_rows']}")
    n = len(cols)
    for j, col in enumerate(cols):
        compare_column(where + " [duckdb glob]", col, [r[j] for r in rows], values[col["name"]])
    for r in rows:
        dt, hour, wdt, wh = r[n], r[n + 1], r[n + 2], r[n + 3]
        if not check(str(dt) == wdt and int(hour) == wh, where, f"partition dt={dt} hour={hour} but window_end is {wdt} {wh}h"):
            break
    # pyarrow dataset with hive partitioning sees the same rows
    import pyarrow.dataset as ds
    d = ds.dataset(os.path.join(root, "trends"), format="parquet", partitioning="hive")
    t = d.to_table()
    check(t.num_rows == exp["num_rows"], where, f"pyarrow dataset rows {t.num_rows}")
    check("dt" in t.schema.names and "hour" in t.schema.names, where, f"pyarrow dataset columns {t.schema.names}")
    for path in files:
        for k, v in exp.get("file_metadata", {}).get(os.path.basename(path), {}).items():
            md = pq.ParquetFile(path).metadata.metadata or {}
            got = md.get(k.encode(), b"").decode()
            check(got == v, os.path.basename(path), f"key_value_metadata[{k}] = {got!r}, expected {v!r}")
        check_fastparquet(os.path.basename(path), {"num_rows": pq.ParquetFile(path).metadata.num_rows, "columns": []}, path, {})


def main():
    args = sys.argv[1:]
    if args and args[0] == "--table":
        check_table(args[1], args[2])
        nfiles = 1
    else:
        exps = sorted(glob.glob(os.path.join(args[0], "*.expected.json")))
        check(len(exps) > 0, args[0], "no *.expected.json files")
        for e in exps:
            check_file(e)
        nfiles = len(exps)
    print(json.dumps({"files": nfiles, "checks": checks, "mismatches": mismatches,
                      "versions": {"pyarrow": pa.__version__, "duckdb": duckdb.__version__,
                                   "fastparquet": fastparquet.__version__}}))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
