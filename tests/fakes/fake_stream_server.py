#!/usr/bin/env python3
"""Strict local stand-in for the streaming APIs ingestd reads (stdlib only).

Modes (set in the script):
  x2        X API v2 filtered stream + rules API, app-only bearer token
  x1        X API v1.1 POST /1.1/statuses/filter.json, OAuth 1.0a user context; every request's
            HMAC-SHA1 signature is recomputed here, independently, and a wrong one gets 401
  mastodon  Mastodon streaming API (server-sent events), bearer access token

Usage: fake_stream_server.py --script SCRIPT.json --log REQUESTS.jsonl
Prints the port it listens on (127.0.0.1, chosen by the OS) as the first line of stdout.

Script (JSON):
  {"mode": "x2", "token": "...",                       # x2 / mastodon bearer token
   "oauth": {"consumer_key":..., "consumer_secret":..., "access_token":..., "access_secret":...},
   "rules": [{"id": "1", "value": "cat", "tag": "cats"}],   # x2: rules the server starts with
   "require_tweet_fields": [...], "require_expansions": [...],  # x2: what the client must ask for
   "connections": [ CONNECTION, ... ],                  # the n-th stream request gets the n-th entry
   "default": CONNECTION}                               # after the list: default keeps the stream open
  CONNECTION: {"status": 200, "headers": {"x-rate-limit-reset": "${now+3}"}, "body": {...} | "text",
               "steps": [STEP, ...]}
  STEP: {"send": "raw text"} | {"line": "text"} (+CRLF) | {"lines": ["a", "b"]}
        | {"generate": N, "template": "...{i}..."} | {"keepalive": N, "every": 0.1} | {"sleep": s} (a stall when nothing else is sent)
        | {"abort": true} (drop the TCP connection without ending the chunked body)
        | {"end": true} (end the body cleanly) | {"hold": true} (keep-alives until the client leaves)
Every request is appended to the log as one JSON line: t, method, path, query, body, status, kind.
"""
import argparse
import base64
import hashlib
import hmac
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit, unquote

TWEET_FIELDS = {"article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
                "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
                "entities", "geo", "id", "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics",
                "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
                "referenced_tweets", "reply_settings", "scopes", "source", "text", "withheld"}
EXPANSIONS = {"article.cover_media", "article.media_entities", "attachments.media_keys", "attachments.media_source_tweet",
              "attachments.poll_ids", "author_id", "edit_history_tweet_ids", "entities.mentions.username",
              "geo.place_id", "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
              "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id"}
STREAM_PARAMS = {"tweet.fields", "expansions", "user.fields", "media.fields", "place.fields", "poll.fields",
                 "backfill_minutes"}


class State:
    def __init__(self, script, log_path):
        self.script = script
        self.lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1)
        self.stream_requests = 0
        self.rules = list(script.get("rules", []))
        self.next_rule_id = 1000
        self.nonces = set()

    def log(self, entry):
        with self.lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def next_connection(self):
        with self.lock:
            n = self.stream_requests
            self.stream_requests += 1
        conns = self.script.get("connections", [])
        if n < len(conns):
            return conns[n]
        return self.script.get("default", {"steps": [{"hold": True}]})


def oauth_encode(s):
    return quote(s, safe="-._~")


def x_problem(title, detail, type_, status=None):
    body = {"title": title, "detail": detail, "type": type_}
    if status is not None:
        body["status"] = status
    return body


