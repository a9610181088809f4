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

Usage: trends_oracle.py FILE [--window 60s] [--slide 10s] [--lateness 5s] [--top 10]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--window", default="60s")
    ap.add_argument("--slide", default="10s")
    ap.add_argument("--lateness", default="5s")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    W, S, L, K = millis(a.window), millis(a.slide), millis(a.lateness), a.top
    if W % S != 0:
        raise SystemExit("window must be a multiple of slide")

    con = duckdb.connect()
    # One thread and insertion order: row_number() over () is then the line order of the file.
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        """
        CREATE TABLE posts AS
        SELECT row_number() OVER () AS rn, id, hashtags,
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
        CREATE TABLE judged AS
        SELECT *, prev_max IS NOT NULL AND t < prev_max - {L} AS late
        FROM (SELECT *, max(t) OVER (ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max
              FROM posts)
        """
    )
    con.execute(
        f"""
        CREATE TABLE membership AS
        SELECT rn, k * {S} AS ws, k * {S} + {W} AS we
        FROM (SELECT rn, unnest(range((t - {W}) // {S} + 1, t // {S} + 1)) AS k
              FROM judged WHERE NOT late)
        """
    )
    con.execute(
        """
        CREATE TABLE post_tags AS
        SELECT rn, key, spelling FROM (
            SELECT rn, tag AS spelling, nfc_normalize(lower(nfc_normalize(tag))) AS key,
                   row_number() OVER (PARTITION BY rn, nfc_normalize(lower(nfc_normalize(tag))) ORDER BY pos) AS occ
            FROM (SELECT rn, unnest(hashtags) AS tag, unnest(range(1, len(hashtags) + 1)) AS pos
                  FROM judged WHERE NOT late))
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
            FROM membership m JOIN post_tags pt USING (rn) GROUP BY m.we)
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
            FROM membership m JOIN post_tags pt USING (rn) GROUP BY ALL),
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
    late_total = con.execute("SELECT count(*) FROM judged WHERE late").fetchone()[0]
    print(f"oracle: {n} posts, {late_total} late, {len(windows)} windows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
