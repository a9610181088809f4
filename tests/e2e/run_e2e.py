#!/usr/bin/env python3
"""End-to-end suite under faults: hashtrend broker -> ingestd (replay) -> trendd -> sinkd -> Parquet,
compared with the DuckDB oracle (tests/oracle/trends_oracle.py). docs/e2e.md describes it.

Usage: run_e2e.py [--size ci|chaos] [--seed N] [--keep] [SCENARIO ...]
Environment: E2E_SEED (seed), E2E_SIZE (size), E2E_SCENARIOS (comma-separated), E2E_KEEP=1 (keep the
run directories), HASHTREND_BIN_DIR (binaries, default .build/debug), HASHTREND_PYTHON.
"""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PYTHON, ORACLE, CHECK_TABLE, Broker, E2EFailure, FakeHDFS, Input, Service, binary,  # noqa: E402
                     kcat, log, read_length_prefixed, run_tool)

WINDOW, SLIDE, LATENESS, TOP = "30s", "5s", "5s", 10
W_MS, S_MS, L_MS = 30_000, 5_000, 5_000

# CI: the whole suite in a few minutes on a loaded 2-core machine. chaos: more posts, longer outages, more kills.
SIZES = {
    "ci": dict(partitions=8, posts=6_000, event_rate=150, ingest_seconds=14, outage=10, ingestd_kills=1, trendd_kills=2,
               sinkd_kills=2, mixed_kills=1, drain_timeout=180),
    "chaos": dict(partitions=16, posts=30_000, event_rate=250, ingest_seconds=60, outage=30, ingestd_kills=3, trendd_kills=5,
                  sinkd_kills=5, mixed_kills=3, drain_timeout=420),
}


class Run:
    """One scenario: its directory, its random source, its processes and its figures."""

    def __init__(self, name, seed, size, base_dir):
        self.name, self.seed, self.size = name, seed, size
        self.rng = random.Random(f"{seed}/{name}")
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=base_dir)
        self.pids = []            # (name, pid) of every process started
        self.services = []
        self.faults = []          # (at seconds, label, action)
        self.faults_done = []
        self.problems = []
        self.figures = {}

    def check(self, ok, msg):
        if not ok:
            self.problems.append(msg)
        return ok


def kafka_fast():
    return ["--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500",
            "--kafka", "reconnect.backoff.ms=100", "--kafka", "reconnect.backoff.max.ms=1000"]


def daemon_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASHTREND_") and not k.startswith("KAFKA_")}
    env.update({"NOTIFY_SOCKET": "", "HASHTREND_CONFIG": "", "HASHTREND_LOG_LEVEL": "info"})
    return env


def start_pipeline(run, inp, hdfs=None):
    cfg = run.size
    broker = Broker(run, [f"tweets:{cfg['partitions']}", "trends:2", "tweets.dlq:1"])
    run.broker = broker
    run.services.append(broker.service)
    b = broker.bootstrap
    env = daemon_env()
    if hdfs:
        root = f"webhdfs://127.0.0.1:{hdfs.namenode}/warehouse/trends-table"
        run.table_dir = os.path.join(hdfs.root, "warehouse", "trends-table")
    else:
        root = run.table_dir = os.path.join(run.dir, "table")
    restart_sec = 1.0  # systemd's units say 5s; shorter keeps CI quick and changes nothing else
    run.sinkd = Service(run, "sinkd", [binary("sinkd"), "--brokers", b, "--root", root, "--group", "sinkd",
                                       "--flush-rows", "200", "--rotate-interval", "1s", "--status-interval", "1s"]
                        + kafka_fast(), env=env, restart_sec=restart_sec)
    run.trendd = Service(run, "trendd", [binary("trendd"), "--brokers", b, "--group", "trendd",
                                         "--window", WINDOW, "--slide", SLIDE, "--lateness", LATENESS,
                                         "--top", str(TOP), "--idle-timeout", "off", "--commit-interval", "1s"]
                         + kafka_fast(), env=env, restart_sec=restart_sec)
    rate = max(1, round(cfg["posts"] / cfg["ingest_seconds"]))
    run.ingestd = Service(run, "ingestd", [binary("ingestd"), "--brokers", b, "--source", "replay", "--file", inp.path,
                                           "--rate", str(rate), "--spool-dir", os.path.join(run.dir, "spool"),
                                           "--shutdown-timeout", "30s", "--kafka", "linger.ms=5"]
                          + kafka_fast()[4:], env=env, restart_sec=restart_sec)
    run.services += [run.sinkd, run.trendd, run.ingestd]


