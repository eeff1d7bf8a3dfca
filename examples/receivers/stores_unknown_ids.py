#!/usr/bin/env python3
"""Unknown ids stored: any numeric id is accepted, registered or not.

correct_receiver.py with one change: the store never asks whether the
application submitted the task, so a callback for an id nobody asked for is
acknowledged and stored.
"""

import correct_receiver as correct


class Store(correct.Store):
    def record(self, task_id, code):
        with self.lock:  # the bug: no `task_id in self.registered` check
            self.results.setdefault(task_id, code)
            return 200


class Handler(correct.Handler):
    store = Store()


if __name__ == "__main__":
    correct.main(Handler, __doc__)
