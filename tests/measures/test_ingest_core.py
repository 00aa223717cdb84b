"""The one observation write path: validation, all-or-nothing, partial, duplicates, aggregates."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from northstar.audit.models import AuditEvent
from northstar.measures.aggregates import aggregate_observations, rebuild_period
from northstar.measures.ingest import IngestRejected, ObservationIn, do_ingest
from northstar.measures.models import IngestBatch, MeasureAggregate, Observation


def at(day, hour=0):
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def ingest(org, items, **kwargs):
    return do_ingest(items, source=IngestBatch.Source.API, acting_user=org.admin, **kwargs)


def test_observations_fold_into_every_containing_period(org, year, measures):
    ingest(org, [ObservationIn("deploys", at(1), 3), ObservationIn("deploys", at(2), 5),
                 ObservationIn("latency", at(1), 250), ObservationIn("latency", at(3), 240)])
    periods = set(MeasureAggregate.objects.filter(measure=measures["deploys"])
                  .values_list("period__key", flat=True))
    assert periods == {"fy2026", "fy2026-q1", "2026-03"}
    deploys = MeasureAggregate.objects.get(measure=measures["deploys"], period=year["2026-03"])
    assert (deploys.n, deploys.sum, deploys.min, deploys.max) == (2, 8.0, 3.0, 5.0)
    latency = MeasureAggregate.objects.get(measure=measures["latency"], period=year["2026-03"])
    assert latency.last_value == 240.0


def test_aggregates_kept_at_ingest_equal_a_recount_from_raw_rows(org, year, measures):
    for day in (5, 1, 9, 3):  # out of order, in three batches
        ingest(org, [ObservationIn("latency", at(day), 300 - day), ObservationIn("deploys", at(day, 5), day)])
    ingest(org, [ObservationIn("latency", at(9), 111)])  # same ts as an earlier one: recorded later wins
    march = year["2026-03"]
    kept = {a.measure_id: a for a in MeasureAggregate.objects.filter(period=march)}
    start, end = march.bounds()
    recount = aggregate_observations(None, start, end, start)
    for measure_id, figures in recount.items():
        for name, value in figures.items():
            stored = getattr(kept[measure_id], name)
            assert stored == pytest.approx(value) if isinstance(value, float) else stored == value, name
    assert kept[measures["latency"].pk].last_value == 111.0
    assert rebuild_period(march) == 2
    rebuilt = MeasureAggregate.objects.get(measure=measures["latency"], period=march)
    assert rebuilt.last_value == 111.0 and rebuilt.n == 5


def test_a_bad_item_rejects_the_whole_batch(org, year, measures):
    items = [ObservationIn("deploys", at(1), 1), ObservationIn("deploys", at(2), "abc"),
             ObservationIn("nope", at(2), 1), ObservationIn("deploys", at(3), float("nan")),
             ObservationIn("deploys", at(3), float("inf")),
             ObservationIn("deploys", timezone.now() + timedelta(days=2), 1),
             ObservationIn("availability", at(3), good=10, total=5),
             ObservationIn("availability", at(3), good=None, total=5)]
    events = AuditEvent.objects.count()
    with pytest.raises(IngestRejected) as rejected:
        ingest(org, items)
    errors = [(e.item, e.field) for e in rejected.value.errors]
    assert errors == [(2, "value"), (3, "measure"), (4, "value"), (5, "value"), (6, "ts"), (7, "total"),
                      (8, "good")]
    assert Observation.objects.count() == 0 and MeasureAggregate.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_partial_writes_the_good_items_and_reports_the_bad(org, year, measures):
    result = ingest(org, [ObservationIn("deploys", at(1), 1), ObservationIn("deploys", at(2), "x")], partial=True)
    assert (result.written, len(result.errors)) == (1, 1)
    assert Observation.objects.count() == 1
    assert result.batch.rejected == 1


def test_resending_the_same_source_ids_adds_nothing(org, year, measures):
    items = [ObservationIn("deploys", at(1), 1, source_id="a"), ObservationIn("deploys", at(2), 2, source_id="b")]
    first = ingest(org, items)
    again = ingest(org, items + [ObservationIn("deploys", at(3), 3, source_id="b")])
    assert (first.written, again.written, again.duplicates) == (2, 0, 3)
    assert again.batch is None
    assert MeasureAggregate.objects.get(measure=measures["deploys"], period=year["2026-03"]).sum == 3.0


def test_provenance_and_audit(org, year, measures):
    result = ingest(org, [ObservationIn("deploys", at(1), 1)], detail="ci pipeline")
    batch = result.batch
    assert (batch.source, batch.user, batch.detail) == ("api", org.admin, "ci pipeline")
    event = AuditEvent.objects.get(object_type="measures.ingestbatch")
    assert event.after["written"] == 1


def test_only_planners_of_the_subject_may_write(org, year, measures):
    with pytest.raises(IngestRejected) as rejected:
        do_ingest([ObservationIn("deploys", at(1), 1)], source="api", acting_user=org.outsider)
    assert rejected.value.errors[0].message == "unknown measure 'deploys'"
    # The Platform team's head plans for it.
    from northstar.directory.services import do_update_org_unit

    do_update_org_unit(org.units.platform, manager=org.people["manager"], acting_user=org.hr)
    org.manager.refresh_from_db()
    assert do_ingest([ObservationIn("deploys", at(1), 1)], source="api", acting_user=org.manager).written == 1
