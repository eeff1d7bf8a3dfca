#!/usr/bin/env python3
"""Runs the official CaptchaAI Python SDK (PyPI `captchaai`, unmodified) as a
`captchaai-conformance run --client-cmd` subject.

Contract (see README.md, "Grade your own client"): tasks arrive on stdin as JSON
lines, results leave on stdout as JSON lines; the mock's URL and key are in
CAPTCHAAI_BASE_URL and CAPTCHAAI_KEY.

Two things are configured, nothing is patched in the SDK's logic:
- its clock: the SDK sleeps through `time.sleep` in `captchaai.client`; the
  adapter gives that module a clock whose sleeps are divided by
  CAPTCHAAI_TIME_SCALE, so the SDK's schedule (initial waits, 5 s poll interval,
  busy-thread backoff) runs as written in the scenario's simulated time;
- its deadline: `max_poll_seconds` counts from the end of the initial wait, so
  it is set to CAPTCHAAI_DEADLINE_SECONDS minus the method's initial wait.
"""

import json
import os
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import captchaai
import captchaai.client as sdk_client
from captchaai.core.registry import get_entry

SCALE = float(os.environ.get("CAPTCHAAI_TIME_SCALE", "1"))
DEADLINE = float(os.environ.get("CAPTCHAAI_DEADLINE_SECONDS", "180"))
_real_sleep = time.sleep


def _scaled_sleep(seconds):
    _real_sleep(max(0.0, seconds) / SCALE)


sdk_client.time = types.SimpleNamespace(sleep=_scaled_sleep, time=time.time, monotonic=time.monotonic)

# SDK type for each task kind, and how to turn in.php params into send() params.
TYPES = {
    "normal": "normal",
    "grid": "grid",
    "bls": "bls",
    "recaptcha-v2": "recaptcha_v2",
    "recaptcha-v2-enterprise": "recaptcha_v2_enterprise",
    "recaptcha-v3": "recaptcha_v3",
    "recaptcha-v3-enterprise": "recaptcha_v3_enterprise",
    "turnstile": "turnstile",
    "cloudflare-challenge": "cloudflare_challenge",
    "geetest": "geetest",
    "captchafox": "captchafox",
    "friendly-captcha": "friendly_captcha",
    "lemin": "lemin",
}

ERRORS = [
    (captchaai.InvalidKeyError, "invalid-key"),
    (captchaai.ValidationError, "bad-input"),
    (captchaai.UnsolvableError, "unsolvable"),
    (captchaai.TimeoutError, "timeout"),
    (captchaai.NoThreadsError, "no-threads"),
    (captchaai.ThreadLimitError, "thread-limit"),
    (captchaai.ProxyError, "proxy"),
    (captchaai.NetworkError, "network"),
]

_out = threading.Lock()


def emit(obj):
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def error_line(ref, task_id, exc):
    kind = next((name for cls, name in ERRORS if isinstance(exc, cls)), "api")
    code = "ERROR_CAPTCHA_UNSOLVABLE" if kind == "unsolvable" else None
    return {"ref": ref, "task_id": task_id, "outcome": "error", "error": kind, "code": code, "message": str(exc)}


def send_params(kind, p):
    """in.php parameters -> the SDK's send() parameters for that type."""
    q = {k: v for k, v in p.items() if k not in ("method", "proxy", "proxytype", "json", "key")}
    if kind in ("normal", "grid"):
        q["image"] = q.pop("body")
        q.pop("img_type", None)
        if kind == "grid":
            q["img_type"] = "recaptcha"
    elif kind == "bls":
        q["images"] = [q.pop(f"image_base64_{i}") for i in range(1, 10)]
    elif kind.startswith("recaptcha"):
        q.pop("enterprise", None)
        q.pop("version", None)
        if kind.startswith("recaptcha-v3"):
            q["version"] = "v3"
        if kind.endswith("enterprise"):
            q["enterprise"] = 1
    return q


def main():
    base_url = os.environ["CAPTCHAAI_BASE_URL"]
    key = os.environ["CAPTCHAAI_KEY"]
    tasks = [json.loads(line) for line in sys.stdin if line.strip()]
    clients = {}
    lock = threading.Lock()

    def client_for(proxy=None, proxytype=None):
        with lock:
            if (proxy, proxytype) not in clients:
                clients[(proxy, proxytype)] = captchaai.CaptchaAI(
                    key, base_url=base_url, proxy=proxy, proxytype=proxytype
                )
            return clients[(proxy, proxytype)]

    def solve(task):
        ref, kind, params = task["ref"], task["method"], task["params"]
        sdk_type = TYPES.get(kind)
        if sdk_type is None:
            emit({"ref": ref, "outcome": "error", "error": "bad-input", "message": f"the SDK has no {kind}"})
            return
        task_id = None
        try:
            client = client_for(params.get("proxy"), params.get("proxytype"))
            entry = get_entry(sdk_type)
            client._config.max_poll_seconds = max(0.0, DEADLINE - entry.initial_wait)
            task_id = client.send(sdk_type, **send_params(kind, params))
            result = client.get_result(sdk_type, task_id)
            answer = result.raw_text if result.raw_text is not None else json.dumps(result.solution)
            emit({"ref": ref, "task_id": str(task_id), "outcome": "solved", "answer": answer})
        except captchaai.CaptchaAIError as exc:
            emit(error_line(ref, task_id and str(task_id), exc))

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(solve, tasks))


if __name__ == "__main__":
    main()
