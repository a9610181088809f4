#!/usr/bin/env python3
"""Writes N canonical posts (the tweets topic's records) that all fall in one 60 s window and each carry
a hashtag no other post has, in the text only (so the engine extracts it): the worst case for memory.
With --same every post carries the same tag instead: what the posts alone cost (duplicate tracking).

usage: unique_tags.py N [--same]"""
import sys
n = int(sys.argv[1])
same = "--same" in sys.argv[2:]
base = 1767225600000  # 2026-01-01T00:00:00.000Z
out = sys.stdout
w = out.write
for i in range(n):
    ms = base + (i * 50000) // max(n, 1)  # spread over the first 50 s
    s, frac = divmod(ms - base, 1000)
    ts = f"2026-01-01T00:00:{s:02d}.{frac:03d}Z"
    w(f'{{"v":1,"id":"{i + 1}","created_at":"{ts}","text":"post {i} about #{"uniq" if same else f"uniq{i:07d}"} today",'
      f'"lang":"en","author_id":"{i % 100000}","source":"replay","is_repost":false}}\n')
