"""`Log`: an experiment's progress lines ("[experiment] ..."), printed only when progress is on."""
from __future__ import annotations


class Log:
    """Call with a message to print it as a progress line; `enabled` False prints nothing."""

    def __init__(self, enabled: bool):
        self.enabled = bool(enabled)

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[experiment] {msg}", flush=True)
