#!/usr/bin/env python3
"""Allow-list declared, never checked: the "secure" endpoint that trusts everyone.

correct_receiver.py with one change: the addresses given with --allow are parsed
and kept, and nothing ever compares the sender's address with them. A callback
from anywhere else, with the right secret and a real task's id, is accepted, and
one that arrives before the real result is the one kept.
"""

import correct_receiver as correct


class Handler(correct.Handler):
    def source_allowed(self):
        return True  # the bug: self.allow is never consulted


if __name__ == "__main__":
    correct.main(Handler, __doc__)
