"""The pytest plugin (entry point `pytest11`): the `captchaai_mock` fixture.

    def test_solves(captchaai_mock):
        client = CaptchaAI(captchaai_mock.key, base_url=captchaai_mock.base_url)
        ...
        assert captchaai_mock.admin.tasks()[0]["state"] == "solved"

Each test gets its own mock on a free loopback port, stopped after the test. Settings, from
the most specific: the marker `@pytest.mark.captchaai_mock(seed=7, time_scale=100,
dialect="2captcha", tls=True, rules=[{"fault": "drop"}], config="...toml...")`, then the
command line (`--captchaai-mock-seed`, `--captchaai-mock-time-scale`,
`--captchaai-mock-dialect`, `--captchaai-mock-tls`), then the mock's defaults.
"""

from typing import Any, Dict, Iterator

import pytest

from ._server import MockServer, start

MARKER = "captchaai_mock"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("captchaai-mock")
    group.addoption("--captchaai-mock-seed", type=int, default=None,
                    help="seed of every captchaai_mock fixture (default: the mock's, 1)")
    group.addoption("--captchaai-mock-time-scale", type=float, default=None,
                    help="time scale of every captchaai_mock fixture, e.g. 100")
    group.addoption("--captchaai-mock-dialect", choices=["captchaai", "2captcha"], default=None,
                    help="dialect of every captchaai_mock fixture")
    group.addoption("--captchaai-mock-tls", action="store_true", default=False,
                    help="serve every captchaai_mock fixture over HTTPS")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seed=None, time_scale=None, dialect=None, tls=False, rules=None, "
        "config=None, args=()): settings of this test's captchaai_mock fixture",
    )


def _settings(request: pytest.FixtureRequest) -> Dict[str, Any]:
    opt = request.config.getoption
    settings: Dict[str, Any] = {
        "seed": opt("--captchaai-mock-seed"),
        "time_scale": opt("--captchaai-mock-time-scale"),
        "dialect": opt("--captchaai-mock-dialect"),
        "tls": opt("--captchaai-mock-tls"),
    }
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        unknown = set(marker.kwargs) - {"seed", "time_scale", "dialect", "tls", "rules",
                                        "config", "args"}
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}: unknown settings {sorted(unknown)}")
        settings.update(marker.kwargs)
    return settings


@pytest.fixture
def captchaai_mock(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    """A running captchaai-mock: `base_url`, `key`, `host`, `ca_path` and `ssl_context` (with
    TLS), `admin` (tasks, answers, force-solve and force-fail, pingbacks, journals, fault
    rules). Stopped after the test; its log is shown if the test fails."""
    server = start(**_settings(request))
    try:
        yield server
    finally:
        logs = server.logs()
        code = server.stop()
        if logs.strip():
            request.node.add_report_section("teardown", "captchaai-mock log", logs)
        if code not in (0, None):
            pytest.fail(f"captchaai-mock exited with {code} at shutdown:\n{logs}")
