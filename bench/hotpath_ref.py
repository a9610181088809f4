#!/usr/bin/env python3
"""Reference implementations of the hot path for bench/run: the same windowed top-K over the same
X API v2 file, by DuckDB (SQL) and by plain Python (json + dict).

Windows: hopping, size W, slide S, aligned to the epoch ([k*S, k*S+W)); counting key =
lower(NFC(tag)), each at most once per post; source-supplied hashtags (entities.hashtags of the post, of the original for a
retweet, of note_tweet when present); top K per window by count desc, tag asc.

Prints one JSON object: wall and CPU seconds (getrusage of this process, all threads) of the query
alone, and writes the windows as JSON lines {"window_start": ms, "top": [[tag, count], ...]} to --out
so bench/run can check that every implementation found the same trends.
"""
import argparse, json, os, resource, sys, time, unicodedata


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


TAG = "STRUCT(tag VARCHAR)[]"
TWEET = (f"STRUCT(id VARCHAR, created_at VARCHAR, entities STRUCT(hashtags {TAG}), "
         f"note_tweet STRUCT(entities STRUCT(hashtags {TAG})), "
         f"referenced_tweets STRUCT(type VARCHAR, id VARCHAR)[])")


def duckdb_windows(path, w_ms, s_ms, k, threads):
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    con.execute("SET preserve_insertion_order = false")
    n = w_ms // s_ms
    sql = f"""
    WITH raw AS (
      SELECT data, includes FROM read_json('{path}', format='newline_delimited',
             columns={{'data': '{TWEET}', 'includes': 'STRUCT(tweets {TWEET}[])'}})
    ), posts AS (
      SELECT epoch_ms(CAST(data.created_at AS TIMESTAMPTZ)) AS t,
             CASE WHEN data.referenced_tweets[1].type = 'retweeted' AND len(includes.tweets) > 0
                  THEN coalesce(includes.tweets[1].note_tweet.entities.hashtags, includes.tweets[1].entities.hashtags)
                  ELSE coalesce(data.note_tweet.entities.hashtags, data.entities.hashtags) END AS tags
      FROM raw
    ), tagged AS (
      -- each tag at most once per post, as the engine counts
      SELECT t, unnest(list_distinct(list_transform(tags, lambda x: lower(nfc_normalize(x.tag))))) AS tag FROM posts
    ), panes AS (
      SELECT (t // {s_ms}) * {s_ms} AS pane, tag, count(*) AS c FROM tagged GROUP BY ALL
    ), windows AS (
      SELECT pane - i * {s_ms} AS window_start, tag, sum(c) AS c
      FROM panes, range({n}) r(i) GROUP BY ALL
    )
    SELECT window_start, tag, c FROM (
      SELECT *, row_number() OVER (PARTITION BY window_start ORDER BY c DESC, tag ASC) AS rn FROM windows
    ) WHERE rn <= {k} ORDER BY window_start, rn
    """
    rows = con.execute(sql).fetchall()
    out = {}
    for ws, tag, c in rows:
        out.setdefault(int(ws), []).append([tag, int(c)])
    return out


def python_windows(path, w_ms, s_ms, k):
    from datetime import datetime
    panes = {}
    n = w_ms // s_ms
    nfc = unicodedata.normalize
    epoch_cache = {}
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            d = obj["data"]
            src = d
            for r in d.get("referenced_tweets") or ():
                if r.get("type") == "retweeted":
                    for o in (obj.get("includes") or {}).get("tweets") or ():
                        if o.get("id") == r.get("id"):
                            src = o
            ent = (src.get("note_tweet") or src).get("entities") or {}
            created = d["created_at"]
            sec = created[:19]
            base = epoch_cache.get(sec)
            if base is None:
                base = int(datetime.fromisoformat(sec + "+00:00").timestamp()) * 1000
                if len(epoch_cache) > 100000:
                    epoch_cache.clear()
                epoch_cache[sec] = base
            t = base + int(created[20:23])
            pane = panes.setdefault(t // s_ms * s_ms, {})
            for key in {nfc("NFC", h["tag"]).lower() for h in ent.get("hashtags") or ()}:
                pane[key] = pane.get(key, 0) + 1
    windows = {}
    for p, counts in panes.items():
        for i in range(n):
            wdict = windows.setdefault(p - i * s_ms, {})
            for tag, c in counts.items():
                wdict[tag] = wdict.get(tag, 0) + c
    out = {}
    for ws, counts in windows.items():
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        out[ws] = [[t, c] for t, c in top]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl", choices=["duckdb", "python"])
    ap.add_argument("file")
    ap.add_argument("--window-ms", type=int, default=60000)
    ap.add_argument("--slide-ms", type=int, default=10000)
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.impl == "duckdb":
        import duckdb  # imported before the clock starts
    size = os.path.getsize(a.file)
    c0, w0 = cpu(), time.monotonic()
    if a.impl == "duckdb":
        res = duckdb_windows(a.file, a.window_ms, a.slide_ms, a.top, a.threads)
    else:
        res = python_windows(a.file, a.window_ms, a.slide_ms, a.top)
    wall, c = time.monotonic() - w0, cpu() - c0
    if a.out:
        with open(a.out, "w") as f:
            for ws in sorted(res):
                f.write(json.dumps({"window_start": ws, "top": res[ws]}, ensure_ascii=False) + "\n")
    print(json.dumps({"impl": a.impl, "threads": a.threads, "bytes": size, "wall_s": wall, "cpu_s": c,
                      "windows": len(res), "mb_per_cpu_s": size / 1e6 / c, "mb_per_wall_s": size / 1e6 / wall}))


if __name__ == "__main__":
    main()
