#!/usr/bin/env python3
"""Drive the official CaptchaAI Python SDK (``captchaai`` 1.0.1, unmodified)
against a running captchaai-mock and print one JSON line per case.

Usage:
    captchaai_sdk_peer.py --base http://127.0.0.1:PORT --key KEY
        [--unsolvable-base URL] [--busy-base URL] [--cases a,b,...]

``--base`` / ``--key`` fall back to the environment variables
``CAPTCHAAI_BASE_URL`` / ``CAPTCHAAI_KEY``. The key is used on every mock.

Each output line is a JSON object:
    {"case": name, "ok": bool, "task_id": str|null, "solution": any,
     "raw_text": str|null, "user_agent": str|null,
     "error": exception class name|null, "message": str|null, "elapsed": s}

``ok`` means the case produced what it expects (a solution for solve cases,
the named exception for error cases). This script only reports; the Rust test
(mock-server/tests/python_sdk.rs) compares the answers with the mock's ground
truth and decides. The SDK's own sleeps are real seconds (initial wait 10-15 s,
poll interval 5 s, thread-busy retry 8-11 s), so cases run concurrently in
threads; the whole run takes about 30 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import struct
import sys
import threading
import time
import traceback
import zlib

from captchaai import CaptchaAI
from captchaai.exceptions import CaptchaAIError

PROXY = "user:pass@1.2.3.4:8080"
PROXYTYPE = "HTTP"
RECAPTCHA_KEY = "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-"
TURNSTILE_KEY = "0x4AAAAAAAC3DHQFLr1GavRN"
PAGE = "https://example.com/login"

_print_lock = threading.Lock()


def emit(record: dict) -> None:
    """Print one JSON line, atomically with respect to other threads."""
    with _print_lock:
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
        sys.stdout.flush()


def png(width: int, height: int, seed: int) -> bytes:
    """A real RGB PNG with noisy pixels (so it compresses to well over 100 bytes)."""
    rng = random.Random(seed)
    raw = b"".join(
        b"\x00" + bytes(rng.randrange(256) for _ in range(width * 3)) for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def result_record(case: str, res) -> dict:
    solution = res.solution
    return {
        "case": case,
        "ok": True,
        "task_id": str(res.task_id),
        "solution": solution,
        "raw_text": res.raw_text,
        "user_agent": res.user_agent,
        "error": None,
        "message": None,
    }


def error_record(case: str, exc: BaseException, expected: str | None) -> dict:
    name = type(exc).__name__
    return {
        "case": case,
        "ok": expected is not None and name == expected,
        "task_id": None,
        "solution": None,
        "raw_text": None,
        "user_agent": None,
        "error": name,
        "message": str(exc) if isinstance(exc, CaptchaAIError) else traceback.format_exc(),
    }


def run_case(case: str, fn, expect_error: str | None = None) -> None:
    """Runs one case and prints its line; never raises."""
    started = time.monotonic()
    try:
        out = fn()
        if expect_error is not None:
            record = {
                "case": case,
                "ok": False,
                "task_id": getattr(out, "task_id", None),
                "solution": getattr(out, "solution", None),
                "raw_text": getattr(out, "raw_text", None),
                "user_agent": getattr(out, "user_agent", None),
                "error": None,
                "message": f"expected {expect_error}, got a result",
            }
        else:
            record = result_record(case, out)
    except BaseException as exc:  # noqa: BLE001 - every outcome is reported
        record = error_record(case, exc, expect_error)
    record["elapsed"] = round(time.monotonic() - started, 3)
    emit(record)


def solve_cases(base: str, key: str) -> dict:
    """Every SDK captcha type, solved against the main mock."""
    image = png(60, 20, seed=1)
    grid_image = png(90, 90, seed=2)
    cells = [png(30, 30, seed=10 + i) for i in range(9)]

    def client() -> CaptchaAI:
        return CaptchaAI(key, base_url=base)

    return {
        "recaptcha_v2": lambda: client().recaptcha_v2(RECAPTCHA_KEY, PAGE),
        "recaptcha_v2_invisible": lambda: client().recaptcha_v2(RECAPTCHA_KEY, PAGE, invisible=True),
        "recaptcha_v2_enterprise": lambda: client().recaptcha_v2(
            RECAPTCHA_KEY, PAGE, enterprise=True, action="login"
        ),
        "recaptcha_v3": lambda: client().recaptcha_v3(RECAPTCHA_KEY, PAGE, action="verify", min_score=0.7),
        "recaptcha_v3_enterprise": lambda: client().recaptcha_v3(
            RECAPTCHA_KEY, PAGE, action="verify", enterprise=True
        ),
        "turnstile": lambda: client().turnstile(TURNSTILE_KEY, PAGE),
        "normal": lambda: client().normal(image, numeric=1, min_len=5, max_len=5),
        "grid": lambda: client().grid(grid_image, "crosswalks", "3x3"),
        "bls": lambda: client().bls(cells, "select all squares with 7"),
        "geetest": lambda: client().geetest("f1ab2cdefa3456789012345678901234", "12345678abc90123d45678ef90123a456b", PAGE),
        # api_server as the SDK documents it: a bare host.
        "lemin": lambda: client().lemin("CROPPED_3dfdd5c_d1872b526b794d83ba3b365eb15a200b", "lemin-cropped-captcha", PAGE, api_server="api.leminnow.com"),
        "cloudflare_challenge": lambda: client().cloudflare_challenge(PAGE, proxy=PROXY, proxytype=PROXYTYPE),
        "captchafox": lambda: client().captchafox("sk_xtNxpk6fCdFbxh1_xJeGflSdCE9tn99G", PAGE, proxy=PROXY, proxytype=PROXYTYPE),
        "friendly_captcha": lambda: client().friendly_captcha("FCMGEMUD2KTDSQ5H", PAGE),
    }


def busy_case(base: str, key: str) -> None:
    """Two solves on a one-thread account: the second meets ERROR_ZERO_BALANCE,
    the SDK checks threadsinfo, sleeps about 8-11 s and retries to success."""
    first = threading.Thread(
        target=run_case,
        args=("busy_first", lambda: CaptchaAI(key, base_url=base).turnstile(TURNSTILE_KEY, PAGE)),
    )
    first.start()
    # Start the second solve only once the first holds the account's thread.
    probe = CaptchaAI(key, base_url=base)
    deadline = time.monotonic() + 20
    while probe.threads_info()["working_threads"] < 1:
        if time.monotonic() > deadline:
            emit({"case": "busy_second", "ok": False, "error": "Setup",
                  "message": "the first busy task never took the thread", "elapsed": 0})
            first.join()
            return
        time.sleep(0.02)
    run_case("busy_second", lambda: CaptchaAI(key, base_url=base).turnstile(TURNSTILE_KEY, PAGE))
    first.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=os.environ.get("CAPTCHAAI_BASE_URL"))
    ap.add_argument("--key", default=os.environ.get("CAPTCHAAI_KEY"))
    ap.add_argument("--unsolvable-base", help="a mock started with --unsolvable-rate 1")
    ap.add_argument("--busy-base", help="a mock started with one thread per account")
    ap.add_argument("--cases", help="comma-separated subset of cases to run")
    args = ap.parse_args()
    if not args.base or not args.key:
        ap.error("--base and --key (or CAPTCHAAI_BASE_URL / CAPTCHAAI_KEY) are required")

    jobs: list[tuple[str, object]] = []
    for case, fn in solve_cases(args.base, args.key).items():
        jobs.append((case, lambda case=case, fn=fn: run_case(case, fn)))
    jobs.append(("invalid_key", lambda: run_case(
        "invalid_key",
        lambda: CaptchaAI("0123456789abcdef0123456789abcdef", base_url=args.base),
        expect_error="InvalidKeyError",
    )))
    if args.unsolvable_base:
        jobs.append(("unsolvable", lambda: run_case(
            "unsolvable",
            lambda: CaptchaAI(args.key, base_url=args.unsolvable_base).turnstile(TURNSTILE_KEY, PAGE),
            expect_error="UnsolvableError",
        )))
    if args.busy_base:
        jobs.append(("busy", lambda: busy_case(args.busy_base, args.key)))

    if args.cases:
        wanted = set(args.cases.split(","))
        jobs = [(name, job) for name, job in jobs if name in wanted]

    threads = [threading.Thread(target=job, name=name) for name, job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
