"""The thread behind a batch writer: it calls `flush` every interval (or sooner, when woken)
while any of the apps serving the process runs, and the last one's stop flushes once more
(unless `flush_on_stop` is off: a refresher has nothing to save when it stops)."""

import threading
from collections.abc import Callable


class Flusher:
    def __init__(
        self,
        flush: Callable[[], object],
        interval_s: float,
        *,
        name: str,
        flush_on_stop: bool = True,
    ) -> None:
        self._flush, self._interval, self._name = flush, interval_s, name
        self._flush_on_stop = flush_on_stop
        self._lock = threading.Lock()
        self._wake = threading.Event()  # `wake()` sets it: flush now, not at the interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._users = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=self._name, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Flush what is held (with `flush_on_stop`); the last user's stop also ends the
        thread."""
        with self._lock:
            self._users = max(0, self._users - 1)
            thread = self._thread if self._users == 0 else None
            if thread is not None:
                self._thread = None
                self._stop.set()
                self._wake.set()
        if thread is not None:
            thread.join()
        if self._flush_on_stop:
            self._flush()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self._flush()
