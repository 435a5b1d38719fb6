import math

import pytest

from beampipe_provider.common.canonical import canonical_json
from beampipe_provider.ledger.keys import run_key
from beampipe_provider.ledger.records import DatasetRecord

BASE = dict(
    survey="WALLABY",
    source_id="HIPASSJ1303+07",
    dataset_ids=["visibility-2", "visibility-1"],
    workflow="wallaby-hires",
    workflow_version="1.0",
    parameters={"robust": 0.5, "cell": "2arcsec"},
)


def test_run_key_ignores_dataset_order_duplicates_and_parameter_order():
    same = BASE | {
        "dataset_ids": ["visibility-1", "visibility-2", "visibility-1"],
        "parameters": {"cell": "2arcsec", "robust": 0.5},
    }
    assert run_key(**BASE) == run_key(**same)
    assert len(run_key(**BASE)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"survey": "DINGO"},
        {"source_id": "HIPASSJ1318-21"},
        {"dataset_ids": ["visibility-1"]},
        {"workflow": "wallaby-lores"},
        {"workflow_version": "1.1"},
        {"parameters": {"robust": 0.0, "cell": "2arcsec"}},
    ],
)
def test_run_key_changes_with_every_component(change):
    assert run_key(**BASE) != run_key(**(BASE | change))


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": math.nan})


def test_dataset_signature_ignores_access_url_release_and_quality_but_not_content():
    record = DatasetRecord(
        dataset_id="visibility-1",
        survey="WALLABY",
        source_id="HIPASSJ1303+07",
        filename="a.ms.tar",
        size=10,
        access_url="https://casda.csiro.au/datalink?ID=visibility-1",
        quality="NOT_VALIDATED",
    )
    relabelled = record.model_copy(update={"access_url": "https://other/x", "quality": "GOOD"})
    assert record.signature() == relabelled.signature()
    assert record.signature() != record.model_copy(update={"size": 11}).signature()
    assert record.signature() != record.model_copy(update={"checksum": "abc"}).signature()


def test_dataset_release_date_must_carry_a_timezone():
    with pytest.raises(ValueError, match="release_date"):
        DatasetRecord(dataset_id="d", survey="WALLABY", release_date="2024-01-01T00:00:00")
