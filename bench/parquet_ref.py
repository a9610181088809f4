#!/usr/bin/env python3
"""pyarrow side of the Parquet benchmark: reads the rows hashtrend bench-parquet wrote (not timed),
then times pyarrow writing the same rows with the same settings (ZSTD level 1, dictionary on,
1 MiB data pages and dictionary page limit, row groups of the same row count as hashtrend's file).
Prints one JSON object."""
import json, os, resource, sys, time
import pyarrow.parquet as pq


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


src, dst = sys.argv[1], sys.argv[2]
meta = pq.ParquetFile(src).metadata
rg_rows = meta.row_group(0).num_rows
table = pq.read_table(src)
c0, w0 = cpu(), time.monotonic()
pq.write_table(table, dst, compression="zstd", compression_level=1, use_dictionary=True,
               row_group_size=rg_rows, data_page_size=1 << 20, dictionary_pagesize_limit=1 << 20,
               write_statistics=True)
wall, c = time.monotonic() - w0, cpu() - c0
back = pq.ParquetFile(dst).metadata
print(json.dumps({"rows": table.num_rows, "row_groups": back.num_row_groups, "row_group_rows": rg_rows,
                  "bytes": os.path.getsize(dst), "wall_s": wall, "cpu_s": c,
                  "rows_per_s": table.num_rows / wall, "rows_per_cpu_s": table.num_rows / c,
                  "source_row_groups": meta.num_row_groups,
                  "source_rows": meta.num_rows}))