def rule_problem(value):
    """Minimal rule syntax check: what X would reject as invalid, or None."""
    if value is None or not value.strip():
        return "Rules must contain a non-negation term"
    if value.count('"') % 2:
        return "Unbalanced quotes"
    depth = 0
    for ch in value:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            break
    if depth != 0:
        return "Unbalanced parentheses"
    if len(value) > 1024:
        return "Rule is too long"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-stream/1"

    def log_message(self, fmt, *args):  # quiet: the request log file is the record
        pass

    # ---- plumbing -------------------------------------------------------------------------------
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def record(self, status, kind, body=b""):
        parts = urlsplit(self.path)
        self.server.state.log({
            "t": time.time(), "method": self.command, "path": parts.path,
            "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
            "body": body.decode("utf-8", "replace"), "status": status, "kind": kind,
        })

    def send_json(self, status, obj, headers=None, kind="api", body=b""):
        self.record(status, kind, body)
        data = (json.dumps(obj) if not isinstance(obj, str) else obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, expand(v))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def run_connection(self, conn, kind, body, content_type):
        status = conn.get("status", 200)
        if status != 200:
            self.send_json(status, conn.get("body", {"title": "Service Unavailable", "status": status}),
                           conn.get("headers"), kind, body)
            return
        self.record(200, kind, body)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in conn.get("headers", {}).items():
            self.send_header(k, expand(v))
        self.end_headers()
        self.wfile.flush()
        try:
            for step in conn.get("steps", []):
                if "send" in step:
                    self.chunk(step["send"])
                elif "line" in step:
                    self.chunk(step["line"] + "\r\n")
                elif "lines" in step:
                    for line in step["lines"]:
                        self.chunk(line + "\r\n")
                elif "generate" in step:
                    # N lines from a template, `{i}` = 1...N, written in batches (volume tests).
                    template, n, batch = step["template"], step["generate"], []
                    for i in range(1, n + 1):
                        batch.append(template.replace("{i}", str(i)) + "\r\n")
                        if len(batch) == 500 or i == n:
                            self.chunk("".join(batch))
                            batch = []
                elif "keepalive" in step:
                    for _ in range(step["keepalive"]):
                        self.chunk(step.get("text", "\r\n"))
                        time.sleep(step.get("every", 0.1))
                elif "sleep" in step:
                    time.sleep(step["sleep"])
                elif step.get("abort"):
                    self.close_connection = True
                    self.wfile.flush()
                    import socket
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                elif step.get("end"):
                    break
                elif step.get("hold"):
                    while True:
                        self.chunk(step.get("text", "\r\n"))
                        time.sleep(step.get("every", 0.25))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    # ---- dispatch -------------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch(b"")

    def do_POST(self):
        self.dispatch(self.read_body())

    def do_DELETE(self):
        self.dispatch(self.read_body())

    def dispatch(self, body):
        mode = self.server.state.script["mode"]
        try:
            {"x2": self.x2, "x1": self.x1, "mastodon": self.mastodon}[mode](body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- X API v2 -------------------------------------------------------------------------------
    def bearer_ok(self):
        return self.headers.get("Authorization") == "Bearer " + self.server.state.script["token"]

    def x2(self, body):
        st = self.server.state
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if parts.path not in ("/2/tweets/search/stream", "/2/tweets/search/stream/rules"):
            return self.send_json(404, x_problem("Not Found Error", "Could not find the requested resource.",
                                                 "https://api.twitter.com/2/problems/resource-not-found"), body=body)
        if not self.bearer_ok():
            return self.send_json(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                        "detail": "Unauthorized"}, body=body)
        if parts.path == "/2/tweets/search/stream/rules":
            return self.x2_rules(query, body)
        if self.command != "GET":
            return self.send_json(405, x_problem("Method Not Allowed", "GET only", "about:blank"), body=body)
        problems = []
        seen = {}
        for k, v in query:
            if k not in STREAM_PARAMS:
                problems.append({"parameters": {k: [v]}, "message": "The query parameter [%s] is not one of [%s]" % (k, ",".join(sorted(STREAM_PARAMS)))})
            if k in seen:
                problems.append({"parameters": {k: [v]}, "message": "Duplicate parameter [%s]" % k})
            seen[k] = v
        fields = set(filter(None, seen.get("tweet.fields", "").split(",")))
        for f in sorted(fields - TWEET_FIELDS):
            problems.append({"parameters": {"tweet.fields": [f]}, "message": "The `tweet.fields` query parameter value [%s] is not one of [%s]" % (f, ",".join(sorted(TWEET_FIELDS)))})
        exps = set(filter(None, seen.get("expansions", "").split(",")))
        for e in sorted(exps - EXPANSIONS):
            problems.append({"parameters": {"expansions": [e]}, "message": "The `expansions` query parameter value [%s] is not one of [%s]" % (e, ",".join(sorted(EXPANSIONS)))})
        if "backfill_minutes" in seen:
            bm = seen["backfill_minutes"]
            if not bm.isdigit() or not 0 <= int(bm) <= 5:
                problems.append({"parameters": {"backfill_minutes": [bm]}, "message": "The `backfill_minutes` query parameter value [%s] is not between 0 and 5" % bm})
        # This fake also insists on what ingestd must request (a test of our client, not X's rule).
        for f in st.script.get("require_tweet_fields", []):
            if f not in fields:
                problems.append({"parameters": {"tweet.fields": [f]}, "message": "fake: tweet.fields must include %s" % f})
        for e in st.script.get("require_expansions", []):
            if e not in exps:
                problems.append({"parameters": {"expansions": [e]}, "message": "fake: expansions must include %s" % e})
        if problems:
            return self.send_json(400, {"errors": problems, "title": "Invalid Request",
                                        "detail": "One or more parameters to your request was invalid.",
                                        "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="stream", body=body)
        self.run_connection(st.next_connection(), "stream", body, "application/json; charset=utf-8")

    def x2_rules(self, query, body):
        st = self.server.state
        sent = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        q = dict(query)
        if self.command == "GET":
            if set(q) - {"ids", "max_results", "pagination_token"}:
                return self.send_json(400, {"title": "Invalid Request", "detail": "unknown parameter",
                                            "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="rules")
            with st.lock:
                rules = list(st.rules)
            out = {"meta": {"sent": sent, "result_count": len(rules)}}
            if rules:
                out["data"] = rules
            return self.send_json(200, out, kind="rules")
        if self.command != "POST":
            return self.send_json(405, x_problem("Method Not Allowed", "GET or POST", "about:blank"), kind="rules", body=body)
        if set(q) - {"dry_run", "delete_all"} or q.get("dry_run", "false") not in ("true", "false"):
            return self.send_json(400, {"title": "Invalid Request", "detail": "unknown parameter",
                                        "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="rules", body=body)
        if "json" not in (self.headers.get("Content-Type") or ""):
            return self.send_json(400, {"title": "Invalid Request", "detail": "Content-Type must be application/json",
                                        "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="rules", body=body)
        dry = q.get("dry_run") == "true"
        try:
            req = json.loads(body)
        except ValueError:
            return self.send_json(400, {"title": "Invalid Request", "detail": "body is not JSON",
                                        "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="rules", body=body)
        if not isinstance(req, dict) or len(req) != 1 or next(iter(req)) not in ("add", "delete"):
            return self.send_json(400, {"title": "Invalid Request", "detail": "exactly one of add, delete",
                                        "type": "https://api.twitter.com/2/problems/invalid-request"}, kind="rules", body=body)
        with st.lock:
            if "add" in req:
                errors, created = [], []
                existing = {r["value"] for r in st.rules}
                for r in req["add"]:
                    v = r.get("value")
                    p = rule_problem(v)
                    if p:
                        errors.append({"value": v, "details": [p], "title": "UnprocessableEntity",
                                       "type": "https://api.twitter.com/2/problems/invalid-rules"})
                    elif v in existing:
                        errors.append({"value": v, "id": next(x["id"] for x in st.rules if x["value"] == v),
                                       "title": "DuplicateRule", "type": "https://api.twitter.com/2/problems/duplicate-rules"})
                    else:
                        st.next_rule_id += 1
                        rule = {"id": str(st.next_rule_id), "value": v}
                        if r.get("tag"):
                            rule["tag"] = r["tag"]
                        created.append(rule)
                summary = {"created": 0 if errors else len(created), "not_created": len(req["add"]) - (0 if errors else len(created)),
                           "valid": len(created), "invalid": len(errors)}
                if errors:
                    status, out = 400, {"errors": errors, "meta": {"sent": sent, "summary": summary}}
                else:
                    if not dry:
                        st.rules.extend(created)
                    status, out = 201 if not dry else 200, {"data": created, "meta": {"sent": sent, "summary": summary}}
            else:
                ids = req["delete"].get("ids", [])
                known = {r["id"] for r in st.rules}
                missing = [i for i in ids if i not in known]
                if missing:
                    status, out = 200, {"meta": {"sent": sent, "summary": {"deleted": 0, "not_deleted": len(ids)}},
                                        "errors": [{"errors": [{"parameters": {}, "message": "Rule does not exist"}],
                                                    "title": "Invalid Request", "value": i,
                                                    "type": "https://api.twitter.com/2/problems/invalid-request"} for i in missing]}
                else:
                    if not dry:
                        st.rules = [r for r in st.rules if r["id"] not in ids]
                    status, out = 200, {"meta": {"sent": sent, "summary": {"deleted": len(ids), "not_deleted": 0}}}
        self.send_json(status, out, kind="rules", body=body)

    # ---- X API v1.1 -----------------------------------------------------------------------------
    def x1(self, body):
        st = self.server.state
        parts = urlsplit(self.path)
        if parts.path != "/1.1/statuses/filter.json":
            return self.send_json(404, {"errors": [{"code": 34, "message": "Sorry, that page does not exist."}]}, body=body)
        if self.command != "POST":
            return self.send_json(405, {"errors": [{"code": 86, "message": "This method requires a POST."}]}, body=body)
        if "application/x-www-form-urlencoded" not in (self.headers.get("Content-Type") or ""):
            return self.send_json(415, {"errors": [{"code": 415, "message": "form body expected"}]}, body=body)
        query = parse_qsl(parts.query, keep_blank_values=True)
        form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        problem = self.verify_oauth(query + form)
        if problem:
            sys.stderr.write("oauth rejected: %s\n" % problem)
            return self.send_json(401, {"errors": [{"code": 32, "message": "Could not authenticate you."}]},
                                  kind="stream", body=body)
        params = dict(query + form)
        allowed = {"track", "follow", "locations", "delimited", "stall_warnings", "filter_level", "language"}
        if set(params) - allowed or not ({"track", "follow", "locations"} & set(params)):
            return self.send_json(406, "Parameter track, follow or locations required; unknown parameters rejected",
                                  kind="stream", body=body)
        self.run_connection(st.next_connection(), "stream", body, "application/json")

    def verify_oauth(self, request_params):
        oauth = self.server.state.script["oauth"]
        header = self.headers.get("Authorization") or ""
        if not header.startswith("OAuth "):
            return "no OAuth header"
        fields = {}
        for m in re.finditer(r'([A-Za-z0-9_%.~-]+)="([^"]*)"', header[6:]):
            fields[unquote(m.group(1))] = unquote(m.group(2))
        for k in ("oauth_consumer_key", "oauth_nonce", "oauth_signature", "oauth_signature_method",
                  "oauth_timestamp", "oauth_token"):
            if k not in fields:
                return "missing " + k
        if fields["oauth_consumer_key"] != oauth["consumer_key"] or fields["oauth_token"] != oauth["access_token"]:
            return "unknown consumer key or token"
        if fields["oauth_signature_method"] != "HMAC-SHA1" or fields.get("oauth_version", "1.0") != "1.0":
            return "unsupported signature method or version"
        if abs(time.time() - int(fields["oauth_timestamp"])) > 300:
            return "timestamp out of range"
        with self.server.state.lock:
            if fields["oauth_nonce"] in self.server.state.nonces:
                return "nonce reused"
            self.server.state.nonces.add(fields["oauth_nonce"])
        params = [(k, v) for k, v in fields.items() if k != "oauth_signature" and k != "realm"] + list(request_params)
        pairs = sorted((oauth_encode(k), oauth_encode(v)) for k, v in params)
        param_string = "&".join("%s=%s" % kv for kv in pairs)
        base_url = "http://%s%s" % (self.headers.get("Host").lower(), urlsplit(self.path).path)
        base = "&".join([self.command.upper(), oauth_encode(base_url), oauth_encode(param_string)])
        key = oauth_encode(oauth["consumer_secret"]) + "&" + oauth_encode(oauth["access_secret"])
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, fields["oauth_signature"]):
            return "signature mismatch"
        return None

    # ---- Mastodon -------------------------------------------------------------------------------
    def mastodon(self, body):
        st = self.server.state
        parts = urlsplit(self.path)
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        streams = {"/api/v1/streaming/public": set(), "/api/v1/streaming/public/local": set(),
                   "/api/v1/streaming/hashtag": {"tag"}, "/api/v1/streaming/hashtag/local": {"tag"}}
        if parts.path not in streams or self.command != "GET":
            return self.send_json(404, {"error": "Not found"}, body=body)
        token = q.pop("access_token", None)
        auth = self.headers.get("Authorization")
        if not ((auth == "Bearer " + st.script["token"]) or token == st.script["token"]):
            return self.send_json(401, {"error": "The access token is invalid"}, kind="stream", body=body)
        need = streams[parts.path]
        if set(q) - need - {"only_media"} or any(not q.get(k) for k in need):
            return self.send_json(400, {"error": "Unknown stream type or missing tag"}, kind="stream", body=body)
        self.run_connection(st.next_connection(), "stream", body, "text/event-stream")


def expand(v):
    """`${now+N}`: epoch seconds N from now (for x-rate-limit-reset)."""
    m = re.fullmatch(r"\$\{now([+-]\d+(?:\.\d+)?)?\}", str(v))
    if m:
        return str(int(time.time() + float(m.group(1) or 0)))
    return str(v)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    with open(args.script) as f:
        script = json.load(f)
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(script, args.log)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
