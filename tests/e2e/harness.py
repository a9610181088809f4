"""The end-to-end harness: real binaries as separate processes, faults, and the checks (docs/e2e.md).

Everything random is drawn from one `random.Random(seed)` per scenario, so a seed reproduces the input,
the fault schedule and the kill moments (the processes' own timing still varies with the machine's load;
the checks hold for every timing).
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("HASHTREND_BIN_DIR") or os.path.join(ROOT, ".build", "debug")
PYTHON = os.environ.get("HASHTREND_PYTHON") or sys.executable
ORACLE = os.path.join(ROOT, "tests", "oracle", "trends_oracle.py")
CHECK_TABLE = os.path.join(ROOT, "tests", "sink", "check_table.py")
WEBHDFS = os.path.join(ROOT, "tests", "fakes", "webhdfs_server.py")


class E2EFailure(AssertionError):
    pass


def log(msg):
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- processes

class Service:
    """One long-running process, restarted like a systemd unit with Restart=on-failure."""

    def __init__(self, run, name, argv, env=None, restart=True, restart_sec=1.0, stdin=False):
        self.run, self.name, self.argv, self.restart, self.restart_sec = run, name, argv, restart, restart_sec
        self.env = env if env is not None else dict(os.environ)
        self.stdin = stdin
        self.proc = None
        self.incarnation = 0
        self.restarts = 0
        self.kills = 0
        self.exit_statuses = []
        self.finished = False          # exited 0: a finite source reached its end
        self.down_since = None
        self.start()

    def start(self):
        self.incarnation += 1
        path = os.path.join(self.run.dir, f"{self.name}.{self.incarnation}.log")
        self.log_path = path
        err = open(path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                                     stderr=err, stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                                     env=self.env, start_new_session=True)
        err.close()
        self.run.pids.append((self.name, self.proc.pid))
        self.down_since = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL now (a crash); the supervisor restarts it after restart_sec. False if it was not running."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1
            return True
        return False

    def supervise(self):
        """Called from the run's loop: restart a failed process as systemd would."""
        if self.proc is None or self.alive() or self.finished:
            return
        rc = self.proc.returncode
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.exit_statuses.append(rc)
            if rc == 0:
                self.finished = True
                return
            if rc > 0:
                log(f"{self.name} exited with status {rc}: {self.tail(3)}")
        if rc == 78 or not self.restart:
            return
        if time.monotonic() - self.down_since >= self.restart_sec:
            self.restarts += 1
            self.start()

    def stop(self, timeout=40):
        """SIGTERM and wait (a clean stop); returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None

    def text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def all_text(self):
        out = []
        for i in range(1, self.incarnation + 1):
            try:
                with open(os.path.join(self.run.dir, f"{self.name}.{i}.log"), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def tail(self, n=20):
        return " | ".join(self.text().strip().splitlines()[-n:])


def binary(name):
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        raise E2EFailure(f"{path} is missing: build first (swift build), or set HASHTREND_BIN_DIR")
    return path


def run_tool(argv, stdout_path=None, timeout=300, env=None):
    """A short-lived tool to completion; returns stdout (bytes) unless written to a file."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    try:
        p = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, timeout=timeout, env=env)
    finally:
        if stdout_path:
            out.close()
    if p.returncode != 0:
        raise E2EFailure(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])} exited {p.returncode}: "
                         f"{p.stderr.decode('utf-8', 'replace')[-2000:]}")
    return p.stdout


class Broker:
    """`hashtrend broker`: the embedded mock cluster, faults over its control socket."""

    def __init__(self, run, topics):
        self.socket_path = os.path.join(run.dir, "broker.sock")
        self.bootstrap_file = os.path.join(run.dir, "bootstrap")
        argv = [binary("hashtrend"), "broker", "--bootstrap-file", self.bootstrap_file,
                "--control-socket", self.socket_path] + sum((["--topic", t] for t in topics), [])
        # Not restarted: the mock cluster keeps its data in memory.
        self.service = Service(run, "broker", argv, restart=False, stdin=True)
        line = self.service.proc.stdout.readline().decode().strip()
        if not line:
            raise E2EFailure(f"broker did not start: {self.service.text()}")
        self.bootstrap = line
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path) and time.monotonic() < deadline:
            time.sleep(0.05)

    def command(self, cmd):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.socket_path)
            s.sendall(cmd.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        reply = buf.decode().strip()
        if not reply.startswith("ok"):
            raise E2EFailure(f"broker command {cmd!r}: {reply!r}")
        return reply


class FakeHDFS:
    """tests/fakes/webhdfs_server.py: a strict WebHDFS namenode + datanode, faults over its stdin."""

    def __init__(self, run, root):
        os.makedirs(root, exist_ok=True)
        self.root = root
        self.service = Service(run, "webhdfs", [PYTHON, WEBHDFS, "--root", root], restart=False, stdin=True)
        first = json.loads(self.service.proc.stdout.readline().decode())
        self.namenode = first["namenode"]

    def command(self, cmd):
        self.service.proc.stdin.write(cmd.encode() + b"\n")
        self.service.proc.stdin.flush()
        reply = json.loads(self.service.proc.stdout.readline().decode())
        if not (isinstance(reply, dict) and reply.get("ok")):
            raise E2EFailure(f"webhdfs command {cmd!r}: {reply!r}")
        return reply


# ---------------------------------------------------------------------------------------------- input

def crc_partition(key, partitions):
    """librdkafka's default partitioner for keyed records (consistent_random): CRC-32 of the key."""
    return zlib.crc32(key.encode()) % partitions


def ms_to_rfc3339(ms):
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}Z"


