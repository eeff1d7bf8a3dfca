#!/usr/bin/env python3
"""Last write wins: every callback for a registered task replaces what was stored.

correct_receiver.py with one change: `results[id] = code` instead of keeping the
first result. A duplicate does no harm, but a conflicting copy, or a stale
callback reusing an earlier task's id, overwrites the genuine result.
"""

import correct_receiver as correct


class Store(correct.Store):
    def record(self, task_id, code):
        with self.lock:
            if task_id not in self.registered:
                return 404
            self.results[task_id] = code  # the bug: should keep the first result
            return 200


class Handler(correct.Handler):
    store = Store()


if __name__ == "__main__":
    correct.main(Handler, __doc__)
