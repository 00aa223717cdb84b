"""The observation upload page (/measures/ingest/), without a browser."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from northstar.measures.models import IngestBatch, Observation
from tests.measures.test_files import GOOD_ROWS, to_csv

URL = "/measures/ingest/"


def post_page(client, data: bytes, name="march.csv", **fields):
    payload = {"file": SimpleUploadedFile(name, data), **fields}
    return client.post(URL, payload, headers={"HX-Request": "true"})


@pytest.fixture
def planner(org, client, measures):
    client.force_login(org.executive)
    return client


def test_only_people_who_may_change_a_measure_see_the_page(org, client, measures):
    client.force_login(org.outsider)
    assert client.get(URL).status_code == 403
    client.force_login(org.executive)
    response = client.get(URL)
    assert response.status_code == 200
    assert b'name="file"' in response.content and b"<script>" not in response.content
    assert b"style=" not in response.content


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_preview_then_store_with_the_previewed_fingerprint(org, planner):
    data = to_csv(GOOD_ROWS)
    preview = post_page(planner, data, action="preview")
    assert preview.status_code == 200
    assert preview.context["can_apply"] and preview.context["outcome"].written == 3
    assert b"Preview of march.csv" in preview.content and b"3 to store" in preview.content
    assert Observation.objects.count() == 0
    stored = post_page(planner, data, action="apply", fingerprint=preview.context["fingerprint"])
    assert stored.context["outcome"].applied
    assert b"Stored march.csv" in stored.content
    assert Observation.objects.count() == 3
    batch = IngestBatch.objects.get()
    assert (batch.source, batch.user, batch.detail) == ("file", org.executive, "march.csv")


def test_storing_a_different_file_than_previewed_previews_again(org, planner):
    preview = post_page(planner, to_csv(GOOD_ROWS), action="preview")
    other = to_csv(GOOD_ROWS[:2])
    response = post_page(planner, other, action="apply", fingerprint=preview.context["fingerprint"])
    assert not response.context["outcome"].applied
    assert b"changed since the preview" in response.content
    assert Observation.objects.count() == 0


def test_errors_are_listed_with_line_numbers_and_block_storing(org, planner):
    rows = [*GOOD_ROWS, ["deploys", "2026-03-05", "abc", "", "", ""]]
    response = post_page(planner, to_csv(rows), action="preview")
    assert b"Line 5, value: not a number: &#x27;abc&#x27;" in response.content
    assert b"Nothing was stored" in response.content
    assert not response.context["can_apply"]


def test_partial_previews_the_good_lines_and_stores_them(org, planner):
    rows = [*GOOD_ROWS, ["deploys", "2026-03-05", "abc", "", "", ""]]
    preview = post_page(planner, to_csv(rows), action="preview", partial="on")
    assert preview.context["can_apply"] and b"1 line rejected" in preview.content
    stored = post_page(planner, to_csv(rows), action="apply", partial="on",
                       fingerprint=preview.context["fingerprint"])
    assert stored.context["outcome"].applied and Observation.objects.count() == 3


def test_posting_without_a_file_asks_for_one(org, planner):
    response = planner.post(URL, {"action": "preview"}, headers={"HX-Request": "true"})
    assert b"Choose a CSV or XLSX file" in response.content
