"""captchaai-mock for Python: the `captchaai-mock` and `captchaai-conformance` binaries (on
the PATH of the environment the wheel is installed in), and a pytest fixture,
`captchaai_mock`, that starts the mock for a test (see `captchaai_mock.pytest_plugin`).

The binaries do the work; this package only finds and starts them.
"""

from ._server import Admin, AdminError, MockServer, binary, start

__all__ = ["Admin", "AdminError", "MockServer", "binary", "start"]
