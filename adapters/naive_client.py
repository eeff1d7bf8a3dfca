#!/usr/bin/env python3
"""A naive CaptchaAI client the conformance harness must catch.

It does what copy-pasted snippets often do: submit (again at once while the answer is
busy), then poll res.php in a tight loop from the first moment (no initial wait, no
interval) and never give up; with a callback URL it waits for the callback alone and never
polls, as official clients do once a callback is set (2captcha-python's `solve`). Any answer
that is not JSON (an HTML error page) or no answer at all kills the task's thread.
Standard library only. Same stdin/stdout contract as the SDK adapter.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ["CAPTCHAAI_BASE_URL"]
KEY = os.environ["CAPTCHAAI_KEY"]
PINGBACK = os.environ.get("CAPTCHAAI_PINGBACK_URL")
RESULTS = os.environ.get("CAPTCHAAI_PINGBACK_RESULTS", "")
BUSY = {"ERROR_NO_SLOT_AVAILABLE", "ERROR_ZERO_BALANCE"}
_out = threading.Lock()


def call(path, params):
    data = urllib.parse.urlencode(dict(params, key=KEY, json=1)).encode()
    with urllib.request.urlopen(urllib.request.Request(BASE + path, data=data), timeout=30) as r:
        return json.loads(r.read())


def emit(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def wait_for_callback(task_id):
    """The callback's code, however long it takes: no deadline, no polling."""
    while True:
        try:
            with urllib.request.urlopen(RESULTS.replace("{id}", task_id), timeout=30) as r:
                return r.read().decode()
        except urllib.error.HTTPError:
            time.sleep(0.05)


def solve(task):
    ref = task["ref"]
    params = dict(task["params"], pingback=PINGBACK) if PINGBACK else task["params"]
    sub = call("/in.php", params)
    while sub.get("request") in BUSY:  # busy: submit again at once
        sub = call("/in.php", params)
    if sub.get("status") != 1:
        emit({"ref": ref, "outcome": "error", "error": "api", "code": sub.get("request")})
        return
    task_id = str(sub["request"])
    if PINGBACK:
        code = wait_for_callback(task_id)
        emit({"ref": ref, "task_id": task_id, "outcome": "solved", "answer": code})
        return
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
