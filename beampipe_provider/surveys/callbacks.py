"""The survey DAG's failure callback: a stage or process task that fails for good writes on its run why, and gives
the run back to the queue or fails it, by the survey's policy (`lifetime.on_task_failure`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from beampipe_provider.runs.failures import OnGiveUp, record_give_up

log = logging.getLogger(__name__)


def give_up_callback(policy: OnGiveUp, ledger_conn_id: str) -> Callable[[Any], None]:
    def on_failure(context: Any) -> None:
        from beampipe_provider.hooks.ledger import LedgerHook
        from beampipe_provider.operators.task_state import task_actor

        run_key = getattr(context["task"], "run_key", None)
        error = context.get("exception") or RuntimeError("the task failed without an exception")
        if not run_key:
            return
        try:
            store = LedgerHook(beampipe_ledger_conn_id=ledger_conn_id).get_store()
            run = record_give_up(store, run_key, task=str(task_actor(context)), error=error, policy=policy)
        except Exception:  # a callback that fails only hides the task's own error
            log.exception("Could not record the failure on run %s", run_key)
            return
        log.warning("Run %s is %s: %s", run_key, run.state, run.last_error)

    return on_failure
