"""OpenMetrics / Prometheus text pushes: the conformance suite, parsing errors, the mapping to measures."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from northstar.core.models import ApiToken
from northstar.measures.models import IngestBatch, Observation
from northstar.measures.openmetrics import map_samples, parse_exposition, parse_selector
from northstar.measures.services import do_create_measure
from tests.openapi import API_PREFIX, check_response

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "openmetrics"


def conformance_cases():
    cases = []
    for folder in sorted(CONFORMANCE.iterdir()) if CONFORMANCE.is_dir() else []:
        meta = json.loads((folder / "test.json").read_text())
        cases.append(pytest.param(folder, meta, id=folder.name))
    return cases


CASES = conformance_cases()


def push(client, body: str | bytes, content_type=OPENMETRICS, path="/ingest/openmetrics", **params):
    url = API_PREFIX + path + (f"?{urlencode(params)}" if params else "")
    # The header too: Django's test client leaves Content-Type out when the body is empty.
    headers = {**client.headers, "Content-Type": content_type}
    response = client.client.post(url, body, content_type=content_type, headers=headers)
    check_response(url, "post", response.status_code, response.get("Content-Type", ""), response.content)
    return response


def make_measure(org, key, selector, aggregation="last", subject=None):
    return do_create_measure(key=key, name=key.replace("-", " ").title(), aggregation=aggregation,
                             metric_selector=selector, subject=subject or org.units.platform.subject,
                             acting_user=org.admin)


@pytest.fixture
def pusher(org, api, token_for):
    return api(token=token_for(org.executive, ApiToken.Scope.WRITE))


def nothing_stored():
    return Observation.objects.count() == 0 and IngestBatch.objects.count() == 0


# -- the conformance suite (../shared/conformance/openmetrics) ---------------------------------


def test_the_conformance_suite_is_there():
    verdicts = [meta["shouldParse"] for _folder, meta in (case.values for case in CASES)]
    assert verdicts.count(True) >= 1 and verdicts.count(False) >= 1, f"no cases found in {CONFORMANCE}"


@pytest.mark.parametrize(("folder", "meta"), CASES)
def test_openmetrics_conformance(org, pusher, folder, meta):
    """Every case marked shouldParse is accepted; every other one is refused with a clear error, nothing stored.

    Measures select the suite's usual metric names so that accepted cases also go
    through the mapping; `partial=true` shows that not even partial mode lets any
    part of a bad exposition in.
    """
    make_measure(org, "a-gauge", "a")
    make_measure(org, "a-counter", "a_total")
    make_measure(org, "a-buckets", 'a_bucket{le="+Inf"}')
    body = (folder / meta.get("file", "metrics")).read_bytes()
    response = push(pusher, body, partial="true")
    if meta["shouldParse"]:
        assert response.status_code == 200, response.content
        result = response.json()
        assert result["format"] == "openmetrics"
        assert result["received"] + result["unmapped"] >= 0
    else:
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "bad_request"
        assert error["message"].startswith("The body is not valid OpenMetrics text")
        assert error["message"].endswith("Nothing was stored.")
        assert nothing_stored()


def test_parse_errors_name_the_line(org, pusher):
    response = push(pusher, "# TYPE a gauge\na 1\na{b=} 2\n# EOF\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == ("The body is not valid OpenMetrics text: line 3 ('a{b=} 2'): Invalid labels: b=. "
                                "Nothing was stored.")
    assert error["fields"] == {"line 3": ["Invalid labels: b="]}
    missing_eof = push(pusher, "# TYPE a gauge\na 1\n")
    assert "at the end (after line 2): Missing # EOF at end" in missing_eof.json()["error"]["message"]


def test_a_body_that_is_not_utf8_is_refused(org, pusher):
    response = push(pusher, b"a 1\n\xff 2\n# EOF\n")
    assert response.status_code == 400
    assert "not UTF-8 text (byte 0xff on line 2)" in response.json()["error"]["message"]


# -- the mapping -------------------------------------------------------------------------------


def test_a_selector_picks_samples_whose_labels_include_its_own(org, pusher):
    make_measure(org, "payments-requests", 'http_requests_total{service="payments"}')
    make_measure(org, "payments-errors", 'http_requests_total{service="payments",code="500"}')
    body = """# TYPE http_requests counter
