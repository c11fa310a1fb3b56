"""What a runner is: the piece that starts and stops one attempt of an execution somewhere.

Runners are registered by URL scheme (``mm_jupyter.runners`` entry points, see ``registry``); a
service's ``runner`` setting (``local``, ``dask://host:port``) picks one. The scheduler is their
only caller and passes in everything they need: runners import neither the scheduler nor the
service settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..store import Store

OnDone = Callable[[str], None]  # called with the store's home once an attempt ran elsewhere


@dataclass(frozen=True)
class Problem:
    """Why a runner cannot start a service's executions now: a stable ``code`` and one readable
    sentence on one line (``queries.health`` folds white space and caps the length of what it shows)."""

    code: str
    reason: str


@dataclass(frozen=True)
class StartFailure:
    """An attempt that could not start on the runner's side, and why."""

    execution_id: str
    attempt: int
    reason: str


class Runner:
    """Starts and stops attempts; ``problem`` tells whether it can run a service's executions now."""

    scheme = ""

    def __init__(self, address: str):
        self.address = self.check_address(address)

    @classmethod
    def check_address(cls, address: object) -> str:
        """The address itself when it is valid for this runner; ``InvalidInput`` otherwise."""
        raise NotImplementedError

    def start(self, store: Store, exe: dict, service: dict, on_done: OnDone) -> None:
        """Start a claimed (``in-progress``) attempt; a failure to start ends it ``failed``."""
        raise NotImplementedError

    def stop(self, store: Store, exe: dict) -> None:
        """Stop an attempt's processes wherever they run (kernel interrupted, then the trees)."""
        raise NotImplementedError

    def problem(self, store: Store, service: dict, wait: bool = True) -> Problem | None:
        """Why ``service``'s executions cannot start here now, or None. With ``wait=False`` it never
        blocks on the network (last known state; refreshed in the background)."""
        return None

    def start_failures(self, store: Store) -> list[StartFailure]:
        """Attempts that failed to start where this runner put them and could not say so in the
        store themselves (a worker without the store, say); ``scheduler.reconcile`` ends them
        ``failed`` with the reason. Default: none."""
        return []
