#!/usr/bin/env python3
"""A correct CaptchaAI pingback receiver, standard library only.

What CaptchaAI's pingback tutorial shows, with its bugs fixed:
- callbacks are accepted only from the addresses given with --allow (CaptchaAI
  publishes the addresses its callbacks come from), checked on the connection's
  own peer address, before anything else;
- callbacks are validated: numeric `id`, a `code` of at most 8 KiB, the shared
  secret (`?token=...`) compared in constant time when one is configured;
- only task ids the application registered are accepted (404 otherwise: a
  callback for an id nobody asked for is not stored), and registration happens
  before the task can finish, so no genuine result is refused;
- idempotent: the first result for a task wins; duplicates are acknowledged
  (200) and ignored; a conflicting duplicate is acknowledged, ignored, logged;
- it answers at once (slow work belongs after the reply), and an unexpected
  error is a 500, never a dropped connection.

Routes:
  GET  /pingback?id=..&code=..[&token=..]   (CaptchaAI: query parameters)
  POST /pingback                             (2captcha: urlencoded form body)
  POST /register/<id>                        the application submitted task <id>
  GET  /results/<id>                         200 with the stored code, 404 if none

Usage: correct_receiver.py [--port N] [--secret S] [--allow CIDR ...]; prints
"listening on http://127.0.0.1:PORT" once ready.

The broken endpoints beside it (see README.md here) each change one part of it.
"""

import argparse
import hmac
import ipaddress
import sys
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_CODE = 8192
MAX_BODY = 64 * 1024
CAPACITY = 100_000


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.registered = OrderedDict()
        self.results = OrderedDict()

    def _bound(self, d):
        while len(d) > CAPACITY:
            d.popitem(last=False)

    def register(self, task_id):
        with self.lock:
            self.registered[task_id] = True
            self._bound(self.registered)

    def record(self, task_id, code):
        """Returns the HTTP status for the callback."""
        with self.lock:
            if task_id not in self.registered:
                return 404
            kept = self.results.get(task_id)
            if kept is None:
                self.results[task_id] = code
                self._bound(self.results)
            elif kept != code:
                print(f"conflicting result for {task_id} ignored", file=sys.stderr, flush=True)
            return 200

    def get(self, task_id):
        with self.lock:
            return self.results.get(task_id)


class Handler(BaseHTTPRequestHandler):
    store = Store()
    secret = None
    allow = []  # networks callbacks may come from; empty: any
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def source_allowed(self):
        """The connection's own peer address (never a forwarding header) is allowed."""
        if not self.allow:
            return True
        peer = ipaddress.ip_address(self.client_address[0])
        return any(peer in net for net in self.allow)

    def secret_ok(self, token):
        if self.secret is None:
            return True
        return hmac.compare_digest((token or "").encode(), self.secret.encode())

    def invalid(self, task_id, code):
        """Why a callback cannot be a genuine one, or None."""
        if not task_id or not task_id.isdigit():
            return "missing or non-numeric id"
        if not code:
            return "missing code"
        if len(code) > MAX_CODE:
            return "code too long"
        return None

    def pingback(self, params):
        def one(name):
            values = params.get(name, [])
            if len(set(values)) > 1:
                raise ValueError(f"{name} given twice")
            return values[0] if values else None

        if not self.source_allowed():
            return self.reply(403, b"source not allowed")
        try:
            token, task_id, code = one("token"), one("id"), one("code")
        except ValueError as e:
            return self.reply(400, str(e).encode())
        if not self.secret_ok(token):
            return self.reply(403, b"bad secret")
        why = self.invalid(task_id, code)
        if why is not None:
            return self.reply(400, why.encode())
        status = self.store.record(task_id, code)
        self.reply(status, b"OK" if status == 200 else b"unknown task")

    def route_get(self):
        url = urlsplit(self.path)
        if url.path == "/pingback":
            return self.pingback(parse_qs(url.query, keep_blank_values=True))
        if url.path.startswith("/results/"):
            code = self.store.get(url.path[len("/results/"):])
            return self.reply(200, code.encode()) if code is not None else self.reply(404, b"none")
        self.reply(404, b"not found")

    def route_post(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.reply(413, b"too large")
        body = self.rfile.read(length).decode("utf-8", "replace")
        if url.path == "/pingback":
            params = parse_qs(url.query, keep_blank_values=True)
            for k, v in parse_qs(body, keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
            return self.pingback(params)
        if url.path.startswith("/register/"):
            task_id = url.path[len("/register/"):]
            if not task_id.isdigit():
                return self.reply(400, b"non-numeric id")
            self.store.register(task_id)
            return self.reply(200, b"OK")
        self.reply(404, b"not found")

    def handle_safely(self, route):
        # What a web framework does: an exception is a 500, not a dropped connection.
        try:
            route()
        except Exception as e:  # noqa: BLE001
            print(f"error: {e!r}", file=sys.stderr, flush=True)
            self.reply(500, b"internal error")

    def do_GET(self):
        self.handle_safely(self.route_get)

    def do_POST(self):
        self.handle_safely(self.route_post)


def main(handler=Handler, doc=__doc__):
    """Serves `handler` with the flags below; `doc`'s first line describes it in --help."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret")
    ap.add_argument("--allow", action="append", default=[], metavar="CIDR",
                    help="accept callbacks from this network only (repeatable), e.g. 127.0.0.1")
    args = ap.parse_args()
    handler.secret = args.secret
    handler.allow = [ipaddress.ip_network(a, strict=False) for a in args.allow]
    # The default listen backlog (5) drops connections in a burst of callbacks.
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
