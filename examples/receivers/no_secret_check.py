#!/usr/bin/env python3
"""No secret check: the shared secret is in the callback URL, and never compared.

correct_receiver.py with one change: `--secret` is accepted and ignored, so a
forged callback without the secret, or with a wrong one, is taken for genuine,
and one that arrives before the real result is the one kept.
"""

import correct_receiver as correct


class Handler(correct.Handler):
    def secret_ok(self, token):
        return True  # the bug: should compare token with the secret


if __name__ == "__main__":
    correct.main(Handler, __doc__)
