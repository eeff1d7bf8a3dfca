#!/usr/bin/env python3
"""500 on an oversized code: the length is never checked, and storing it fails.

correct_receiver.py with one change: the code's length is not validated, and the
store (like a fixed-width database column) raises on a code over 4 KiB. The
handler turns the exception into a 500, as a web framework would, where a 400
was due.
"""

import correct_receiver as correct


class Store(correct.Store):
    def record(self, task_id, code):
        if len(code) > 4096:
            raise ValueError("value too long for column code (4096)")
        return super().record(task_id, code)


class Handler(correct.Handler):
    store = Store()

    def invalid(self, task_id, code):
        if not task_id or not task_id.isdigit():
            return "missing or non-numeric id"
        if not code:
            return "missing code"
        return None  # the bug: no length check


if __name__ == "__main__":
    correct.main(Handler, __doc__)