def schedule(run, at, label, action):
    run.faults.append((at, label, action))


def drive(run, timeout):
    """Runs the fault schedule and supervises the daemons until ingestd finished and every fault ran."""
    run.faults.sort(key=lambda f: f[0])
    t0 = time.monotonic()
    pending = list(run.faults)
    while True:
        now = time.monotonic() - t0
        while pending and pending[0][0] <= now:
            at, label, action = pending.pop(0)
            if action() is False:
                log(f"t={now:5.1f}s fault: {label}: not running (in its restart delay), nothing to do")
                continue
            log(f"t={now:5.1f}s fault: {label}")
            run.faults_done.append(label)
        for s in run.services:
            if s is not run.broker.service:
                s.supervise()
        if run.ingestd.finished and not pending:
            return now
        if now > timeout:
            raise E2EFailure(f"ingest did not finish in {timeout}s; ingestd: {run.ingestd.tail(5)}")
        time.sleep(0.1)


def table_windows(table_dir):
    import duckdb
    import glob
    pattern = os.path.join(table_dir, "trends", "**", "*.parquet")
    if not glob.glob(pattern, recursive=True):
        return set()
    con = duckdb.connect()
    try:
        return {r[0] for r in con.execute(
            f"select distinct epoch_ms(window_end) from read_parquet('{pattern}', hive_partitioning=true)").fetchall()}
    except duckdb.Error:
        return set()
    finally:
        con.close()


def oracle(run, inp):
    order = os.path.join(run.dir, "tweets.order.tsv")
    kcat(run.broker.bootstrap, "tweets", "%p\\t%o\\t%k\\n", order)
    out = os.path.join(run.dir, "oracle.jsonl")
    stats_path = os.path.join(run.dir, "oracle.stats.json")
    run_tool([PYTHON, ORACLE, inp.path, "--format", "x2", "--topic-order", order, "--window", WINDOW,
              "--slide", SLIDE, "--lateness", LATENESS, "--top", str(TOP), "--stats", stats_path], stdout_path=out)
    with open(out, encoding="utf-8") as f:
        windows = [json.loads(l) for l in f if l.strip()]
    with open(stats_path) as f:
        stats = json.load(f)
    per_part = {}
    with open(order) as f:
        for l in f:
            if l.strip():
                p, o, _ = l.split("\t", 2)
                per_part.setdefault(int(p), []).append(int(o))
    records = sum(len(v) for v in per_part.values())
    # The mock broker keeps ~5 MiB per partition: a partition that lost its oldest records would make the
    # oracle blind to what trendd counted.
    gaps = {p: (min(v), max(v), len(v)) for p, v in per_part.items() if min(v) != 0 or max(v) + 1 != len(v)}
    run.check(not gaps, f"tweets partitions not whole from offset 0 (min, max, count): {gaps}")
    return windows, stats, records


