"""Ctrl-C that waits for the end of the training step.

A KeyboardInterrupt raised in the middle of ``optimizer.step()`` would leave
some parameters updated and others not, and no checkpoint could be trusted.
Inside ``deferred_interrupt()`` the first Ctrl-C only sets ``requested``; the
training loop looks at it between steps, saves, and stops. A second Ctrl-C
raises KeyboardInterrupt at once, without saving. Outside the main thread
(where Python delivers no signals) nothing is changed.
"""

import signal
import sys
import threading


class deferred_interrupt:
    """Context manager; ``.requested`` turns True at the first Ctrl-C."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again quits without saving)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
