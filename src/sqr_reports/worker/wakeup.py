"""Wake-up signal: a new job wakes an idle worker at once instead of on its next poll."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import event
from sqlalchemy.orm import Session


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Return when notified, or after `seconds` (the safety-net poll)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


def notify_on_enqueue(session_class: type[Session], wakeup: Wakeup) -> None:
    """Call `wakeup.notify()` after any commit that inserted a job (set in `session.info`)."""

    def after_commit(session: Session) -> None:
        if session.info.pop("jobs_enqueued", False):
            wakeup.notify()

    def after_rollback(session: Session) -> None:
        session.info.pop("jobs_enqueued", None)

    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_soft_rollback", lambda s, _t: after_rollback(s))
