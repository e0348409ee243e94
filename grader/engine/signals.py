"""Stop signals held while the engine finishes what it began, work on threads, and cleanups that never raise."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while engine resources are being removed, then deliver them.

    A stop signal landing in the middle of a cleanup would cut it short and leave an image
    behind (a killed batch sends its gradings SIGTERM just as their output pipe breaks: two
    stops at once). The first signal waits until the cleanup is over; a second one still
    interrupts, so a wedged engine can always be walked away from.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers belong to the main thread; other threads are never interrupted by them
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if held:
            raise KeyboardInterrupt
        held.append(signum)

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in held:  # also when the body failed: a stop that was asked for is never lost
            signal.raise_signal(number)  # now handled as it would have been: unwinding, or the default


class Background:
    """Work on a daemon thread; whatever it raises (the engine lost, say) is raised again by join()."""

    def __init__(self, work: Callable[[], None], name: str):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the joining thread, which decides
            self._error = error

    def join(self) -> None:
        """Wait for the work to end; raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def wait(self, timeout: float) -> bool:
        """Wait up to TIMEOUT seconds without raising; True when the work has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def all_at_once(actions: list[Callable[[], Any]]) -> None:
    """Run cleanup actions in parallel threads and wait for all; none raises."""
    if len(actions) <= 1:
        for action in actions:
            quietly(action)
        return
    threads = [threading.Thread(target=quietly, args=(action,), daemon=True) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def quietly(action: Callable[[], Any]) -> None:
    """Run a cleanup action; a resource already gone is fine, and cleanup must not raise."""
    try:
        action()
    except Exception:
        pass
