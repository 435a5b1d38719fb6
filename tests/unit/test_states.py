import pytest

from beampipe_provider.ledger.states import ALLOWED, TERMINAL, IllegalTransition, RunState, check_transition


def test_every_state_has_a_rule():
    assert set(ALLOWED) == set(RunState)


def test_success_is_final_and_failures_can_only_be_requeued():
    assert ALLOWED[RunState.SUCCEEDED] == frozenset()
    for state in TERMINAL - {RunState.SUCCEEDED}:
        assert ALLOWED[state] == {RunState.DISCOVERED}


def test_a_run_that_may_have_a_job_never_goes_back_to_staging_except_through_reconciliation():
    for state in (RunState.SUBMITTED, RunState.RUNNING):
        assert RunState.STAGED not in ALLOWED[state]
        assert RunState.CLAIMED not in ALLOWED[state]
    assert RunState.STAGED in ALLOWED[RunState.UNCERTAIN]


def test_illegal_transition_names_both_states_and_what_is_allowed():
    with pytest.raises(IllegalTransition, match=r"SUCCEEDED -> RUNNING; allowed from SUCCEEDED: none"):
        check_transition(RunState.SUCCEEDED, RunState.RUNNING)
    with pytest.raises(
        IllegalTransition, match=r"DISCOVERED -> SUBMITTED; allowed from DISCOVERED: CANCELLED, CLAIMED"
    ):
        check_transition(RunState.DISCOVERED, RunState.SUBMITTED)
