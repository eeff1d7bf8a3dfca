#!/usr/bin/env python3
"""A naive CaptchaAI client the conformance harness must catch.

It does what copy-pasted snippets often do: submit, then poll res.php in a tight
loop from the first moment (no initial wait, no interval) and never give up.
Standard library only. Same stdin/stdout contract as the SDK adapter.
"""

import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request

BASE = os.environ["CAPTCHAAI_BASE_URL"]
KEY = os.environ["CAPTCHAAI_KEY"]
_out = threading.Lock()


def call(path, params):
    data = urllib.parse.urlencode(dict(params, key=KEY, json=1)).encode()
    with urllib.request.urlopen(urllib.request.Request(BASE + path, data=data), timeout=30) as r:
        return json.loads(r.read())


def emit(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def solve(task):
    ref = task["ref"]
    sub = call("/in.php", task["params"])
    if sub.get("status") != 1:
        emit({"ref": ref, "outcome": "error", "error": "api", "code": sub.get("request")})
        return
    task_id = str(sub["request"])
    while True:  # no initial wait, no interval, no deadline
        res = call("/res.php", {"action": "get", "id": task_id})
        if res.get("request") != "CAPCHA_NOT_READY":
            break
        time.sleep(0.01)
    if res.get("status") == 1:
        emit({"ref": ref, "task_id": task_id, "outcome": "solved", "answer": res["request"]})
    else:
        emit({"ref": ref, "task_id": task_id, "outcome": "error", "error": "api", "code": res.get("request")})


def main():
    tasks = [json.loads(line) for line in sys.stdin if line.strip()]
    threads = [threading.Thread(target=solve, args=(t,), daemon=True) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
