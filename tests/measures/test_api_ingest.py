"""The REST batch endpoint (POST /observations) and the observation listing (GET /observations)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from northstar.core.models import ApiToken
from northstar.measures.models import IngestBatch, Observation
from northstar.measures.services import do_create_measure

COVERS = [Observation, IngestBatch]


def at(day, hour=0):
    return datetime(2026, 3, day, hour, tzinfo=UTC).isoformat()


def ok_items():
    return [{"measure": "deploys", "ts": at(1), "value": 3, "source_id": "ci-1"},
            {"measure": "availability", "ts": at(1), "good": 998, "total": 1000, "source_id": "sli-1"},
            {"measure": "latency", "ts": "2026-03-01T10:00:00+01:00", "value": "240.5"}]


@pytest.fixture
def writer(org, api, token_for, measures):
    """The CEO (an executive plans for every org unit) with a write token."""
    token = token_for(org.executive, ApiToken.Scope.WRITE)
    return api(token=token)


def nothing_stored():
    return Observation.objects.count() == 0 and IngestBatch.objects.count() == 0


def test_a_batch_is_stored_with_its_provenance(org, writer):
    response = writer.post("/observations", {"observations": ok_items()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["written"], body["duplicates"], body["rejected"], body["errors"]) == (
        3, 3, 0, 0, [])
    batch = IngestBatch.objects.get(uid=body["batch"])
    assert (batch.source, batch.user, batch.items, batch.written) == ("api", org.executive, 3, 3)
    assert batch.token is not None and batch.token.user == org.executive
    ratio = Observation.objects.get(measure__key="availability")
    assert (ratio.good, ratio.total, ratio.value, ratio.source_id) == (998, 1000, None, "sli-1")
    assert Observation.objects.get(measure__key="latency").ts == datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_resending_the_same_batch_adds_nothing(org, writer):
    first = writer.post("/observations", {"observations": ok_items()[:2]}).json()
    again = writer.post("/observations", {"observations": ok_items()[:2]}).json()
    assert (first["written"], again["written"], again["duplicates"], again["batch"]) == (2, 0, 2, None)
    assert Observation.objects.count() == 2 and IngestBatch.objects.count() == 1


def test_a_source_id_repeated_within_the_batch_is_stored_once(org, writer):
    items = [{"measure": "deploys", "ts": at(1), "value": 1, "source_id": 7},
             {"measure": "deploys", "ts": at(2), "value": 2, "source_id": "7"}]
    body = writer.post("/observations", {"observations": items}).json()
    assert (body["written"], body["duplicates"]) == (1, 1)


BAD_VALUES = [
    pytest.param('"abc"', "value", "not a number: 'abc'", id="non-numeric"),
    pytest.param("NaN", "value", "nan is not a finite number", id="nan"),
    pytest.param('"NaN"', "value", "'NaN' is not a finite number", id="nan-string"),
    pytest.param("Infinity", "value", "inf is not a finite number", id="infinity"),
    pytest.param("-Infinity", "value", "-inf is not a finite number", id="minus-infinity"),
    pytest.param("1e999", "value", "inf is not a finite number", id="overflow"),
    pytest.param("null", "value", "not a number: None", id="null"),
    pytest.param("true", "value", "not a number: True", id="boolean"),
    pytest.param("[1]", "value", "not a number: [1]", id="list"),
]


@pytest.mark.parametrize(("raw", "field", "message"), BAD_VALUES)
def test_a_bad_value_is_an_error_of_its_item_and_nothing_is_written(org, writer, raw, field, message):
    first = f'{{"measure": "deploys", "ts": "{at(1)}", "value": 1}}'
    second = f'{{"measure": "deploys", "ts": "{at(2)}", "value": {raw}}}'
    body = f'{{"observations": [{first}, {second}]}}'
    response = writer.post("/observations", raw=body)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["fields"] == {f"observations.1.{field}": [message]}
    assert error["message"] == "1 of 2 observations is bad; nothing was written."
    assert nothing_stored()


def test_a_huge_integer_value_is_an_error_of_its_item(org, writer):
    body = f'{{"observations": [{{"measure": "deploys", "ts": "{at(1)}", "value": 1{"0" * 400}}}]}}'
    response = writer.post("/observations", raw=body)
    assert response.status_code == 422, response.content
    [message] = response.json()["error"]["fields"]["observations.0.value"]
    assert message.endswith("is not a finite number")
    assert nothing_stored()


def test_other_keys_of_an_item_are_ignored(org, writer):
    items = [{"measure": "deploys", "ts": at(1), "value": 1, "unit": "deploys", "line": 3}]
    body = writer.post("/observations", {"observations": items}).json()
    assert (body["written"], body["errors"]) == (1, [])


def test_every_bad_item_is_reported_by_index_and_field(org, writer):
    future = (timezone.now() + timedelta(days=2)).isoformat()
    items = [
        {"measure": "deploys", "ts": at(1), "value": 1},
        {"measure": "nope", "ts": at(1), "value": 1},
        {"measure": "deploys", "ts": future, "value": 1},
        {"measure": "deploys", "ts": "yesterday", "value": 1},
        {"measure": "availability", "ts": at(1), "good": 10, "total": 5},
        {"measure": "availability", "ts": at(1), "value": 0.99},
        {"measure": "deploys", "ts": at(1), "value": 1, "source_id": "x" * 129},
        {"measure": 42, "ts": at(1), "value": 1},
    ]
    response = writer.post("/observations", {"observations": items})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert sorted(fields) == ["observations.1.measure", "observations.2.ts", "observations.3.ts",
                              "observations.4.total", "observations.5.good", "observations.5.total",
                              "observations.6.source_id", "observations.7.measure"]
    assert fields["observations.1.measure"] == ["unknown measure 'nope'"]
    assert "too far in the future" in fields["observations.2.ts"][0]
    assert fields["observations.4.total"] == ["total 5 is less than good 10"]
    assert fields["observations.7.measure"] == ["unknown measure '42'"]
    assert response.json()["error"]["message"] == "7 of 8 observations are bad; nothing was written."
    assert nothing_stored()


def test_partial_writes_the_good_items_and_reports_the_bad(org, writer):
    items = [{"measure": "deploys", "ts": at(1), "value": 1}, {"measure": "deploys", "ts": at(2), "value": "x"},
             {"measure": "deploys", "ts": at(3), "value": 2}]
    response = writer.post("/observations", {"observations": items, "partial": True})
    assert response.status_code == 200
    body = response.json()
    assert (body["written"], body["rejected"]) == (2, 1)
    assert body["errors"] == [{"item": 1, "field": "value", "message": "not a number: 'x'"}]
    assert IngestBatch.objects.get().rejected == 1
    assert sorted(Observation.objects.values_list("value", flat=True)) == [1.0, 2.0]


def test_partial_with_only_bad_items_writes_no_batch(org, writer):
    body = writer.post("/observations", {"observations": [{"measure": "nope", "ts": at(1), "value": 1}],
                                         "partial": True}).json()
    assert (body["written"], body["rejected"], body["batch"]) == (0, 1, None)
    assert nothing_stored()


def test_the_batch_limit(org, writer, settings):
    item = {"measure": "deploys", "ts": at(1), "value": 1}
    too_many = writer.post("/observations", {"observations": [item] * 10_001})
    assert too_many.status_code == 422
    assert list(too_many.json()["error"]["fields"]) == ["observations"]
    assert "At most 10,000 observations per request, not 10,001" in too_many.json()["error"]["fields"][
        "observations"][0]
    settings.INGEST_MAX_BATCH = 2
    assert writer.post("/observations", {"observations": [item] * 3}).status_code == 422
    assert nothing_stored()


def test_ten_thousand_observations_fit_in_one_request(org, writer):
    items = [{"measure": "deploys", "ts": f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
              "value": i % 7, "source_id": f"ci-build-{i:05d}"} for i in range(10_000)]
    body = writer.post("/observations", {"observations": items}).json()
    assert (body["written"], body["duplicates"]) == (10_000, 0)
    assert Observation.objects.count() == 10_000


def test_a_read_only_token_cannot_write(org, api, token_for, measures):
    client = api(token=token_for(org.executive, ApiToken.Scope.READ))
    response = client.post("/observations", {"observations": ok_items()})
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]["message"]
    assert nothing_stored()


def test_anonymous_is_401(org, api, measures):
    assert api().post("/observations", {"observations": ok_items()}).status_code == 401


def test_an_outsider_cannot_write_to_another_teams_measure(org, api, token_for, measures):
    client = api(token=token_for(org.outsider, ApiToken.Scope.WRITE))
    response = client.post("/observations", {"observations": ok_items()[:1]})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"observations.0.measure": ["unknown measure 'deploys'"]}
    assert nothing_stored()


def test_session_users_may_send_batches(org, api, measures):
    response = api(org.executive).post("/observations", {"observations": ok_items()})
    assert response.status_code == 200
    batch = IngestBatch.objects.get()
    assert (batch.user, batch.token) == (org.executive, None)


def test_a_malformed_request_is_a_clear_422_or_400_not_a_500(org, writer):
    not_objects = writer.post("/observations", {"observations": [5]})
    assert not_objects.status_code == 422
    assert all(name.startswith("observations.0") for name in not_objects.json()["error"]["fields"])
    missing = writer.post("/observations", {"observations": [{"measure": "deploys", "value": 1}]})
    assert missing.status_code == 422 and "observations.0.ts" in missing.json()["error"]["fields"]
    assert writer.post("/observations", {}).status_code == 422
    assert writer.post("/observations", raw="{not json").status_code == 400
    assert nothing_stored()


# -- reading -----------------------------------------------------------------------------------


def test_listing_shows_values_with_provenance_newest_first(org, writer, api):
    sent = writer.post("/observations", {"observations": ok_items()}).json()
    writer.post("/observations", {"observations": [{"measure": "deploys", "ts": at(5), "value": 4}]})
    response = api(org.employee).get("/observations", measure="deploys")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["items"]
    assert (newest["value"], oldest["value"], oldest["source_id"]) == (4.0, 3.0, "ci-1")
    provenance = oldest["provenance"]
    assert provenance["batch"] == sent["batch"] and provenance["source"] == "api"
    assert provenance["user"] == "ceo" and provenance["token"] == "write token"
    assert provenance["received"]


def test_listing_filters_by_time(org, writer, api):
    writer.post("/observations", {"observations": [
        {"measure": "deploys", "ts": at(day), "value": day} for day in (1, 2, 3, 4)]})
    client = api(org.admin)
    since = client.get("/observations", measure="deploys", since=at(2), until=at(4)).json()
    assert [o["value"] for o in since["items"]] == [3.0, 2.0]
    naive = client.get("/observations", measure="deploys", since="2026-03-04T00:00:00").json()
    assert [o["value"] for o in naive["items"]] == [4.0]


def test_listing_is_restricted_to_measures_you_can_see(org, api, year):
    private = do_create_measure(key="pr-reviews", name="PR reviews", aggregation="count",
                                subject=org.people["employee"].subject, acting_user=org.employee)
    stored = api(org.employee).post("/observations", {"observations": [
        {"measure": private.key, "ts": at(1), "value": 1}]})
    assert stored.status_code == 200, stored.content
    assert api(org.employee).get("/observations", measure="pr-reviews").json()["count"] == 1
    assert api(org.outsider).get("/observations", measure="pr-reviews").status_code == 404
    assert api(org.outsider).get("/observations", measure="no-such-measure").status_code == 404
    assert api(org.outsider).post("/observations", {"observations": [
        {"measure": private.key, "ts": at(2), "value": 1}]}).status_code == 422


def test_listing_needs_a_measure(org, api):
    response = api(org.admin).get("/observations")
    assert response.status_code == 422 and "measure" in response.json()["error"]["fields"]


def test_the_example_batch_in_the_documentation_is_accepted(org, writer):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ingest.md").read_text()
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    response = writer.post("/observations", json.loads(example))
    assert response.status_code == 200, response.content
    assert response.json()["written"] == 3