def rfc3339_to_ms(text):
    import calendar
    date, clock = text.rstrip("Z").split("T")
    y, mo, d = (int(x) for x in date.split("-"))
    hms, _, frac = clock.partition(".")
    h, mi, s = (int(x) for x in hms.split(":"))
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + int((frac or "0").ljust(3, "0")[:3])


class Input:
    """`hashtrend generate --format x2` plus the driver's post-processing:
    - posts moved back beyond the lateness (late: the oracle and trendd must drop exactly those);
    - exact copies of posts a little further on (duplicates: counted once);
    - malformed lines (the dead-letter topic must get exactly them), and blank keep-alive lines;
    - one end-of-input post per partition far ahead in event time, so that every partition's watermark
      passes every window holding a real post: the windows close without trendd's idle timeout (which
      is processing time and would make the result timing-dependent; docs/windows.md)."""

    def __init__(self, path, rng, count, seed, rate, disorder, partitions, lateness_ms, window_ms, slide_ms,
                 late_fraction, dup_fraction, malformed_fraction):
        raw = path + ".generated"
        run_tool([binary("hashtrend"), "generate", "--count", str(count), "--seed", str(seed), "--format", "x2",
                  "--rate", str(rate), "--disorder", disorder, "--start", "2026-03-01T22:40:00Z"], stdout_path=raw)
        with open(raw, "rb") as f:
            lines = [l.rstrip(b"\n") for l in f if l.strip()]
        os.unlink(raw)
        self.late_ids, self.dup_ids, self.malformed = [], [], []
        out = []
        skip = max(1, len(lines) // 10)   # the first tenth: partitions have not seen enough to make a post late
        max_t = 0
        pending = []  # (position, line) of copies still to place
        for i, line in enumerate(lines):
            obj = json.loads(line)
            t = rfc3339_to_ms(obj["data"]["created_at"])
            max_t = max(max_t, t)
            if i >= skip and rng.random() < late_fraction:
                # Behind by more than the lateness plus the disorder: late in whatever partition it lands.
                back = lateness_ms + 5_000 + rng.randrange(0, 30_000)
                obj["data"]["created_at"] = ms_to_rfc3339(t - back)
                line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
                self.late_ids.append(obj["data"]["id"])
            out.append(line)
            if rng.random() < dup_fraction:
                # A copy a little further on (a re-delivery): same bytes, so the same created_at.
                self.dup_ids.append(obj["data"]["id"])
                pending.append((len(out) + rng.randrange(1, 200), line))
                pending.sort()
            while pending and pending[0][0] <= len(out):
                out.append(pending.pop(0)[1])
            if rng.random() < malformed_fraction:
                bad = self.malformed_line(rng, len(self.malformed), obj)
                self.malformed.append(bad)
                out.append(bad)
            if rng.random() < 0.001:
                out.append(b"")  # X's keep-alive: no post, no error
        out.extend(l for _, l in pending)
        # End of input: one post per partition, one window + lateness + two slides after the newest post.
        end_t = (max_t // slide_ms + 1) * slide_ms + window_ms + lateness_ms + 2 * slide_ms
        self.end_time = end_t
        self.sentinels = []
        n = 0
        for p in range(partitions):
            while True:
                key = f"9{n:018d}"
                n += 1
                if crc_partition(key, partitions) == p:
                    break
            self.sentinels.append(key)
            out.append(json.dumps({"data": {"id": key, "created_at": ms_to_rfc3339(end_t), "text": "end of input",
                                            "author_id": "1", "lang": "en", "entities": {"hashtags": []}},
                                   "matching_rules": []}, separators=(",", ":")).encode())
        with open(path, "wb") as f:
            f.write(b"\n".join(out) + b"\n")
        self.path = path
        self.lines = len(out)
        self.posts = len(lines) + partitions   # distinct valid posts
        self.max_real_time = max_t
        # Windows final once every partition's watermark (end_t - L) is at or past their end.
        self.final_limit = end_t - lateness_ms

    @staticmethod
    def malformed_line(rng, n, obj):
        pid = obj["data"]["id"]
        kind = rng.randrange(5)
        if kind == 0:   # cut short
            return f'{{"data":{{"id":"bad{n}","created_at":"2026-03-01T22:40:00.000Z","text":"cut'.encode()
        if kind == 1:   # invalid UTF-8
            return f'{{"data":{{"id":"bad{n}","created_at":"2026-03-01T22:40:00.000Z","text":"bytes '.encode() \
                + b"\xff\xfe\xc3" + b'"}}'
        if kind == 2:   # no created_at
            return f'{{"data":{{"id":"bad{n}","text":"no time #lost{n}"}}}}'.encode()
        if kind == 3:   # created_at that is no time
            return f'{{"data":{{"id":"bad{n}","created_at":"yesterday","text":"when #lost{n}"}}}}'.encode()
        return f'{{"data":{{"id":"bad{n}" "created_at":"2026-03-01T22:40:00.000Z"}}}} {pid}'.encode()  # bad syntax


# ---------------------------------------------------------------------------------------------- topics

def kcat(bootstrap, topic, fmt, out_path):
    run_tool(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt,
              "-X", "topic.metadata.refresh.interval.ms=1000"], stdout_path=out_path, timeout=120)


def read_length_prefixed(path):
    """kcat -f '%S\\t%s\\n' output: values that may hold any byte."""
    with open(path, "rb") as f:
        data = f.read()
    out, i = [], 0
    while i < len(data):
        tab = data.index(b"\t", i)
        n = int(data[i:tab])
        if n < 0:
            out.append(None)
            i = tab + 2
            continue
        out.append(data[tab + 1:tab + 1 + n])
        i = tab + 1 + n + 1
    return out