http_requests_total{service="payments",code="200"} 100 1772359200
http_requests_total{service="payments",code="500"} 5 1772359200
http_requests_total{service="crm",code="200"} 50 1772359200
# TYPE up gauge
up 1
# EOF
"""
    response = push(pusher, body)
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["families"], result["samples"], result["unmapped"], result["received"], result["written"]) == (
        2, 4, 2, 2, 2)
    values = dict(Observation.objects.values_list("measure__key", "value"))
    assert values == {"payments-requests": 105.0, "payments-errors": 5.0}  # all codes added up; only 500s
    assert {o.ts for o in Observation.objects.all()} == {datetime(2026, 3, 1, 10, tzinfo=UTC)}
    batch = IngestBatch.objects.get()
    assert batch.source == "openmetrics" and batch.detail.startswith("OpenMetrics text push")
    assert batch.user == org.executive and batch.token is not None


def test_pushing_the_same_timestamped_samples_again_adds_nothing(org, pusher):
    make_measure(org, "payments-requests", 'http_requests_total{service="payments"}')
    body = ('http_requests_total{service="payments"} 7 1772359200000\n'
            'http_requests_total{service="payments"} 9 1772359260000\n')
    first = push(pusher, body, content_type=PROMETHEUS).json()
    again = push(pusher, body, content_type=PROMETHEUS).json()
    assert (first["written"], again["written"], again["duplicates"]) == (2, 0, 2)
    # The Prometheus text format counts milliseconds since 1970; OpenMetrics counts seconds.
    times = sorted(Observation.objects.values_list("ts", flat=True))
    assert times == [datetime(2026, 3, 1, 10, 0, tzinfo=UTC), datetime(2026, 3, 1, 10, 1, tzinfo=UTC)]


def test_samples_without_a_timestamp_take_the_time_received(org, pusher):
    make_measure(org, "queue-depth", "queue_depth")
    before = timezone.now()
    assert push(pusher, "queue_depth 12\n", content_type="text/plain").json()["written"] == 1
    assert push(pusher, "queue_depth 12\n", content_type="text/plain").json()["written"] == 1  # no time, no id
    observations = list(Observation.objects.all())
    assert all(before <= o.ts <= timezone.now() and o.source_id is None for o in observations)
    assert IngestBatch.objects.filter(detail__startswith="Prometheus text (0.0.4) push").count() == 2


def test_prometheus_counters_are_selected_by_their_total_sample(org, pusher):
    make_measure(org, "jobs", "jobs_done_total")
    make_measure(org, "legacy", "legacy_jobs_total")
    body = """# TYPE jobs_done_total counter
jobs_done_total 3
# TYPE legacy_jobs counter
legacy_jobs 4
"""
    result = push(pusher, body, content_type=PROMETHEUS).json()
    assert (result["written"], result["unmapped"]) == (2, 0)
    assert dict(Observation.objects.values_list("measure__key", "value")) == {"jobs": 3.0, "legacy": 4.0}


def test_histogram_buckets_counts_and_sums_are_selected_by_their_sample_names(org, pusher):
    make_measure(org, "fast-requests", 'latency_seconds_bucket{le="0.5"}')
    make_measure(org, "requests", "latency_seconds_count")
    make_measure(org, "latency-total", "latency_seconds_sum")
    body = """# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 2
