#!/usr/bin/env python3
"""Accept-all: a naive CaptchaAI pingback receiver, the way many first versions are written.

It answers 200 to anything, from anywhere, with or without the secret, stores
whatever arrives under whatever id it claims (last write wins), and never asks
whether it expected that task. Standard library only, written from scratch
rather than from correct_receiver.py; same routes, so the harness can read back
what it stored.
"""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RESULTS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"OK"):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def store(self, params):
        task_id = (params.get("id") or [""])[0]
        code = (params.get("code") or [""])[0]
        RESULTS[task_id] = code  # last write wins
        self.reply(200)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path.startswith("/results/"):
            code = RESULTS.get(url.path[len("/results/"):])
            return self.reply(200, code.encode()) if code is not None else self.reply(404, b"none")
        self.store(parse_qs(url.query))

    def do_POST(self):
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        if url.path.startswith("/register/"):
            return self.reply(200)
        params = parse_qs(url.query)
        params.update(parse_qs(body))
        self.store(params)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    # The default listen backlog (5) drops connections in a burst of callbacks.
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
