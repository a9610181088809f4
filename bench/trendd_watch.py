#!/usr/bin/env python3
"""Times trendd from the outside: runs it with NOTIFY_SOCKET pointing at a datagram socket of ours,
reads the sd_notify STATUS= lines ("R posts/s, N posts, ..."), and stops it (SIGTERM) once N reaches
--posts. Prints one JSON object: wall seconds from start to READY=1 and to the last post counted,
trendd's CPU time (wait4 rusage; includes start-up and the clean stop), and the CPU time of its busiest
threads when the last post was counted (/proc, by kernel thread name: trendd-feed polls and decodes,
trendd-count runs the window engine, rdk:broker* fetch and decompress).

usage: trendd_watch.py --posts N [--timeout S] -- trendd ARGS...
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--posts", type=int, required=True)
ap.add_argument("--timeout", type=float, default=600)
ap.add_argument("--log")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

d = tempfile.mkdtemp(prefix="bench-notify-")
path = os.path.join(d, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.05)
env = dict(os.environ, NOTIFY_SOCKET=path)
log = open(a.log, "w") if a.log else subprocess.DEVNULL
t0 = time.monotonic()
p = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
ready = first = done = None
first_posts = 0
posts = 0
last_status = ""
pat = re.compile(r"([0-9]+) posts,")
while True:
    now = time.monotonic()
    if now - t0 > a.timeout or p.poll() is not None:
        break
    try:
        msg = s.recv(65536).decode("utf-8", "replace")
    except socket.timeout:
        continue
    now = time.monotonic()
    for line in msg.split("\n"):
        if line == "READY=1" and ready is None:
            ready = now - t0
        elif line.startswith("STATUS="):
            last_status = line[7:]
            m = pat.search(last_status)
            if m:
                posts = int(m.group(1))
                if posts > 0 and first is None:
                    first, first_posts = now - t0, posts
    if posts >= a.posts:
        done = now - t0
        break

def thread_cpu(pid):
    """CPU seconds per thread of pid, busiest first (threads of one name are summed)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                raw = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            f = raw[raw.rindex(")") + 2:].split()
            out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tick
    except OSError:
        pass
    return [{"name": n, "cpu_s": round(c, 2)} for n, c in sorted(out.items(), key=lambda x: -x[1])[:6]]

threads = thread_cpu(p.pid) if p.poll() is None else []
if p.poll() is None:
    p.send_signal(signal.SIGTERM)
_, status, ru = os.wait4(p.pid, 0)
os.unlink(path)
os.rmdir(d)
print(json.dumps({"posts": posts, "target": a.posts, "complete": done is not None, "ready_s": ready,
                  "first_status_s": first, "first_posts": first_posts, "done_s": done, "cpu_s": ru.ru_utime + ru.ru_stime,
                  "max_rss_kb": ru.ru_maxrss, "exit": status, "last_status": last_status, "threads": threads}))
sys.exit(0 if done is not None else 1)
