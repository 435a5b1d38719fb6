"""ADQL builders: only validated, quoted values reach a query; hostile values never leave the process."""

from datetime import UTC, datetime

import pytest

from beampipe_provider.archive.casda import adql
from beampipe_provider.archive.casda.discovery import SurveyRules, discovery_steps
from beampipe_provider.archive.tap import TapResult

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def test_events_query_after_a_watermark_is_ordered_and_pageable():
    q = adql.events_query(["AS102"], ["UPDATED", "DEPOSITED"], since=T0, after_key=(T0, 33681))
    assert q == (
        "SELECT sbid, event_date, event_type, project_code, obs_program FROM casda.observation_event "
        "WHERE project_code IN ('AS102') AND event_type IN ('DEPOSITED', 'UPDATED') "
        "AND event_date >= '2024-03-01T00:00:00.000' AND (event_date > '2024-03-01T00:00:00.000' OR "
        "(event_date = '2024-03-01T00:00:00.000' AND sbid > 33681)) ORDER BY event_date, sbid"
    )


def test_window_mode_is_half_open():
    q = adql.events_query(["AS102"], ["DEPOSITED"], since=T0, until=datetime(2024, 3, 2, 10, tzinfo=UTC))
    assert "event_date >= '2024-03-01T00:00:00.000' AND event_date < '2024-03-02T10:00:00.000'" in q


def test_products_query_applies_the_survey_rules_and_never_returns_bad_quality():
    q = adql.products_query(
        [33701, 33681],
        collections=["WALLABY"],
        filename_patterns=["%_10arc_split.ms.tar"],
        dataproduct_types=["visibility"],
        released_before=T0,
        after_did="visibility-3368100",
    )
    assert "obs_id IN ('ASKAP-33681', 'ASKAP-33701')" in q
    assert "(quality_level IS NULL OR quality_level <> 'BAD')" in q
    assert "(filename LIKE '%_10arc_split.ms.tar')" in q
    assert "obs_release_date <= '2024-03-01T00:00:00.000'" in q
    assert q.endswith("obs_publisher_did > 'visibility-3368100' ORDER BY obs_publisher_did")


@pytest.mark.parametrize(
    "hostile",
    ["AS102' OR '1'='1", "AS102;DROP", "AS102--", "AS102/*", "\uff21S102", "AS10\u0662", "AS102\n", "as102", ""],
)
def test_hostile_project_codes_are_refused(hostile):
    with pytest.raises(adql.AdqlValueError, match=r"project_codes: .* refused .*nothing was sent to the archive"):
        adql.events_query([hostile], ["DEPOSITED"])


@pytest.mark.parametrize("hostile", ["%' OR 1=1 --", "a;b", "x\u200b%", "%\\%", "a'b"])
def test_hostile_filename_patterns_are_refused(hostile):
    with pytest.raises(adql.AdqlValueError, match="filename_patterns"):
        adql.products_query([1], filename_patterns=[hostile])


def test_unknown_event_type_and_naive_time_are_refused():
    with pytest.raises(adql.AdqlValueError, match="event_types: 'DEPOSIT' refused"):
        adql.events_query(["AS102"], ["DEPOSIT"])
    with pytest.raises(adql.AdqlValueError, match=r"since: .* refused \(needs a timezone\)"):
        adql.events_query(["AS102"], ["DEPOSITED"], since=datetime(2024, 1, 1))


def test_literal_doubles_quotes_even_for_validated_values():
    assert adql.literal("O'Brien") == "'O''Brien'"


def test_survey_rules_check_every_field_up_front():
    with pytest.raises(ValueError, match="collections"):
        SurveyRules(survey="WALLABY", project_codes=["AS102"], collections=["WALLABY'--"])
    with pytest.raises(ValueError, match="source_pattern"):
        SurveyRules(survey="WALLABY", project_codes=["AS102"], source_pattern=r"^(\w+)_")


def test_released_only_filters_on_the_time_of_the_poll_whichever_driver_runs_it():
    rules = SurveyRules(survey="WALLABY", project_codes=["AS102"], released_only=True)
    steps = discovery_steps(rules, since=T0)
    next(steps)  # the events query
    products = steps.send(TapResult([{"sbid": 33681, "event_date": "2024-03-01T00:00:00.000"}], overflow=False))
    assert "obs_release_date <= '" in products.adql
