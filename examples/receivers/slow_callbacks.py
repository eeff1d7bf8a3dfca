#!/usr/bin/env python3
"""Slow callbacks: 300 ms of work before every reply.

correct_receiver.py with one change: the work a result triggers (here a 300 ms
sleep standing for a database write or a call to the application) is done
before answering the callback instead of after. Every valid callback is then
acknowledged late for a latency budget under 300 ms, and a burst piles up.
"""

import time

import correct_receiver as correct


class Handler(correct.Handler):
    def pingback(self, params):
        time.sleep(0.3)  # the bug: slow work before the reply, not after it
        super().pingback(params)


if __name__ == "__main__":
    correct.main(Handler, __doc__)
