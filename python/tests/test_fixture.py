"""The `captchaai_mock` fixture as a Python project uses it, with the official clients:
the CaptchaAI SDK (`captchaai`, plain HTTP) and `2captcha-python` (over TLS), plus the
built-in receiver suite against a small endpoint, all from the installed wheel."""

import json
import os
import re
import subprocess
import sys
import time
import types
import urllib.parse
import urllib.request

import pytest

from captchaai_mock import AdminError, binary

SITEKEY = "0x4AAAAAAAC3DHQFLr1GavRN"
PAGE = "https://example.com/login"
SCALE = 100.0
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def api(mock, endpoint, **params):
    """A plain-text API call with the fixture's key."""
    query = urllib.parse.urlencode({"key": mock.key, **params})
    url = f"{mock.base_url}/{endpoint}?{query}"
    with urllib.request.urlopen(url, timeout=20, context=mock.ssl_context) as resp:
        return resp.read().decode()


def test_the_fixture_reads_the_announcement_and_drives_the_admin_api(captchaai_mock):
    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*", captchaai_mock.base_url)
    assert captchaai_mock.key == "captchaai-mock-test-key-00000001"
    assert captchaai_mock.ca_path is None
    health = captchaai_mock.admin.health()
    assert health["status"] == "ok" and health["keys"] == [captchaai_mock.key]

    answer = api(captchaai_mock, "in.php", method="turnstile", sitekey=SITEKEY, pageurl=PAGE)
    task_id = int(answer.removeprefix("OK|"))
    assert api(captchaai_mock, "res.php", action="get", id=task_id) == "CAPCHA_NOT_READY"
    captchaai_mock.admin.force_solve(task_id, answer="forced-answer")
    assert api(captchaai_mock, "res.php", action="get", id=task_id) == "OK|forced-answer"
    assert captchaai_mock.admin.answer(task_id) == "forced-answer"
    with pytest.raises(AdminError) as err:
        captchaai_mock.admin.force_fail(task_id)
    assert err.value.status == 409
    assert [e["endpoint"] for e in captchaai_mock.admin.journal()] == ["in.php", "res.php",
                                                                     "res.php"]


@pytest.mark.captchaai_mock(seed=9, rules=[{"fault": "drop", "name": "lost"}])
def test_marker_settings_reach_the_mock(captchaai_mock):
    assert captchaai_mock.admin.health()["seed"] == 9
    assert captchaai_mock.admin.rules()[0]["name"] == "lost"
    hook = "http://127.0.0.1:9/hook"
    answer = api(captchaai_mock, "in.php", method="turnstile", sitekey=SITEKEY, pageurl=PAGE,
                 pingback=hook)
    task_id = int(answer.removeprefix("OK|"))
    schedule = captchaai_mock.admin.schedule(task_id)["schedule"]
    assert schedule["dropped"] and schedule["rule_name"] == "lost"


@pytest.fixture
def sdk_clock(monkeypatch):
    """The SDK sleeps through `time.sleep` in `captchaai.client` (its initial wait and 5 s
    poll interval, in real seconds): divided by the mock's time scale, as the repository's
    SDK adapter does. The mock's --time-scale cannot shorten a client's own sleeps."""
    import captchaai.client

    real_sleep = time.sleep
    monkeypatch.setattr(captchaai.client, "time", types.SimpleNamespace(
        sleep=lambda s: real_sleep(max(0.0, s) / SCALE), time=time.time,
        monotonic=time.monotonic))


@pytest.mark.captchaai_mock(seed=7, time_scale=SCALE)
def test_the_captchaai_sdk_solves_against_the_fixture(captchaai_mock, sdk_clock):
    from captchaai import CaptchaAI

    client = CaptchaAI(captchaai_mock.key, base_url=captchaai_mock.base_url)
    result = client.turnstile(sitekey=SITEKEY, url=PAGE)
    (task,) = captchaai_mock.admin.tasks()
    assert task["state"] == "solved"
    assert result.solution == captchaai_mock.admin.answer(task["id"])
    assert result.solution.startswith("0.")


@pytest.mark.captchaai_mock(seed=7, time_scale=SCALE, tls=True, dialect="2captcha")
def test_2captcha_python_solves_over_tls(captchaai_mock, monkeypatch):
    from twocaptcha import TwoCaptcha

    assert captchaai_mock.base_url.startswith("https://") and os.path.isfile(
        captchaai_mock.ca_path)
    # requests trusts the bundle these name; this machine's point at the system bundle.
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(var, captchaai_mock.ca_path)
    solver = TwoCaptcha(captchaai_mock.key, server=captchaai_mock.host, pollingInterval=1)
    result = solver.turnstile(sitekey=SITEKEY, url=PAGE)
    assert result["code"] == captchaai_mock.admin.answer(int(result["captchaId"]))