def describe_reordered(run, inp, ids):
    """Where each post landed in `tweets`, and the newest input line before it in its partition."""
    line_of = {}
    with open(inp.path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line_of.setdefault(json.loads(raw)["data"]["id"], n)
            except (ValueError, KeyError, TypeError):
                pass
    parts = {}
    with open(os.path.join(run.dir, "tweets.order.tsv")) as f:
        for l in f:
            p, o, k = l.rstrip("\n").split("\t", 2)
            parts.setdefault(int(p), []).append((int(o), k))
    out = []
    for pid in ids:
        for p, recs in parts.items():
            recs.sort()
            hits = [i for i, (_, k) in enumerate(recs) if k == pid]
            if hits:
                where = ", ".join(f"tweets[{p}]@{recs[i][0]} after input line "
                                  f"{max((line_of.get(k, 0) for _, k in recs[:i]), default=0)}" for i in hits)
                out.append(f"{pid} (input line {line_of.get(pid)}): {where}")
    return "; ".join(out)


def wait_for_table(run, expected_ends, timeout):
    deadline = time.monotonic() + timeout
    have = set()
    while time.monotonic() < deadline:
        for s in run.services:
            if s is not run.broker.service and s.name != "webhdfs":
                s.supervise()
        have = table_windows(run.table_dir)
        if expected_ends <= have:
            return True
        time.sleep(1.0)
    missing = sorted(expected_ends - have)
    run.check(False, f"the table lacks {len(missing)} of {len(expected_ends)} final windows after {timeout}s "
                     f"(first {missing[:3]}); sinkd: {run.sinkd.tail(4)}; trendd: {run.trendd.tail(4)}")
    return False


def topic_finals(path):
    firsts, repeats, conflicts, early = {}, 0, [], 0
    with open(path, "rb") as f:
        lines = [l for l in f.read().split(b"\n") if l.strip()]
    for line in lines:
        w = json.loads(line)
        if not w.get("final"):
            early += 1
            continue
        end = w["window_end"]
        if end in firsts:
            repeats += 1
            a, b = dict(firsts[end][0]), dict(w)
            a.pop("emitted_at"), b.pop("emitted_at")
            if a != b:
                conflicts.append(f"{end}: first {json.dumps(a)[:300]} then {json.dumps(b)[:300]}")
        else:
            firsts[end] = (w, line)
    return firsts, repeats, conflicts, early


def millis(text):
    from harness import rfc3339_to_ms
    return rfc3339_to_ms(text)


def compare_with_oracle(run, inp, oracle_windows, firsts):
    """Every final window of the trends topic against the oracle (posts, distinct, late_dropped, top)."""
    limit = inp.final_limit
    want = {w["window_end"]: w for w in oracle_windows if w["window_end"] <= limit}
    got = {millis(end): w for end, (w, _) in firsts.items()}
    diffs = []
    for end, o in sorted(want.items()):
        g = got.get(end)
        if g is None:
            diffs.append(f"{end}: no final record in trends (oracle posts={o['posts']})")
            continue
        gt = [(e["rank"], e["tag"], e["display"], e["count"]) for e in g["top"]]
        ot = [(e["rank"], e["tag"], e["display"], e["count"]) for e in o["top"]]
        for field, gv, ov in (("window_start", millis(g["window_start"]), o["window_start"]), ("posts", g["posts"], o["posts"]),
                              ("distinct", g["distinct"], o["distinct"]), ("late_dropped", g["late_dropped"], o["late_dropped"]),
                              ("top", gt, ot)):
            if gv != ov:
                diffs.append(f"{end}: {field} trendd {gv} oracle {ov}")
    for end, g in sorted(got.items()):
        if end > limit:
            diffs.append(f"{end}: final although no watermark passed it (limit {limit})")
        elif end not in want and (g["posts"] or g["late_dropped"] or g["top"] or g["distinct"]):
            diffs.append(f"{end}: trendd posts={g['posts']} late={g['late_dropped']}, the oracle has no such window")
    run.check(not diffs, f"trends topic vs oracle: {len(diffs)} difference(s): " + " | ".join(diffs[:6]))
    return want


def check_table_against_oracle(run, want):
    """The Parquet table itself (read by DuckDB) against the oracle's rows: each window once, exact counts."""
    import duckdb
    pattern = os.path.join(run.table_dir, "trends", "**", "*.parquet")
    con = duckdb.connect()
    rows = con.execute(f"""select epoch_ms(window_start), epoch_ms(window_end), rank, hashtag, display, count, posts
                           from read_parquet('{pattern}', hive_partitioning=true)""").fetchall()
    dup = con.execute(f"""select epoch_ms(window_end), rank, count(*) from read_parquet('{pattern}', hive_partitioning=true)
                          group by all having count(*) > 1 limit 5""").fetchall()
    per_window_files = con.execute(f"""select epoch_ms(window_end), count(distinct filename) from
                          read_parquet('{pattern}', hive_partitioning=true, filename=true) group by 1 having count(distinct filename) > 1
                          limit 5""").fetchall()
    con.close()
    run.check(not dup, f"table: (window_end, rank) more than once: {dup}")
    run.check(not per_window_files, f"table: a window spread over several files: {per_window_files}")
    expected = sorted((o["window_start"], end, e["rank"], e["tag"], e["display"], e["count"], o["posts"])
                      for end, o in want.items() for e in o["top"])
    got = sorted(tuple(r) for r in rows)
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        run.check(False, f"table vs oracle: {len(got)} rows, {len(expected)} expected; missing {len(missing)} "
                         f"(first {missing[:2]}), unexpected {len(extra)} (first {extra[:2]})")
    return len({r[1] for r in rows}), len(rows)


def run_check_table(run, firsts, no_tmp):
    exp = os.path.join(run.dir, "trends.first-finals.jsonl")
    with open(exp, "wb") as f:
        for _, (w, line) in sorted(firsts.items()):
            f.write(line + b"\n")
    argv = [PYTHON, CHECK_TABLE, "--root", run.table_dir, "--expected", exp] + (["--no-tmp"] if no_tmp else [])
    import subprocess
    p = subprocess.run(argv, capture_output=True, timeout=300)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        report = {"mismatches": [p.stdout.decode()[-500:] + p.stderr.decode()[-1500:]]}
    run.check(p.returncode == 0, f"check_table.py: {report.get('mismatches')}")
    return report


def check_dead_letters(run, inp):
    path = os.path.join(run.dir, "dlq.values")
    kcat(run.broker.bootstrap, "tweets.dlq", "%S\\t%s\\n", path)
    got = read_length_prefixed(path)
    from collections import Counter
    gc, wc = Counter(got), Counter(inp.malformed)
    reads = run.ingestd.incarnation
    if reads == 1:
        run.check(gc == wc, f"dead letters: {sum(gc.values())} records, {len(inp.malformed)} malformed lines; "
                            f"unexpected {list((gc - wc).elements())[:3]}, missing {list((wc - gc).elements())[:3]}")
    else:
        # A restarted ingestd replays the file from its start: each malformed line once per pass that reached it.
        run.check(set(gc) == set(wc) and all(1 <= n <= reads for n in gc.values()),
                  f"dead letters after {reads} ingestd runs: {sum(gc.values())} records for {len(wc)} malformed lines; "
                  f"unexpected {[v for v in gc if v not in wc][:3]}, missing {[v for v in wc if v not in gc][:3]}")
    return len(got)


def check_processes(run):
    """No process of the run left: every pid reaped, and no process in any of their sessions."""
    ours = {pid for _, pid in run.pids}
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        state, pgrp, sid = fields[0], int(fields[2]), int(fields[3])
        if (int(entry) in ours or pgrp in ours or sid in ours) and state != b"Z":
            left.append(int(entry))
    run.check(not left, f"processes left running: {left}")
    return left


def teardown(run):
    for s in reversed(run.services):
        if s.alive():
            try:
                os.killpg(s.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            s.proc.wait()
    for _, pid in run.pids:
        try:
            os.killpg(pid, signal.SIGKILL)  # anything a daemon may have started in its session
        except (ProcessLookupError, PermissionError):
            pass
    time.sleep(0.2)
    check_processes(run)


# ---------------------------------------------------------------------------------------------- scenario

def scenario(run, hdfs=False, plan=None):
    """The common course of every scenario; `plan(run, span)` adds the faults."""
    cfg = run.size
    t_start = time.monotonic()
    inp = Input(os.path.join(run.dir, "posts.x2.jsonl"), run.rng, cfg["posts"], run.rng.randrange(1, 2**31),
                cfg["event_rate"], "3s", cfg["partitions"], L_MS, W_MS, S_MS,
                late_fraction=0.01, dup_fraction=0.005, malformed_fraction=0.003)
    log(f"input: {inp.posts} posts in {inp.lines} lines, {len(inp.late_ids)} moved beyond the lateness, "
        f"{len(inp.dup_ids)} copies, {len(inp.malformed)} malformed")
    fake = None
    try:
        if hdfs:
            fake = FakeHDFS(run, os.path.join(run.dir, "hdfs"))
            run.services.append(fake.service)
        start_pipeline(run, inp, fake)
        span = cfg["ingest_seconds"]
        if plan:
            plan(run, span, fake)
        ingest_s = drive(run, timeout=span * 8 + 240)
        log(f"ingestd finished after {ingest_s:.1f}s ({run.ingestd.incarnation} run(s)); computing the oracle")
        windows, stats, records = oracle(run, inp)
        limit = inp.final_limit
        expected_ends = {w["window_end"] for w in windows if w["window_end"] <= limit and w["top"]}
        run.check(stats["missing_from_topic_count"] == 0,
                  f"{stats['missing_from_topic_count']} input post(s) never reached the tweets topic: {stats['missing_from_topic']}")
        run.check(len(stats["malformed_lines"]) == len(inp.malformed),
                  f"the oracle finds {len(stats['malformed_lines'])} malformed lines, the driver wrote {len(inp.malformed)}")
        late = set(stats["late_ids"])
        run.check(set(inp.late_ids) <= late, f"posts moved beyond the lateness but not late: {sorted(set(inp.late_ids) - late)[:5]}")
        if run.ingestd.incarnation == 1:
            # Nothing re-sent: exactly the moved posts are late (the disorder stays within the lateness).
            # Any other late record was put out of order on its way into `tweets`.
            unexpected = sorted(late - set(inp.late_ids))
            run.check(len(stats["late_ids"]) == len(inp.late_ids) and not unexpected,
                      f"late records {len(stats['late_ids'])}, moved posts {len(inp.late_ids)}; late but not moved "
                      f"(reordered on the way into tweets): {describe_reordered(run, inp, unexpected[:4])}")
        log(f"oracle: {records} records, {stats['late']} late, {stats['duplicates']} duplicates, "
            f"{len(expected_ends)} windows to wait for")
        wait_for_table(run, expected_ends, cfg["drain_timeout"])
        time.sleep(1.5)  # a re-emission or a second write would show now
        for s in (run.sinkd, run.trendd):
            rc = s.stop()
            run.check(rc == 0, f"{s.name} clean stop: exit {rc}: {s.tail(5)}")
        trends_path = os.path.join(run.dir, "trends.jsonl")
        kcat(run.broker.bootstrap, "trends", "%s\\n", trends_path)
        firsts, repeats, conflicts, early = topic_finals(trends_path)
        run.check(not conflicts, f"windows re-emitted differently: {conflicts[:3]}")
        dead = check_dead_letters(run, inp)
        want = compare_with_oracle(run, inp, windows, firsts)
        report = run_check_table(run, firsts, no_tmp=not hdfs)
        table_windows_n, table_rows = check_table_against_oracle(run, want)
        for s in run.services:
            unexpected = [rc for rc in s.exit_statuses if rc not in (0, -signal.SIGKILL)]
            run.check(not unexpected, f"{s.name} exited on its own with {unexpected}: {s.tail(5)}")
        rc = run.broker.service.stop()
        run.check(rc == 0, f"broker exit {rc}")
        run.figures.update({
            "posts_in": inp.posts - cfg["partitions"], "records": records, "late": stats["late"], "duplicates": stats["duplicates"],
            "dead_letters": dead, "windows_out": table_windows_n, "rows": table_rows, "files": report.get("files"),
            "repeated_finals": repeats, "restarts": sum(s.restarts for s in run.services),
            "faults": len(run.faults_done),
        })
    finally:
        teardown(run)
        run.figures["wall"] = time.monotonic() - t_start


# ---------------------------------------------------------------------------------------------- fault plans

def kills(service_attr, count, lo, hi):
    def plan(run, span, fake):
        for _ in range(count):
            at = run.rng.uniform(lo * span, hi * span)
            schedule(run, at, f"SIGKILL {service_attr}", lambda s=service_attr: getattr(run, s).kill())
    return plan


def broker_down(run, span, fake, at=None):
    secs = run.size["outage"]
    at = at if at is not None else run.rng.uniform(0.2 * span, 0.5 * span)
    schedule(run, at, "broker down", lambda: run.broker.command("down 1"))
    schedule(run, at + secs, f"broker up after {secs}s", lambda: run.broker.command("up 1"))


ERRORS = [
    ("produce", ["NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS"]),
    ("fetch", ["NOT_LEADER_FOR_PARTITION", "UNKNOWN_TOPIC_OR_PART"]),
    ("offsetcommit", ["COORDINATOR_NOT_AVAILABLE", "REQUEST_TIMED_OUT"]),
    ("heartbeat", ["COORDINATOR_NOT_AVAILABLE"]),
    ("metadata", ["LEADER_NOT_AVAILABLE"]),
]


def request_errors(run, span, fake, rounds=4):
    for _ in range(rounds):
        api, names = ERRORS[run.rng.randrange(len(ERRORS))]
        picked = [run.rng.choice(names) for _ in range(run.rng.randrange(1, 6))]
        cmd = f"errors {api} {' '.join(picked)}"
        schedule(run, run.rng.uniform(0.1 * span, 0.9 * span), cmd, lambda c=cmd: run.broker.command(c))
    # The produce path once more, a burst at a fixed point, so every run has one.
    schedule(run, 0.5 * span, "errors produce x6", lambda: run.broker.command("errors produce " + " ".join(["NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT"] * 3)))


def latency(run, span, fake):
    at = run.rng.uniform(0.1 * span, 0.3 * span)
    ms = run.rng.choice([200, 400, 800])
    schedule(run, at, f"rtt 1 {ms}ms", lambda: run.broker.command(f"rtt 1 {ms}ms"))
    schedule(run, at + 0.5 * span, "rtt 1 0s", lambda: run.broker.command("rtt 1 0s"))


def webhdfs_faults(run, span, fake):
    plan = [("fail CREATE 6 500 datanode", 0.1), ("fail RENAME 3 503 namenode", 0.2), ("refuse datanode 8", 0.3),
            ("fail GETFILESTATUS 3 500 namenode", 0.5), ("drop CREATE 1 datanode", 0.6), ("lose RENAME 1 namenode", 0.65),
            ("restart 3", 0.8), ("refuse namenode 5", 1.0)]
    for cmd, frac in plan:
        at = frac * span + run.rng.uniform(0, 0.05 * span)
        schedule(run, at, f"webhdfs {cmd}", lambda c=cmd: fake.command(c))


def mixed(run, span, fake):
    k = run.size["mixed_kills"]
    kills("ingestd", k, 0.1, 0.6)(run, span, fake)
    kills("trendd", k, 0.1, 1.2)(run, span, fake)
    kills("sinkd", k, 0.1, 1.2)(run, span, fake)
    broker_down(run, span, fake)
    request_errors(run, span, fake, rounds=2)
    latency(run, span, fake)
    if fake:
        webhdfs_faults(run, span, fake)


SCENARIOS = {
    "late_and_malformed": dict(plan=None),
    "kill_ingestd": dict(plan=lambda r, s, f: kills("ingestd", r.size["ingestd_kills"], 0.15, 0.7)(r, s, f)),
    "kill_trendd": dict(plan=lambda r, s, f: kills("trendd", r.size["trendd_kills"], 0.1, 1.2)(r, s, f)),
    "kill_sinkd": dict(plan=lambda r, s, f: kills("sinkd", r.size["sinkd_kills"], 0.1, 1.2)(r, s, f)),
    "broker_down": dict(plan=broker_down),
    "request_errors": dict(plan=request_errors),
    "latency": dict(plan=latency),
    "webhdfs": dict(plan=webhdfs_faults, hdfs=True),
    "mixed": dict(plan=mixed, hdfs=True),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default=os.environ.get("E2E_SIZE", "ci"), choices=sorted(SIZES))
    ap.add_argument("--seed", type=int, default=int(os.environ["E2E_SEED"]) if os.environ.get("E2E_SEED") else None)
    ap.add_argument("--keep", action="store_true", default=os.environ.get("E2E_KEEP") == "1")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    names = a.scenarios or [s for s in os.environ.get("E2E_SCENARIOS", "").split(",") if s] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 2**31)

    def stop(signum, frame):  # SIGTERM/SIGHUP (e.g. `timeout`): unwind, so every scenario's teardown kills its processes
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    size = SIZES[a.size]
    base = tempfile.mkdtemp(prefix="hashtrend-e2e-")
    print(f"e2e: seed {seed} (E2E_SEED={seed} reproduces it), size {a.size}, scenarios {', '.join(names)}, "
          f"binaries {os.path.dirname(binary('trendd'))}, runs under {base}", flush=True)
    t0 = time.monotonic()
    results = []
    for name in names:
        print(f"--- {name}", flush=True)
        run = Run(name, seed, size, base)
        try:
            spec = SCENARIOS[name]
            scenario(run, hdfs=spec.get("hdfs", False), plan=spec["plan"])
        except Exception as ex:  # a broken step fails the scenario, the suite goes on
            run.problems.append(f"{type(ex).__name__}: {ex}")
        ok = not run.problems
        results.append((name, ok, run))
        f = run.figures
        print(f"{'PASS' if ok else 'FAIL'} {name}: {f.get('posts_in', '?')} posts in, {f.get('windows_out', '?')} windows out, "
              f"{f.get('faults', len(run.faults_done))} faults, {f.get('restarts', '?')} restarts, "
              f"{f.get('late', '?')} late, {f.get('duplicates', '?')} duplicates, {f.get('dead_letters', '?')} dead letters, "
              f"{f.get('repeated_finals', '?')} repeated finals, {f.get('wall', 0):.1f}s", flush=True)
        for p in run.problems:
            print(f"    {p}", flush=True)
        if ok and not a.keep:
            shutil.rmtree(run.dir, ignore_errors=True)
        elif not ok:
            print(f"    kept {run.dir}", flush=True)
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    tot = lambda k: sum(r.figures.get(k, 0) or 0 for _, _, r in results)  # noqa: E731
    print(f"\n{passed} passed, {failed} failed")
    print(f"summary: seed {seed}, size {a.size}: {tot('posts_in')} posts in, {tot('windows_out')} windows out, "
          f"{tot('faults')} faults injected, {tot('restarts')} restarts, wall time {time.monotonic() - t0:.1f}s")
    if not a.keep and failed == 0:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
