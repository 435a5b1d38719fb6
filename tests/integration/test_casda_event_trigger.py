"""CasdaDepositEventTrigger run in-process against the emulator: one event per poll with its new deposits, none
repeated.

The triggerer injects `asset_state_store`; here a dict with the same async get/set stands in for it, because the
watcher path through a running scheduler and triggerer belongs to the survey-DAG tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from beampipe_provider.triggers.casda import CasdaDepositEventTrigger

RULES = {"survey": "WALLABY", "project_codes": ["AS102"], "dataproduct_types": ["visibility"]}


class AssetState:
    def __init__(self) -> None:
        self.values: dict = {}

    async def aget(self, key, default=None):
        return json.loads(json.dumps(self.values.get(key, default)))  # stored as JSON, like the real store

    async def aset(self, key, value) -> None:
        self.values[key] = json.loads(json.dumps(value))


async def take(trigger: CasdaDepositEventTrigger, n: int, timeout: float = 20) -> list[dict]:
    events: list[dict] = []
    stream = trigger.run()

    async def collect() -> None:
        async for event in stream:
            events.append(event.payload)
            if len(events) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    # Let it run on a little, as the triggerer would (it saves its state after each event), then stop it.
    with contextlib.suppress(TimeoutError):
        extra = await asyncio.wait_for(anext(stream), 1.0)
        events.append(extra.payload)  # a repeat or an unexpected event: the assertions will show it
    await stream.aclose()
    return events


@pytest.fixture
def casda_conn(casda, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CASDA_DEFAULT", json.dumps({"conn_type": "casda", "extra": {"tap_url": casda.tap_url}})
    )
    return casda


async def test_one_event_per_deposit_and_a_restart_repeats_none(casda_conn):
    state = AssetState()
    trigger = CasdaDepositEventTrigger(rules=RULES, poll_interval=0.2, overlap_s=3 * 86_400)
    trigger.asset_state_store = state
    (first,) = await take(trigger, 1)  # one event for the poll, with every deposit it found
    assert first["status"] == "success"
    assert [d["sbid"] for d in first["deposits"]] == [33681, 33701, 33721, 33741, 33761, 33781]
    assert all(len(d["datasets"]) == 3 for d in first["deposits"])
    assert len(first["datasets"]) == 18

    # A restarted triggerer (same kwargs, same asset state) announces only what is new.
    casda_conn.deposit(34001, ["HIPASSJ1318-21"], when="2024-03-06T12:00:00+00:00")
    restarted = CasdaDepositEventTrigger(**trigger.serialize()[1])
    restarted.asset_state_store = state
    (event,) = await take(restarted, 1)
    (deposit,) = event["deposits"]
    assert (deposit["sbid"], deposit["event_type"]) == (34001, "DEPOSITED")
    assert [d["dataset_id"] for d in event["datasets"]] == ["visibility-3400100"]
    assert state.values["casda_deposits"]["watermark"].startswith("2024-03-06T12:00:00")


async def test_an_unavailable_archive_is_waited_out(casda_conn):
    casda_conn.faults(tap_http_500=2)
    trigger = CasdaDepositEventTrigger(rules=RULES, poll_interval=0.1)
    events = await take(trigger, 1)
    assert events[0]["deposits"][0]["sbid"] == 33681