def two_captcha_solver(mock, monkeypatch, **options):
    """2captcha-python pointed at a TLS mock (it builds `https://` + server)."""
    from twocaptcha import TwoCaptcha

    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(var, mock.ca_path)
    return TwoCaptcha(mock.key, server=mock.host, pollingInterval=1, **options)


# A 40 x 16 black PNG (131 bytes: a comment chunk takes it over the 100-byte minimum).
SMALL_PNG = ("iVBORw0KGgoAAAANSUhEUgAAACgAAAAQCAIAAADrtar6AAAAJ3RFWHRDb21tZW50AGEgNDAgeCAxNiBibGFjayBp"
             "bWFnZSBmb3IgdGVzdHOcK13BAAAAF0lEQVR42mNgGAWjYBSMglEwCkbBQAMAB5AAAa8T4zAAAAAASUVORK5CYII=")


def points(plain):
    """`coordinates:x=39,y=59;x=252,y=72` as 2captcha's JSON gives it: string numbers."""
    assert plain.startswith("coordinates:"), plain
    return [dict(p.split("=") for p in point.split(","))
            for point in plain.removeprefix("coordinates:").split(";")]


@pytest.mark.captchaai_mock(seed=7, time_scale=SCALE, tls=True, dialect="2captcha")
def test_2captcha_python_solves_geetest_v4_and_coordinates(captchaai_mock, monkeypatch):
    # Plain text, as 2captcha-python reads answers by default: `code` is what follows `OK|`,
    # GeeTest v4's JSON object and the `coordinates:x=..,y=..` form.
    solver = two_captcha_solver(captchaai_mock, monkeypatch)
    v4 = solver.geetest_v4(captcha_id="e392e1d7fd421dc63325744d5a2b9c73", url=PAGE)
    truth = captchaai_mock.admin.answer(int(v4["captchaId"]))
    assert v4["code"] == truth
    assert sorted(json.loads(truth)) == ["captcha_id", "captcha_output", "gen_time",
                                         "lot_number", "pass_token"]
    clicks = solver.coordinates(SMALL_PNG, hintText="click the apples", min_clicks=2,
                                max_clicks=3)
    truth = captchaai_mock.admin.answer(int(clicks["captchaId"]))
    assert clicks["code"] == truth and 2 <= len(points(truth)) <= 3
    assert all(0 < int(p["x"]) < 40 and 0 < int(p["y"]) < 16 for p in points(truth))

    # `extendedResponse=True` polls with json=1: `code` is the parsed `request`, an object of
    # five strings and a list of points with string numbers.
    extended = two_captcha_solver(captchaai_mock, monkeypatch, extendedResponse=True)
    v4 = extended.geetest_v4(captcha_id="e392e1d7fd421dc63325744d5a2b9c73", url=PAGE)
    assert v4["code"] == json.loads(captchaai_mock.admin.answer(int(v4["captchaId"])))
    clicks = extended.coordinates(SMALL_PNG)
    assert clicks["code"] == points(captchaai_mock.admin.answer(int(clicks["captchaId"])))


def test_the_builtin_receiver_suite_grades_a_small_endpoint(tmp_path):
    receiver = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "examples", "receivers", "correct_receiver.py"),
         "--secret", "s3cret", "--allow", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = receiver.stdout.readline()
        base = re.search(r"listening on (http://\S+)", line).group(1)
        report = tmp_path / "report.json"
        junit = tmp_path / "junit.xml"
        run = subprocess.run(
            [binary("captchaai-conformance"), "run", "builtin:receiver/duplicates",
             "--receiver", f"{base}/pingback?token=s3cret",
             "--results-url", f"{base}/results/{{id}}",
             "--register-url", f"{base}/register/{{id}}",
             "--trusted-source", "127.0.0.1",
             "--json", str(report), "--junit", str(junit)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "CI": "true"})
        assert run.returncode == 0, run.stdout + run.stderr
        scenarios = json.loads(report.read_text())["scenarios"]
        assert [(s["id"], s["verdict"]) for s in scenarios] == [("receiver/duplicates", "OK")]
        assert "<testsuite" in junit.read_text()
    finally:
        receiver.terminate()
        receiver.wait(10)