latency_seconds_bucket{le="0.5"} 8
latency_seconds_bucket{le="+Inf"} 10
latency_seconds_count 10
latency_seconds_sum 3.5
latency_seconds_created 1772359200
# EOF
"""
    result = push(pusher, body).json()
    assert (result["samples"], result["written"], result["unmapped"]) == (6, 3, 3)
    assert dict(Observation.objects.values_list("measure__key", "value")) == {
        "fast-requests": 8.0, "requests": 10.0, "latency-total": 3.5}


def test_a_bad_mapped_value_rejects_the_push_unless_partial(org, pusher):
    make_measure(org, "temperature", "temperature")
    make_measure(org, "humidity", "humidity")
    body = "# TYPE temperature gauge\ntemperature NaN\n# TYPE humidity gauge\nhumidity 40\n# EOF\n"
    response = push(pusher, body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"temperature": ["temperature value: nan is not a finite number"]}
    assert nothing_stored()
    partial = push(pusher, body, partial="true").json()
    assert (partial["written"], partial["rejected"]) == (1, 1)
    assert partial["errors"] == [{"item": 0, "series": "temperature", "measure": "temperature", "field": "value",
                                  "message": "nan is not a finite number"}]


def test_future_timestamps_are_refused(org, pusher):
    make_measure(org, "temperature", "temperature")
    future = (timezone.now() + timedelta(days=1)).timestamp()
    response = push(pusher, f"temperature 20 {future:.3f}\n# EOF\n")
    assert response.status_code == 422
    assert "too far in the future" in response.json()["error"]["fields"]["temperature"][0]


def test_the_push_example_in_the_documentation(org, pusher):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ingest.md").read_text()
    block = doc.split("the push\n\n", 1)[1].split("\n\nstores", 1)[0]
    body = "\n".join(line.removeprefix("    ") for line in block.splitlines()) + "\n"
    make_measure(org, "payments-requests", 'http_requests_total{service="payments"}')
    make_measure(org, "payments-fast", 'latency_seconds_bucket{service="payments",le="0.5"}')
    result = push(pusher, body).json()
    assert (result["written"], result["unmapped"]) == (2, 4)
    assert dict(Observation.objects.values_list("measure__key", "value")) == {
        "payments-requests": 1030.0, "payments-fast": 990.0}
    assert {o.ts for o in Observation.objects.all()} == {datetime(2026, 3, 1, 10, tzinfo=UTC)}


def test_samples_only_feed_measures_the_pusher_may_change(org, api, token_for):
    make_measure(org, "temperature", "temperature")
    outsider = api(token=token_for(org.outsider, ApiToken.Scope.WRITE))
    result = push(outsider, "temperature 20\n# EOF\n").json()
    assert (result["received"], result["unmapped"], result["written"]) == (0, 1, 0)
    assert nothing_stored()


def test_ratio_measures_refuse_selectors_and_inactive_measures_are_not_fed(org, pusher):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="ratio measure needs good and total"):
        make_measure(org, "availability", "requests_total", aggregation="ratio")
    make_measure(org, "temperature", "temperature").__class__.objects.filter(key="temperature").update(
        is_active=False)
    result = push(pusher, "requests_total 5\ntemperature 1\n", content_type=PROMETHEUS).json()
    assert (result["unmapped"], result["written"]) == (2, 0)


def test_the_prometheus_alias_and_a_read_only_token(org, api, token_for, pusher):
    make_measure(org, "temperature", "temperature")
    assert push(pusher, "temperature 20\n", content_type=PROMETHEUS, path="/ingest/prometheus").status_code == 200
    reader = api(token=token_for(org.executive, ApiToken.Scope.READ))
    assert push(reader, "temperature 20\n", content_type=PROMETHEUS).status_code == 403
    assert push(api(), "temperature 20\n", content_type=PROMETHEUS).status_code == 401


def test_the_prometheus_text_format_is_parsed_with_its_own_rules(org, pusher):
    """The 0.0.4 format has no # EOF and allows blank lines; OpenMetrics requires the first and forbids the other."""
    body = "# HELP a x\n# TYPE a gauge\n\na 1\n"
    assert push(pusher, body, content_type=PROMETHEUS).status_code == 200
    assert push(pusher, body, content_type=OPENMETRICS).status_code == 400
    bad = push(pusher, "a 1\nb{c=1} 2\n", content_type=PROMETHEUS)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == ("The body is not valid Prometheus text (0.0.4): line 2 ('b{c=1} 2'): "
                                              "Invalid labels: c=1. Nothing was stored.")


def test_a_body_too_large_is_a_413(org, pusher, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = push(pusher, "a 1\n" * 100, content_type=PROMETHEUS)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


# -- the module --------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "expected"), [
    ("up", ("up", {})),
    ('http_requests_total{service="payments"}', ("http_requests_total", {"service": "payments"})),
    (' a:b_c { x="1", y="2", } ', ("a:b_c", {"x": "1", "y": "2"})),
    ('a{b="with \\"quotes\\" and }"}', ("a", {"b": 'with "quotes" and }'})),
])
def test_parse_selector(selector, expected):
    assert parse_selector(selector) == expected


@pytest.mark.parametrize(("selector", "message"), [
    ("", "The selector is empty"),
    ('{a="1"}', "no sample name"),
    ("0abc", "not a valid metric name"),
    ('a{b!="1"}', "only exact matches"),
    ('a{b=~"x.*"}', "only exact matches"),
    ("a{b=1}", "cannot be read"),
    ('a{b="1"', "must end with the closing brace"),
    ('a{__name__="b"}', "not in a __name__ label"),
])
def test_parse_selector_refuses_with_a_clear_message(selector, message):
    with pytest.raises(ValueError, match=message):
        parse_selector(selector)


def test_a_measure_with_a_bad_selector_cannot_be_saved(org):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        make_measure(org, "bad", 'a{b=~"x"}')
    assert "only exact matches" in str(refused.value)


def test_map_samples_adds_up_matching_series_and_counts_the_rest(org):
    measure = make_measure(org, "errors", 'errors_total{service="payments"}')
    exposition = parse_exposition("""# TYPE errors counter
errors_total{service="payments",code="500"} 2 10
errors_total{service="payments",code="500"} 4 20
errors_total{service="payments",code="502"} 3 10
errors_total{service="crm",code="500"} 9 10
# EOF
""", OPENMETRICS)
    items, unmapped = map_samples(exposition.families, [measure])
    assert unmapped == 1
    assert [(i.measure, i.ts, i.value) for i in items] == [
        ("errors", datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC), 5.0),
        ("errors", datetime(1970, 1, 1, 0, 0, 20, tzinfo=UTC), 4.0)]
    assert items[0].series == ('errors_total{code="500",service="payments"} + '
                               'errors_total{code="502",service="payments"}')
    assert items[0].source_id != items[1].source_id and items[0].source_id.startswith("push:")
