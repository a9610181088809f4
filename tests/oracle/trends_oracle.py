#!/usr/bin/env python3
"""Independent computation of Hashtrend's final trend windows with DuckDB SQL.

Input: canonical posts (the `tweets` topic's records), one JSON object per line, read as ONE input
partition in file order (what `hashtrend trends` does). Output: one JSON line per window that holds a
counted post or a late drop, ordered by window end:

  {"window_start": ms, "window_end": ms, "posts": n, "distinct": n, "late_dropped": n,
   "top": [{"tag": key, "display": spelling, "count": n, "rank": r}, ...]}

Semantics (docs/windows.md, DESIGN.md), written from the documents, not from the engine's code:
- hopping windows [k*S, k*S+W) aligned to the epoch; a post counts in every window holding its time;
- key = NFC(lowercase(NFD(tag))); a post counts a key once (first occurrence and its spelling);
- a record is late iff t < max(t of the earlier records) - L; late records count in late_dropped of the
  window ending at (floor((max - L) / S) + 1) * S, max being the one before the record;
- display = most frequent spelling in the window, ties to the smallest UTF-8 bytes;
- top: count desc, then key asc in byte order, at most K entries, rank 1-based.
Duplicate post ids are not modelled: the script refuses input that has any (exit 3).

With --topic-order ORDER (the end-to-end suite, tests/e2e/), the input is instead what a Kafka topic
holds: ORDER has one `partition<TAB>offset<TAB>key` line per record of the `tweets` topic (read with
kcat: the broker's record of where each post landed), FILE supplies each key's post. Then
- the lateness rule runs per partition, in offset order (each partition's own max);
- a record whose post id already had an on-time record counts once (copies carry the same created_at,
  which the script checks: exit 3 otherwise), the late rule first;
- FILE may hold lines that are not posts (they went to the dead-letter topic): they are listed in --stats.
--format x2 reads X API v2 stream lines (data.entities.hashtags, a retweet's original from
includes.tweets) instead of canonical posts. --stats FILE writes a JSON summary: records, posts, late and
duplicate records, the late post ids, malformed line numbers, input ids missing from ORDER.

Usage: trends_oracle.py FILE [--window 60s] [--slide 10s] [--lateness 5s] [--top 10]
                             [--format canonical|x2] [--topic-order ORDER] [--stats FILE]
"""
import argparse
import json
import re
import sys
import unicodedata

import duckdb


