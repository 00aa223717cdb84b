"""Progress for long commands: a bar on a terminal, periodic counts otherwise."""

import sys
import time


class Progress:
    """`with Progress("Importing", total=n) as p: p.advance(k)`."""

    def __init__(self, label: str, total: int | None = None, stream=None, every_seconds: float = 0.2):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every_seconds if self.tty else 5.0
        self._last = 0.0
        self._start = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._draw(final=True)
        return False

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._draw()

    def _draw(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self._start
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * 30)
            text = f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {elapsed:5.1f}s"
        else:
            text = f"{self.label}: {self.done:,} {elapsed:5.1f}s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        elif final or self.done:
            self.stream.write(text + "\n")
        self.stream.flush()
