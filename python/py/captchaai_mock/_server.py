"""Starting the `captchaai-mock` binary and talking to its admin API.

`start()` runs the binary on a free loopback port and reads what it announces on stdout
(address, API key, and with TLS the CA certificate's path): nothing is guessed.
"""

import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def binary(name: str = "captchaai-mock") -> str:
    """The path of one of the wheel's binaries: `$CAPTCHAAI_MOCK_BIN` (for `captchaai-mock`),
    the scripts folder of this Python environment, then the PATH."""
    if name == "captchaai-mock" and os.environ.get("CAPTCHAAI_MOCK_BIN"):
        return os.environ["CAPTCHAAI_MOCK_BIN"]
    exe = name + (".exe" if sys.platform == "win32" else "")
    scripts = sysconfig.get_path("scripts")
    if scripts and os.path.isfile(os.path.join(scripts, exe)):
        return os.path.join(scripts, exe)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found in {scripts} or on the PATH: install the captchaai-mock wheel"
    )


class AdminError(RuntimeError):
    """An admin API call answered with an error status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Admin:
    """The mock's admin API (`/__admin/`), as plain JSON values."""

    def __init__(self, base_url: str, ssl_context: Optional[ssl.SSLContext] = None,
                 token: Optional[str] = None):
        self.base_url = base_url.rstrip("/") + "/__admin"
        self._ssl = ssl_context
        self._token = token

    def _call(self, method: str, path: str, body: Any = None,
              query: Optional[Dict[str, Any]] = None) -> Any:
        url = self.base_url + path
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, timeout=20, context=self._ssl) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise AdminError(e.code, message) from None

    def health(self) -> Dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def tasks(self, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        return self._call("GET", "/tasks", query={"limit": limit})

    def task(self, task_id: int) -> Dict[str, Any]:
        return self._call("GET", f"/tasks/{int(task_id)}")

    def answer(self, task_id: int) -> Optional[str]:
        """The answer a solved task hands out (its ground truth), or None."""
        solved = self.task(task_id)["outcome"].get("solved")
        return solved["answer"] if solved else None

    def force_solve(self, task_id: int, answer: Optional[str] = None) -> Dict[str, Any]:
        body = {} if answer is None else {"answer": answer}
        return self._call("POST", f"/tasks/{int(task_id)}/solve", body)

    def force_fail(self, task_id: int, code: Optional[str] = None) -> Dict[str, Any]:
        body = {} if code is None else {"code": code}
        return self._call("POST", f"/tasks/{int(task_id)}/fail", body)

    def fire_pingback(self, task_id: int) -> None:
        self._call("POST", f"/tasks/{int(task_id)}/pingback")

    def schedule(self, task_id: int) -> Dict[str, Any]:
        return self._call("GET", f"/tasks/{int(task_id)}/schedule")

    def journal(self, since: Optional[int] = None, limit: Optional[int] = None,
                task: Optional[int] = None, endpoint: Optional[str] = None) -> List[Dict[str, Any]]:
        return self._call("GET", "/journal", query={"since": since, "limit": limit,
                                                    "task": task, "endpoint": endpoint})

    def pingbacks(self, since: Optional[int] = None, limit: Optional[int] = None,
                  task: Optional[int] = None) -> List[Dict[str, Any]]:
        return self._call("GET", "/pingbacks", query={"since": since, "limit": limit, "task": task})

    def rules(self) -> List[Dict[str, Any]]:
        return self._call("GET", "/pingback/rules")

    def set_rules(self, rules: Sequence[Dict[str, Any]]) -> None:
        """Replaces the pingback fault rules (the shape of `[[pingback.rules]]`, as JSON)."""
        self._call("PUT", "/pingback/rules", list(rules))


class MockServer:
    """A running `captchaai-mock`: `base_url`, `key`, `ca_path` (with TLS), `admin`."""

    def __init__(self, process: subprocess.Popen, base_url: str, keys: List[str],
                 ca_path: Optional[str], stderr_path: str, announcement: List[str]):
        self.process = process
        self.base_url = base_url
        self.keys = keys
        self.key = keys[0]
        self.ca_path = ca_path
        self.announcement = announcement
        self._stderr_path = stderr_path
        self.ssl_context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        self.admin = Admin(base_url, self.ssl_context)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, for clients that take a server name rather than a URL."""
        return self.base_url.split("://", 1)[1]

    def logs(self) -> str:
        with open(self._stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> int:
        """SIGTERM, then the clean shutdown (at most STOP_TIMEOUT s, then killed). Gives the
        exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self._stderr_path)
        except OSError:
            pass
        return self.process.returncode

    def __enter__(self) -> "MockServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start(seed: Optional[int] = None, time_scale: Optional[float] = None,
          dialect: Optional[str] = None, tls: bool = False,
          rules: Optional[Sequence[Dict[str, Any]]] = None,
          config: Optional[str] = None, args: Sequence[str] = ()) -> MockServer:
    """Starts the mock on a free loopback port and waits (at most START_TIMEOUT s) for its
    announcement. `config` is TOML text (written to a temporary file), `rules` pingback fault
    rules set through the admin API once it is up, `args` more flags."""
    cmd = [binary(), "--bind", "127.0.0.1:0"]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if time_scale is not None:
        cmd += ["--time-scale", str(time_scale)]
    if dialect is not None:
        cmd += ["--dialect", dialect]
    if tls:
        cmd.append("--tls")
    config_path = None
    if config is not None:
        fd, config_path = tempfile.mkstemp(prefix="captchaai-mock-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(config)
        cmd += ["--config", config_path]
    cmd += list(args)
    fd, stderr_path = tempfile.mkstemp(prefix="captchaai-mock-", suffix=".log")
    env = dict(os.environ)
    env.pop("CAPTCHAAI_MOCK_BIND", None)
    with os.fdopen(fd, "wb") as stderr:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr, env=env)
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    announcement: List[str] = []
    base_url, keys, ca_path, settled = None, [], None, False
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not (base_url and settled and (ca_path or not tls)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"captchaai-mock did not announce itself in {START_TIMEOUT} s")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                process.wait(STOP_TIMEOUT)
                with open(stderr_path, encoding="utf-8", errors="replace") as f:
                    err = f.read()
                raise RuntimeError(
                    f"captchaai-mock exited with {process.returncode} before serving: {err.strip()}"
                )
            announcement.append(line)
            if line.startswith("captchaai-mock listening on "):
                base_url = line.rsplit(" ", 1)[1]
            elif line.startswith("API key: "):
                keys.append(line[len("API key: "):])
            elif line.startswith("seed: "):
                settled = True
            elif line.startswith("CA certificate: "):
                ca_path = line[len("CA certificate: "):]
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        if config_path:
            os.unlink(config_path)
    server = MockServer(process, base_url, keys, ca_path, stderr_path, announcement)
    if rules is not None:
        server.admin.set_rules(rules)
    return server