def millis(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not m:
        raise SystemExit(f"bad duration {text!r}")
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[m.group(2)]


def python_key(tag):
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", tag).lower())


RFC3339 = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_post(raw, fmt):
    """(id, created_at, hashtags) of one input line, or None when it is not a post (dead letter)."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, dict):
        return None
    if fmt == "x2":
        data = obj.get("data")
        if not isinstance(data, dict):
            return None
        tags_from = data
        if any(isinstance(r, dict) and r.get("type") == "retweeted" for r in data.get("referenced_tweets") or []):
            rid = next(r.get("id") for r in data["referenced_tweets"] if isinstance(r, dict) and r.get("type") == "retweeted")
            for t in (obj.get("includes") or {}).get("tweets") or []:
                if isinstance(t, dict) and t.get("id") == rid:
                    tags_from = t  # the original's full text and hashtags (docs/input-formats.md)
                    break
        ents = tags_from.get("entities")
        hashtags = None if not isinstance(ents, dict) else [h["tag"] for h in ents.get("hashtags") or []]
        post = data
    else:
        if obj.get("v") != 1:
            return None
        post = obj
        hashtags = post.get("hashtags")
    pid, created, text = post.get("id"), post.get("created_at"), post.get("text")
    if not (isinstance(pid, str) and isinstance(created, str) and isinstance(text, str)):
        return None
    if not RFC3339.match(created.encode()):
        return None
    if hashtags is None:
        # Text extraction is not modelled here; the generator always supplies entities.
        raise SystemExit(f"oracle: post {pid} has no source hashtags; extraction is not modelled")
    return pid, created, hashtags


def load_topic_order(con, a):
    """Builds `posts` from the topic's records (ORDER) and the file's posts; returns the stats."""
    by_id, malformed, file_ids = {}, [], []
    with open(a.file, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip(b"\n")
            if not raw.strip():
                continue
            got = parse_post(raw, a.format)
            if got is None:
                malformed.append(lineno)
                continue
            pid, created, tags = got
            if pid in by_id and by_id[pid] != (created, tags):
                print(f"oracle: post id {pid} appears with different contents", file=sys.stderr)
                raise SystemExit(3)
            by_id[pid] = (created, tags)
            file_ids.append(pid)
    rows, missing_in_file = [], []
    with open(a.topic_order, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            part, off, key = line.rstrip("\n").split("\t", 2)
            if key not in by_id:
                missing_in_file.append(key)
                continue
            created, tags = by_id[key]
            rows.append((int(part), int(off), key, created, tags))
    if missing_in_file:
        print(f"oracle: {len(missing_in_file)} topic record(s) whose key is no post of the file, "
              f"first {missing_in_file[:3]}", file=sys.stderr)
        raise SystemExit(7)
    in_topic = {r[2] for r in rows}
    import pyarrow as pa  # a bulk load: executemany inserts row by row
    raw = pa.table({"part": pa.array([r[0] for r in rows], pa.int32()), "off": pa.array([r[1] for r in rows], pa.int64()),
                    "id": [r[2] for r in rows], "created_at": [r[3] for r in rows],
                    "hashtags": pa.array([r[4] for r in rows], pa.list_(pa.string()))})
    con.register("raw", raw)
    con.execute(
        """
        CREATE TABLE posts AS
        SELECT row_number() OVER (ORDER BY part, off) AS rid, part, off AS rn, id, hashtags,
               epoch_ms(strptime(created_at, ['%Y-%m-%dT%H:%M:%S.%gZ', '%Y-%m-%dT%H:%M:%SZ'])) AS t
        FROM raw
        """
    )
    dup_offsets = con.execute("SELECT count(*) FROM (SELECT part, rn FROM posts GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    split = con.execute("SELECT count(*) FROM (SELECT id FROM posts GROUP BY id HAVING count(DISTINCT part) > 1)").fetchone()[0]
    if dup_offsets or split:
        print(f"oracle: ORDER has {dup_offsets} repeated offset(s), {split} id(s) in several partitions", file=sys.stderr)
        raise SystemExit(3)
    return {"file_posts": len(set(file_ids)), "malformed_lines": malformed,
            "missing_from_topic": sorted(set(file_ids) - in_topic)[:20],
            "missing_from_topic_count": len(set(file_ids) - in_topic)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--window", default="60s")
    ap.add_argument("--slide", default="10s")
    ap.add_argument("--lateness", default="5s")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--format", choices=["canonical", "x2"], default="canonical")
    ap.add_argument("--topic-order", default=None)
    ap.add_argument("--stats", default=None)
    a = ap.parse_args()
    W, S, L, K = millis(a.window), millis(a.slide), millis(a.lateness), a.top
    if W % S != 0:
        raise SystemExit("window must be a multiple of slide")

    con = duckdb.connect()
    # One thread and insertion order: row_number() over () is then the line order of the file.
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    stats = {}
    if a.topic_order:
        stats = load_topic_order(con, a)
        n = con.execute("SELECT count(*) FROM posts").fetchone()[0]
    else:
        if a.format != "canonical":
            raise SystemExit("--format x2 needs --topic-order")
        con.execute(
            """
            CREATE TABLE posts AS
            SELECT row_number() OVER () AS rid, 0 AS part, row_number() OVER () AS rn, id, hashtags,
                   epoch_ms(strptime(created_at, '%Y-%m-%dT%H:%M:%S.%gZ')) AS t
            FROM read_json(?, format = 'newline_delimited',
                           columns = {id: 'VARCHAR', created_at: 'VARCHAR', hashtags: 'VARCHAR[]'})
            """,
            [a.file],
        )
        n, ids = con.execute("SELECT count(*), count(DISTINCT id) FROM posts").fetchone()
        if n != ids:
            print(f"oracle: {n - ids} duplicate post id(s); duplicates are not modelled", file=sys.stderr)
            return 3
        # Generated ids grow in emission order: a cheap proof that rn is the file order.
        disorder = con.execute(
            """SELECT count(*) FROM (SELECT TRY_CAST(id AS UBIGINT) AS i, lag(TRY_CAST(id AS UBIGINT)) OVER (ORDER BY rn) AS p FROM posts)
               WHERE i IS NULL OR p >= i"""
        ).fetchone()[0]
        if disorder:
            print(f"oracle: {disorder} row(s) out of id order; cannot trust row order", file=sys.stderr)
            return 4
    # Copies of a post must carry the same time (re-deliveries do); the duplicate rule assumes it.
    if con.execute("SELECT count(*) FROM (SELECT id FROM posts GROUP BY id HAVING count(DISTINCT t) > 1)").fetchone()[0]:
        print("oracle: copies of a post id with different created_at are not modelled", file=sys.stderr)
        return 3

    # The key rule in SQL, checked against Python's Unicode implementation for every tag present.
    tags = con.execute(
        "SELECT DISTINCT tag, nfc_normalize(lower(nfc_normalize(tag))) FROM (SELECT unnest(hashtags) AS tag FROM posts)"
    ).fetchall()
    bad = [(t, k, python_key(t)) for t, k in tags if k != python_key(t)]
    if bad:
        print(f"oracle: DuckDB's key differs from NFC(lower(NFD)) for {bad[:5]}", file=sys.stderr)
        return 5

    con.execute(
        f"""
        CREATE TABLE judged0 AS
        SELECT *, prev_max IS NOT NULL AND t < prev_max - {L} AS late
        FROM (SELECT *, max(t) OVER (PARTITION BY part ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max
              FROM posts)
        """
    )
    # A copy of a post that had an on-time record before it (same partition: the id is the key) is a
    # duplicate; late is decided first, so a late copy is late, not a duplicate.
    con.execute(
        """
        CREATE TABLE judged AS
        SELECT j.*, NOT late AND row_number() OVER (PARTITION BY id, late ORDER BY part, rn) > 1 AS dup
        FROM judged0 j
        """
    )
    con.execute(
        f"""
        CREATE TABLE membership AS
        SELECT rid, k * {S} AS ws, k * {S} + {W} AS we
        FROM (SELECT rid, unnest(range((t - {W}) // {S} + 1, t // {S} + 1)) AS k
              FROM judged WHERE NOT late AND NOT dup)
        """
    )
    con.execute(
        """
        CREATE TABLE post_tags AS
        SELECT rid, key, spelling FROM (
            SELECT rid, tag AS spelling, nfc_normalize(lower(nfc_normalize(tag))) AS key,
                   row_number() OVER (PARTITION BY rid, nfc_normalize(lower(nfc_normalize(tag))) ORDER BY pos) AS occ
            FROM (SELECT rid, unnest(hashtags) AS tag, unnest(range(1, len(hashtags) + 1)) AS pos
                  FROM judged WHERE NOT late AND NOT dup))
        WHERE occ = 1
        """
    )
    windows = con.execute(
        f"""
        WITH counted AS (
            SELECT we, count(*) AS posts FROM membership GROUP BY we),
        lates AS (
            SELECT ((prev_max - {L}) // {S} + 1) * {S} AS we, count(*) AS late_dropped
            FROM judged WHERE late GROUP BY 1),
        distincts AS (
            SELECT m.we, count(DISTINCT pt.key) AS distinct_tags
            FROM membership m JOIN post_tags pt USING (rid) GROUP BY m.we)
        SELECT we - {W} AS ws, we, coalesce(c.posts, 0), coalesce(d.distinct_tags, 0), coalesce(l.late_dropped, 0)
        FROM (SELECT we FROM counted UNION SELECT we FROM lates) w
        LEFT JOIN counted c USING (we) LEFT JOIN lates l USING (we) LEFT JOIN distincts d USING (we)
        ORDER BY we
        """
    ).fetchall()
    top = con.execute(
        f"""
        WITH spellings AS (
            SELECT m.we, pt.key, pt.spelling, count(*) AS n
            FROM membership m JOIN post_tags pt USING (rid) GROUP BY ALL),
        per_key AS (
            SELECT we, key, sum(n)::BIGINT AS cnt FROM spellings GROUP BY we, key),
        display AS (
            SELECT we, key, spelling FROM (
                SELECT we, key, spelling,
                       row_number() OVER (PARTITION BY we, key ORDER BY n DESC, spelling ASC) AS r
                FROM spellings) WHERE r = 1),
        ranked AS (
            SELECT we, key, cnt,
                   row_number() OVER (PARTITION BY we ORDER BY cnt DESC, key ASC) AS rank
            FROM per_key)
        SELECT r.we, r.key, d.spelling, r.cnt, r.rank
        FROM ranked r JOIN display d USING (we, key)
        WHERE r.rank <= {K}
        ORDER BY r.we, r.rank
        """
    ).fetchall()
    tops = {}
    for we, key, spelling, cnt, rank in top:
        tops.setdefault(we, []).append({"tag": key, "display": spelling, "count": cnt, "rank": rank})

    # DuckDB's default collation compares bytes; make sure (tag asc must be UTF-8 byte order).
    for we, entries in tops.items():
        order = [(-e["count"], e["tag"].encode()) for e in entries]
        if order != sorted(order):
            print(f"oracle: top of window {we} is not in count desc, byte order", file=sys.stderr)
            return 6
    out = sys.stdout
    for ws, we, posts, distinct, late in windows:
        out.write(json.dumps({"window_start": ws, "window_end": we, "posts": posts, "distinct": distinct,
                              "late_dropped": late, "top": tops.get(we, [])}, ensure_ascii=False))
        out.write("\n")
    late_total, dups = con.execute("SELECT count(*) FILTER (WHERE late), count(*) FILTER (WHERE dup) FROM judged").fetchone()
    if a.stats:
        stats.update({"records": n, "late": late_total, "duplicates": dups, "windows": len(windows),
                      "late_ids": [r[0] for r in con.execute("SELECT id FROM judged WHERE late ORDER BY part, rn").fetchall()]})
        with open(a.stats, "w") as f:
            json.dump(stats, f)
    print(f"oracle: {n} posts, {late_total} late, {dups} duplicate, {len(windows)} windows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
