#!/usr/bin/env python3
"""A small CaptchaAI client that follows the harness's contract and the API's etiquette.

Standard library only. Reads one JSON task per line on stdin, prints one JSON result per line.
Waits before the first poll and between polls as the official SDK does, retries transient
errors, error pages, resets and rate limits with backoff, waits while every thread is busy
(and stops when threadsinfo says the account cannot work), uses the pingback when the harness
offers one and falls back to polling when it does not come, and gives up at the deadline.
Every wait is divided by CAPTCHAAI_TIME_SCALE, so the harness grades it as written.
"""

import http.client, json, os, sys, threading, time, urllib.error, urllib.parse, urllib.request

BASE, KEY = os.environ["CAPTCHAAI_BASE_URL"], os.environ["CAPTCHAAI_KEY"]
SCALE = float(os.environ.get("CAPTCHAAI_TIME_SCALE", "1"))
DEADLINE = float(os.environ.get("CAPTCHAAI_DEADLINE_SECONDS", "300"))
PINGBACK, RESULTS = os.environ.get("CAPTCHAAI_PINGBACK_URL"), os.environ.get("CAPTCHAAI_PINGBACK_RESULTS")
FALLBACK = float(os.environ.get("CAPTCHAAI_FALLBACK_SECONDS", "30"))
TRANSIENT = {"ERROR_SERVER_ERROR", "ERROR_INTERNAL_SERVER_ERROR", "MAX_USER_TURN", "ERROR: 1005"}
BLOCKS = {"ERROR: 1001": 600, "ERROR: 1002": 300, "ERROR: 1003": 30, "ERROR: 1004": 600}  # seconds
BUSY = {"ERROR_ZERO_BALANCE", "ERROR_NO_SLOT_AVAILABLE"}
FATAL = {"ERROR_WRONG_USER_KEY": "invalid-key", "ERROR_KEY_DOES_NOT_EXIST": "invalid-key",
         "ERROR_CAPTCHA_UNSOLVABLE": "unsolvable"}
FIRST_WAIT = {"userrecaptcha": 15, "cloudflare_challenge": 15, "geetest": 15,
              "post": 1, "base64": 1, "bls": 1}  # seconds; 10 for the others
out = threading.Lock()
blocked = [0.0]  # when the account's block lifts (time.monotonic()): every thread waits for it


def sleep(seconds):
    time.sleep(seconds / SCALE)


def call(path, params):
    """One request; transient failures (codes, error pages, resets) retried with backoff,
    2captcha's blocks (ERROR: 1001 to 1004) waited out by every thread."""
    for backoff in (5, 10, 20, None):
        time.sleep(max(0.0, blocked[0] - time.monotonic()))
        data = urllib.parse.urlencode(dict(params, key=KEY, json=1)).encode()
        try:
            with urllib.request.urlopen(BASE + path, data=data, timeout=max(30 / SCALE, 2)) as r:
                answer = json.loads(r.read())
            if answer.get("request") in BLOCKS and backoff is not None:
                blocked[0] = max(blocked[0], time.monotonic() + BLOCKS[answer["request"]] / SCALE)
                continue
            if answer.get("request") not in TRANSIENT or backoff is None:
                return answer
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
            if backoff is None:
                return {"status": 0, "request": "NETWORK"}
        sleep(backoff)


def callback(task_id):
    """The code the pingback brought, if it came (the harness's relay keeps it)."""
    try:
        with urllib.request.urlopen(RESULTS.replace("{id}", task_id), timeout=5) as r:
            return r.read().decode()
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None


def error_kind(code):
    if code in FATAL or code == "NETWORK":
        return FATAL.get(code, "network")
    if code in BUSY:
        return "thread-limit"
    return "bad-input" if code.startswith("ERROR_") and code not in TRANSIENT else "api"


def outcome(task_id, code, solved):
    if solved and not code.startswith("ERROR"):
        return {"task_id": task_id, "outcome": "solved", "answer": code}
    return {"task_id": task_id, "outcome": "error", "error": FATAL.get(code, "api"), "code": code}


def solve(task, start):
    params = dict(task["params"], pingback=PINGBACK) if PINGBACK else task["params"]
    while True:
        sub = call("/in.php", params)
        if sub.get("request") == "ERROR_ZERO_BALANCE":  # busy threads, or no funds or plan?
            info = call("/res.php", {"action": "threadsinfo"})
            if info.get("status") != 1 or int(info.get("working_threads", 0)) < int(info.get("threads", 0)):
                return {"outcome": "error", "error": "no-threads", "code": "ERROR_ZERO_BALANCE"}
        if sub.get("request") in BUSY and time.monotonic() - start < 120 / SCALE:
            sleep(8)
            continue
        break
    if sub.get("status") != 1:
        return {"outcome": "error", "error": error_kind(sub.get("request")), "code": sub.get("request")}
    task_id, first = str(sub["request"]), FIRST_WAIT.get(params.get("method"), 10)
    if PINGBACK:  # wait for the pingback, then poll as well: a pingback may never come
        submitted = time.monotonic()
        while time.monotonic() - submitted < max(FALLBACK, first) / SCALE:
            code = callback(task_id)
            if code is not None:
                return outcome(task_id, code, True)
            sleep(1)
    else:
        sleep(first)
    while time.monotonic() - start < DEADLINE / SCALE:
        code = callback(task_id) if PINGBACK else None
        if code is not None:
            return outcome(task_id, code, True)
        res = call("/res.php", {"action": "get", "id": task_id})
        if res.get("status") == 1:
            return outcome(task_id, res["request"], True)
        if res.get("request") not in ("CAPCHA_NOT_READY", "NETWORK"):
            return outcome(task_id, res.get("request"), False)
        sleep(5)
    return {"task_id": task_id, "outcome": "error", "error": "timeout"}


def run(task):
    result = dict(solve(task, time.monotonic()), ref=task["ref"])
    with out:
        print(json.dumps(result), flush=True)


tasks = [json.loads(line) for line in sys.stdin if line.strip()]
threads = [threading.Thread(target=run, args=(t,)) for t in tasks]
for t in threads:
    t.start()
for t in threads:
    t.join()
