#!/usr/bin/env python3
"""A strict fake of HDFS's WebHDFS REST API (namenode + one datanode), for tests.

Usage: webhdfs_server.py --root DIR [--host 127.0.0.1] [--user NAME] [--delegation TOKEN]
                         [--nn-port 0] [--dn-port 0] [--tls-cert PEM --tls-key PEM]

With --tls-cert/--tls-key both ports speak HTTPS (swebhdfs://) and redirects point to https URLs.

The first stdout line is JSON: {"namenode": <port>, "datanode": <port>, "root": "<dir>"}.
Files live on disk under --root (HDFS path /a/b is <root>/a/b), so they survive a "namenode restart"
and tests can compare them with what a client sees.

Protocol, as Hadoop's NamenodeWebHdfsMethods / DatanodeWebHdfsMethods behave:
  namenode: PUT CREATE (no body allowed) -> 307 Location datanode (or 200 {"Location"} with noredirect=true)
            PUT MKDIRS / RENAME -> {"boolean": ...}; DELETE DELETE -> {"boolean": ...}
            GET GETFILESTATUS / LISTSTATUS -> FileStatus JSON; GET OPEN -> 307 to the datanode
  datanode: PUT CREATE with the bytes -> 201 Created; GET OPEN -> 200 bytes (offset/length)
  errors:   {"RemoteException": {"exception", "javaClassName", "message"}} with HDFS's status mapping.

Control: one command per stdin line, one JSON reply line on stdout:
  fail <OP|*> <n> [status] [namenode|datanode|any]   next n matching requests answer <status> (500)
  delay <OP|*> <n> <seconds> [side]                  next n matching requests wait before answering
  drop <OP|*> <n> [side]                             next n matching requests: read half the body (the
                                                     datanode writes those bytes to the file), then close
                                                     the connection without an answer
  lose <OP|*> <n> [side]                             next n matching requests are carried out, then the
                                                     connection closes without the answer (a lost reply)
  refuse <namenode|datanode> <seconds>               close the listener (connections refused), reopen later
  restart <seconds>                                  namenode restart: drop open connections, close the
                                                     listener, come back on the same port, files kept
  user <name|->                                      require user.name (- = no requirement)
  log                                                the request log (a JSON array)
  clearlog                                           empties the request log
  ping                                               {"ok": true}
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import stat
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXC_CLASSES = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "SecurityException": "java.lang.SecurityException",
    "InvalidToken": "org.apache.hadoop.security.token.SecretManager$InvalidToken",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
    "IOException": "java.io.IOException",
    "RuntimeException": "java.lang.RuntimeException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
}

NAMENODE_OPS = {"GET": {"OPEN", "GETFILESTATUS", "LISTSTATUS"},
                "PUT": {"CREATE", "MKDIRS", "RENAME"},
                "DELETE": {"DELETE"}, "POST": set()}
DATANODE_OPS = {"GET": {"OPEN"}, "PUT": {"CREATE"}}


class HDFSError(Exception):
    def __init__(self, status, exception, message):
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


class State:
    def __init__(self, root, user, delegation, host, tls=None):
        self.tls = tls                       # an ssl.SSLContext, or None for plain HTTP
        self.root = os.path.abspath(root)
        self.user = user
        self.delegation = delegation
        self.host = host
        self.lock = threading.RLock()        # the file tree: one operation at a time, like the namenode
        self.ctl = threading.Lock()          # faults and the log
        self.faults = []                     # dicts: kind, op, side, n, status/seconds
        self.log = []
        self.ports = {}
        self.servers = {}
        self.conns = {"namenode": set(), "datanode": set()}
        self.next_file_id = 16386

    # --- paths
    def local(self, hpath):
        parts = [p for p in hpath.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise HDFSError(400, "IllegalArgumentException", "Invalid path name " + hpath)
        return os.path.join(self.root, *parts) if parts else self.root

    def status_json(self, hpath, local, suffix):
        st = os.stat(local)
        is_dir = stat.S_ISDIR(st.st_mode)
        d = {
            "accessTime": 0 if is_dir else int(st.st_atime * 1000),
            "blockSize": 0 if is_dir else 134217728,
            "childrenNum": len(os.listdir(local)) if is_dir else 0,
            "fileId": st.st_ino,
            "group": "supergroup",
            "length": 0 if is_dir else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": self.user or "hdfs",
            "pathSuffix": suffix,
            "permission": "755" if is_dir else "644",
            "replication": 0 if is_dir else 3,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        return d

    # --- faults
    def take_fault(self, op, side):
        """Consumes the first fault matching (op, side); returns it or None."""
        with self.ctl:
            for f in self.faults:
                if f["op"] in ("*", op) and f["side"] in ("any", side) and f["n"] > 0:
                    f["n"] -= 1
                    hit = dict(f)
                    if f["n"] == 0:
                        self.faults.remove(f)
                    return hit
        return None

    def record(self, entry):
        with self.ctl:
            self.log.append(entry)


def remote(status, exception, message):
    body = {"RemoteException": {"exception": exception,
                                "javaClassName": EXC_CLASSES.get(exception, "java.io.IOException"),
                                "message": message}}
    return status, json.dumps(body).encode()


def make_handler(state, side):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeWebHDFS/1.0"

        def log_message(self, fmt, *args):  # the request log replaces stderr noise
            pass

        def setup(self):
            super().setup()
            with state.ctl:
                state.conns[side].add(self.connection)

        def finish(self):
            try:
                super().finish()
            finally:
                with state.ctl:
                    state.conns[side].discard(self.connection)

        # --- body handling (Content-Length or chunked)
        def body_info(self):
            te = (self.headers.get("Transfer-Encoding") or "").lower()
            cl = self.headers.get("Content-Length")
            return te, int(cl) if cl is not None else None

        def read_body(self, limit=None):
            self.body_consumed = True
            te, cl = self.body_info()
            if "chunked" in te:
                out = bytearray()
                while True:
                    line = self.rfile.readline()
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = cl or 0
            if limit is not None:
                n = min(n, limit)
            return self.rfile.read(n) if n > 0 else b""

        def send(self, status, body=b"", ctype="application/json", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self):
            self.dispatch("GET")

        def do_PUT(self):
            self.dispatch("PUT")

        def do_POST(self):
            self.dispatch("POST")

        def do_DELETE(self):
            self.dispatch("DELETE")

        def dispatch(self, method):
            url = urllib.parse.urlsplit(self.path)
            params = {}
            for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
                params[k.lower() if k.lower() in ("op",) else k] = v
            op = params.get("op", "").upper()
            entry = {"side": side, "method": method, "path": urllib.parse.unquote(url.path), "op": op,
                     "query": {k: ("<redacted>" if k == "delegation" else v) for k, v in params.items()},
                     "body_bytes": 0, "status": None, "t": time.time()}
            self.body_consumed = False
            fault = None
            try:
                fault = state.take_fault(op, side)
                if fault and fault["kind"] == "delay":
                    time.sleep(fault["seconds"])
                if fault and fault["kind"] == "drop":
                    te, cl = self.body_info()
                    part = self.read_body(limit=(cl or 0) // 2)
                    entry["body_bytes"] = len(part)
                    entry["status"] = "dropped"
                    if side == "datanode" and op == "CREATE":
                        # A datanode that dies mid-write leaves what it received.
                        try:
                            with state.lock:
                                hpath = self.hdfs_path(url.path)
                                local = state.local(hpath)
                                os.makedirs(os.path.dirname(local), exist_ok=True)
                                with open(local, "wb") as f:
                                    f.write(part)
                        except Exception:
                            pass
                    state.record(entry)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault and fault["kind"] == "fail":
                    body = self.read_body()
                    entry["body_bytes"] = len(body)
                    status, payload = remote(fault["status"], "RuntimeException" if fault["status"] >= 500 else "IOException",
                                             "injected failure")
                    entry["status"] = status
                    state.record(entry)
                    self.send(status, payload)
                    return
                if side == "namenode":
                    status, payload, headers, ctype = self.namenode(method, url, params, op, entry)
                else:
                    status, payload, headers, ctype = self.datanode(method, url, params, op, entry)
            except HDFSError as e:
                status, payload = remote(e.status, e.exception, e.message)
                headers, ctype = (), "application/json"
            except (ConnectionError, BrokenPipeError):
                return
            if not self.body_consumed:
                te, cl = self.body_info()
                if (cl or 0) > 0 or "chunked" in te:
                    rest = self.read_body()
                    entry["body_bytes"] = max(entry["body_bytes"], len(rest))
            entry["status"] = status
            if fault and fault["kind"] == "lose":
                entry["status"] = "lost(%s)" % status
                state.record(entry)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            state.record(entry)
            try:
                self.send(status, payload, ctype, headers)
            except (ConnectionError, BrokenPipeError):
                pass

        def hdfs_path(self, raw):
            path = urllib.parse.unquote(raw)
            if not path.startswith("/webhdfs/v1"):
                raise HDFSError(404, "IllegalArgumentException", "Not a WebHDFS path: " + path)
            rest = path[len("/webhdfs/v1"):]
            if rest == "":
                rest = "/"
            if not rest.startswith("/"):
                raise HDFSError(404, "IllegalArgumentException", "Not a WebHDFS path: " + path)
            return rest

        def check_auth(self, params):
            if state.delegation is not None and "delegation" in params:
                if params["delegation"] != state.delegation:
                    raise HDFSError(403, "InvalidToken", "token is expired or doesn't exist")
                return
            if state.user is not None:
                u = params.get("user.name")
                if u is None:
                    raise HDFSError(401, "SecurityException",
                                    "Failed to obtain user group information: user.name is required")
                if u != state.user:
                    raise HDFSError(403, "AccessControlException",
                                    "Permission denied: user=%s, access=WRITE, inode=\"/\":%s:supergroup:drwxr-xr-x"
                                    % (u, state.user))
            elif state.delegation is not None:
                raise HDFSError(401, "SecurityException", "delegation token required")

        def check_op(self, method, op, table):
            if not op:
                raise HDFSError(400, "IllegalArgumentException", "Invalid value for webhdfs parameter \"op\": op is missing")
            if op not in table.get(method, set()):
                allowed = [m for m, ops in table.items() if op in ops]
                if allowed:
                    raise HDFSError(400, "IllegalArgumentException",
                                    "Invalid value for webhdfs parameter \"op\": %s is not a valid %sOpParam.Op" % (op, method.capitalize()))
                raise HDFSError(400, "IllegalArgumentException",
                                "Invalid value for webhdfs parameter \"op\": No enum constant %s" % op)

        def bool_param(self, params, name, default):
            v = params.get(name)
            if v is None or v == "":
                return default
            if v.lower() not in ("true", "false"):
                raise HDFSError(400, "IllegalArgumentException",
                                "Invalid value for webhdfs parameter \"%s\": Failed to parse \"%s\" to Boolean." % (name, v))
            return v.lower() == "true"

        def long_param(self, params, name, default):
            v = params.get(name)
            if v is None or v == "":
                return default
            try:
                n = int(v)
            except ValueError:
                raise HDFSError(400, "IllegalArgumentException",
                                "Invalid value for webhdfs parameter \"%s\": Failed to parse \"%s\" as a radix-10 long integer." % (name, v))
            if n < 0:
                raise HDFSError(400, "IllegalArgumentException",
                                "Invalid value for webhdfs parameter \"%s\": Invalid parameter range: %s = %d < 0" % (name, name, n))
            return n

        def datanode_url(self, hpath, params):
            q = [(k, v) for k, v in params.items() if k not in ("noredirect",)]
            q.append(("namenoderpcaddress", "%s:8020" % state.host))
            if params.get("op", "").upper() == "CREATE":
                q += [("createflag", ""), ("createparent", "true")]
            return "%s://%s:%d/webhdfs/v1%s?%s" % ("https" if state.tls else "http", state.host, state.ports["datanode"],
                                                     urllib.parse.quote(hpath), urllib.parse.urlencode(q))

        # --- namenode
        def namenode(self, method, url, params, op, entry):
            hpath = self.hdfs_path(url.path)
            self.check_op(method, op, NAMENODE_OPS)
            self.check_auth(params)
            noredirect = self.bool_param(params, "noredirect", False)
            if op == "CREATE":
                te, cl = self.body_info()
                if (cl or 0) > 0 or "chunked" in te:
                    body = self.read_body()
                    entry["body_bytes"] = len(body)
                    raise HDFSError(400, "IllegalArgumentException",
                                    "CREATE to the namenode must not carry data: PUT the bytes to the datanode Location")
                self.bool_param(params, "overwrite", False)
                if hpath == "/":
                    raise HDFSError(400, "IllegalArgumentException", "Invalid path name /")
                loc = self.datanode_url(hpath, params)
                if noredirect:
                    return 200, json.dumps({"Location": loc}).encode(), (), "application/json"
                return 307, b"", (("Location", loc),), "application/octet-stream"
            if op == "OPEN":
                self.long_param(params, "offset", 0)
                self.long_param(params, "length", None)
                with state.lock:
                    local = state.local(hpath)
                    if not os.path.exists(local):
                        raise HDFSError(404, "FileNotFoundException", "File does not exist: " + hpath)
                    if os.path.isdir(local):
                        raise HDFSError(404, "FileNotFoundException", "Path is not a file: " + hpath)
                loc = self.datanode_url(hpath, params)
                if noredirect:
                    return 200, json.dumps({"Location": loc}).encode(), (), "application/json"
                return 307, b"", (("Location", loc),), "application/octet-stream"
            with state.lock:
                if op == "MKDIRS":
                    return 200, json.dumps({"boolean": self.mkdirs(hpath)}).encode(), (), "application/json"
                if op == "RENAME":
                    dst = params.get("destination")
                    if dst is None or not dst.startswith("/"):
                        raise HDFSError(400, "IllegalArgumentException",
                                        "Invalid value for webhdfs parameter \"destination\": %s is not an absolute path" % dst)
                    return 200, json.dumps({"boolean": self.rename(hpath, dst)}).encode(), (), "application/json"
                if op == "DELETE":
                    recursive = self.bool_param(params, "recursive", False)
                    return 200, json.dumps({"boolean": self.delete(hpath, recursive)}).encode(), (), "application/json"
                if op == "GETFILESTATUS":
                    local = state.local(hpath)
                    if not os.path.exists(local):
                        raise HDFSError(404, "FileNotFoundException", "File does not exist: " + hpath)
                    return 200, json.dumps({"FileStatus": state.status_json(hpath, local, "")}).encode(), (), "application/json"
                if op == "LISTSTATUS":
                    local = state.local(hpath)
                    if not os.path.exists(local):
                        raise HDFSError(404, "FileNotFoundException", "File " + hpath + " does not exist.")
                    if os.path.isdir(local):
                        items = [state.status_json(hpath + "/" + n, os.path.join(local, n), n)
                                 for n in sorted(os.listdir(local))]
                    else:
                        items = [state.status_json(hpath, local, "")]
                    return 200, json.dumps({"FileStatuses": {"FileStatus": items}}).encode(), (), "application/json"
            raise HDFSError(400, "UnsupportedOperationException", op + " is not supported by this fake")

        def check_parents(self, hpath):
            """A file on the way to hpath makes HDFS fail with ParentNotDirectoryException."""
            parts = [p for p in hpath.split("/") if p]
            for i in range(1, len(parts)):
                local = state.local("/" + "/".join(parts[:i]))
                if os.path.exists(local) and not os.path.isdir(local):
                    raise HDFSError(403, "ParentNotDirectoryException",
                                    "/" + "/".join(parts[:i]) + " (is not a directory)")

        def mkdirs(self, hpath):
            self.check_parents(hpath)
            local = state.local(hpath)
            if os.path.exists(local) and not os.path.isdir(local):
                raise HDFSError(403, "FileAlreadyExistsException", "Path is not a directory: " + hpath)
            os.makedirs(local, exist_ok=True)
            return True

        def rename(self, src, dst):
            # FileSystem.rename semantics (WebHDFS RENAME without options): false, never an overwrite.
            if src == "/" or not src.startswith("/"):
                return False
            ls, ld = state.local(src), state.local(dst)
            if not os.path.exists(ls):
                return False
            if src == dst:
                return True
            if os.path.isdir(ld):
                # an existing directory receives the source inside it
                dst = dst.rstrip("/") + "/" + os.path.basename(ls)
                ld = state.local(dst)
            if os.path.exists(ld):
                return False
            parent = os.path.dirname(ld)
            if not os.path.isdir(parent):
                return False
            if (dst + "/").startswith(src.rstrip("/") + "/"):
                return False  # into its own subtree
            os.rename(ls, ld)
            return True

        def delete(self, hpath, recursive):
            local = state.local(hpath)
            if hpath == "/" or not os.path.exists(local):
                return False
            if os.path.isdir(local):
                if os.listdir(local) and not recursive:
                    raise HDFSError(403, "PathIsNotEmptyDirectoryException",
                                    "`%s is non empty': Directory is not empty" % hpath)
                shutil.rmtree(local)
            else:
                os.remove(local)
            return True

        # --- datanode
        def datanode(self, method, url, params, op, entry):
            hpath = self.hdfs_path(url.path)
            self.check_op(method, op, DATANODE_OPS)
            if not params.get("namenoderpcaddress"):
                raise HDFSError(400, "IllegalArgumentException", "Namenode RPC address is not specified.")
            self.check_auth(params)
            if op == "CREATE":
                te, cl = self.body_info()
                if cl is None and "chunked" not in te:
                    raise HDFSError(411, "IllegalArgumentException", "Content-Length required")
                data = self.read_body()
                entry["body_bytes"] = len(data)
                overwrite = self.bool_param(params, "overwrite", False)
                with state.lock:
                    self.check_parents(hpath)
                    local = state.local(hpath)
                    if os.path.isdir(local):
                        raise HDFSError(403, "FileAlreadyExistsException",
                                        "%s already exists as a directory" % hpath)
                    if os.path.exists(local) and not overwrite:
                        raise HDFSError(403, "FileAlreadyExistsException",
                                        "%s for client 127.0.0.1 already exists" % hpath)
                    os.makedirs(os.path.dirname(local), exist_ok=True)
                    tmp = local + ".fake-writing"
                    with open(tmp, "wb") as f:
                        f.write(data)
                    os.replace(tmp, local)
                loc = "webhdfs://%s:%d%s" % (state.host, state.ports["namenode"], hpath)
                return 201, b"", (("Location", loc),), "application/octet-stream"
            # OPEN
            offset = self.long_param(params, "offset", 0)
            length = self.long_param(params, "length", None)
            with state.lock:
                local = state.local(hpath)
                if not os.path.isfile(local):
                    raise HDFSError(404, "FileNotFoundException", "File does not exist: " + hpath)
                size = os.path.getsize(local)
                if offset > size:
                    raise HDFSError(403, "IOException",
                                    "Offset=%d out of the range [0, %d); OPEN, path=%s" % (offset, size, hpath))
                with open(local, "rb") as f:
                    f.seek(offset)
                    data = f.read(size - offset if length is None else length)
            return 200, data, (), "application/octet-stream"

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def start_side(state, side, port):
    srv = Server((state.host, port), make_handler(state, side))
    if state.tls is not None:
        srv.socket = state.tls.wrap_socket(srv.socket, server_side=True)
    state.servers[side] = srv
    state.ports[side] = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def stop_side(state, side, drop):
    srv = state.servers.pop(side, None)
    if srv is not None:
        srv.shutdown()
        srv.server_close()
    if drop:
        with state.ctl:
            conns = list(state.conns[side])
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def reopen_later(state, side, seconds):
    def run():
        time.sleep(seconds)
        for _ in range(100):
            try:
                start_side(state, side, state.ports[side])
                return
            except OSError:
                time.sleep(0.05)
    threading.Thread(target=run, daemon=True).start()


def command(state, line):
    words = line.split()
    if not words:
        return None
    cmd, args = words[0], words[1:]
    if cmd == "ping":
        return {"ok": True}
    if cmd == "fail":
        op, n = args[0].upper(), int(args[1])
        status = int(args[2]) if len(args) > 2 else 500
        side = args[3] if len(args) > 3 else "any"
        with state.ctl:
            state.faults.append({"kind": "fail", "op": op, "n": n, "status": status, "side": side})
        return {"ok": True}
    if cmd == "delay":
        op, n, secs = args[0].upper(), int(args[1]), float(args[2])
        side = args[3] if len(args) > 3 else "any"
        with state.ctl:
            state.faults.append({"kind": "delay", "op": op, "n": n, "seconds": secs, "side": side})
        return {"ok": True}
    if cmd == "drop":
        op, n = args[0].upper(), int(args[1])
        side = args[2] if len(args) > 2 else "any"
        with state.ctl:
            state.faults.append({"kind": "drop", "op": op, "n": n, "side": side})
        return {"ok": True}
    if cmd == "lose":
        op, n = args[0].upper(), int(args[1])
        side = args[2] if len(args) > 2 else "any"
        with state.ctl:
            state.faults.append({"kind": "lose", "op": op, "n": n, "side": side})
        return {"ok": True}
    if cmd == "refuse":
        side, secs = args[0], float(args[1])
        stop_side(state, side, drop=False)
        reopen_later(state, side, secs)
        return {"ok": True}
    if cmd == "restart":
        secs = float(args[0]) if args else 1.0
        stop_side(state, "namenode", drop=True)
        reopen_later(state, "namenode", secs)
        return {"ok": True}
    if cmd == "user":
        state.user = None if args[0] == "-" else args[0]
        return {"ok": True}
    if cmd == "log":
        with state.ctl:
            return list(state.log)
    if cmd == "clearlog":
        with state.ctl:
            state.log.clear()
        return {"ok": True}
    return {"ok": False, "error": "unknown command " + cmd}


def main():
    ap = argparse.ArgumentParser(description="Strict fake WebHDFS namenode + datanode")
    ap.add_argument("--root", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--nn-port", type=int, default=0)
    ap.add_argument("--dn-port", type=int, default=0)
    ap.add_argument("--user", default=None, help="require this user.name")
    ap.add_argument("--delegation", default=None, help="accept this delegation token")
    ap.add_argument("--tls-cert", default=None)
    ap.add_argument("--tls-key", default=None)
    a = ap.parse_args()
    os.makedirs(a.root, exist_ok=True)
    tls = None
    if a.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    state = State(a.root, a.user, a.delegation, a.host, tls)
    start_side(state, "namenode", a.nn_port)
    start_side(state, "datanode", a.dn_port)
    print(json.dumps({"namenode": state.ports["namenode"], "datanode": state.ports["datanode"],
                      "root": state.root}), flush=True)
    for line in sys.stdin:
        try:
            reply = command(state, line.strip())
        except Exception as e:  # a bad control line must not kill the fake
            reply = {"ok": False, "error": repr(e)}
        if reply is not None:
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
