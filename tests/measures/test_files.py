"""Observation files: CSV and XLSX through the API upload and `northstar ingest FILE`."""

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from northstar.audit.models import AuditEvent
from northstar.core.models import ApiToken
from northstar.measures.files import ingest_file, read_observations
from northstar.measures.models import IngestBatch, Observation


def to_csv(rows, delimiter=",") -> bytes:
    return "\n".join(delimiter.join(str(c) for c in row) for row in rows).encode() + b"\n"


def to_xlsx(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


HEADER = ["measure", "ts", "value", "good", "total", "source_id"]
GOOD_ROWS = [
    HEADER,
    ["deploys", "2026-03-01T10:00:00Z", "3", "", "", "ci-1"],
    ["deploys", "2026-03-02T10:00:00Z", "5", "", "", "ci-2"],
    ["availability", "2026-03-01T00:00:00Z", "", "998", "1000", "sli-1"],
]


def nothing_stored():
    return Observation.objects.count() == 0 and IngestBatch.objects.count() == 0


# -- reading -----------------------------------------------------------------------------------


def test_headers_are_found_whatever_their_case_and_separators(org):
    data = to_csv([["Measure", "TIMESTAMP", "Value", "Source-ID", "Comment"],
                   ["deploys", "2026-03-01", "3", "a", "first"]], delimiter=";")
    read = read_observations("x.csv", data)
    assert read.errors == []
    assert read.columns == {"measure": "Measure", "ts": "TIMESTAMP", "value": "Value", "source_id": "Source-ID"}
    assert read.ignored_columns == ["Comment"]
    item = read.items[0]
    assert (item.measure, item.ts, item.value, item.source_id, item.line) == ("deploys", "2026-03-01", "3", "a", 2)


def test_missing_and_duplicate_columns_are_errors_on_the_header_line(org):
    read = read_observations("x.csv", to_csv([["", ""], ["measure", "value", "value"], ["deploys", 1, 2]]))
    messages = [(e.line, e.column, e.message) for e in read.errors]
    assert messages == [(2, "value", "2 columns are headed 'value'; keep one"),
                        (2, "ts", "missing required column: ts")]
    assert read.items == []


# -- the API -----------------------------------------------------------------------------------


@pytest.fixture
def uploader(org, api, token_for, measures):
    return api(token=token_for(org.executive, ApiToken.Scope.WRITE))


def test_a_dry_run_is_the_default_and_writes_nothing(org, uploader):
    events = AuditEvent.objects.count()
    response = uploader.upload("/observations/upload", "march.csv", to_csv(GOOD_ROWS))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dry_run"], body["applied"], body["rows"], body["written"], body["batch"]) == (
        True, False, 3, 3, None)
    assert [(m["measure"], m["lines"]) for m in body["measures"]] == [("availability", 1), ("deploys", 2)]
    assert body["measures"][1]["first"].startswith("2026-03-01T10:00")
    assert [row["line"] for row in body["preview"]] == [2, 3, 4]
    assert body["preview"][2]["good"] == "998"
    assert nothing_stored() and AuditEvent.objects.count() == events


def test_upload_stores_the_file_and_a_second_upload_adds_nothing(org, uploader):
    first = uploader.upload("/observations/upload", "march.csv", to_csv(GOOD_ROWS), dry_run="false").json()
    assert (first["applied"], first["written"]) == (True, 3)
    batch = IngestBatch.objects.get(uid=first["batch"])
    assert (batch.source, batch.detail, batch.user, batch.token.user) == (
        "file", "march.csv", org.executive, org.executive)
    again = uploader.upload("/observations/upload", "march.csv", to_csv(GOOD_ROWS), dry_run="false").json()
    assert (again["applied"], again["written"], again["duplicates"]) == (False, 0, 3)
    assert Observation.objects.count() == 3


def test_errors_are_reported_by_line_and_nothing_is_written(org, uploader):
    rows = [*GOOD_ROWS, ["deploys", "2026-03-03T10:00:00Z", "abc", "", "", ""],
            ["nope", "2026-03-03", "1", "", "", ""],
            ["availability", "2026-03-03", "", "10", "5", ""]]
    for dry_run in ("true", "false"):
        response = uploader.upload("/observations/upload", "march.csv", to_csv(rows), dry_run=dry_run)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["message"] == "march.csv has 3 errors; nothing was written."
        assert error["fields"] == {"line 5": ["value: not a number: 'abc'"],
                                   "line 6": ["measure: unknown measure 'nope'"],
                                   "line 7": ["total: total 5 is less than good 10"]}
    assert nothing_stored()


def test_partial_stores_the_good_lines_and_lists_the_bad(org, uploader):
    rows = [*GOOD_ROWS, ["deploys", "2026-03-03T10:00:00Z", "NaN", "", "", ""]]
    dry = uploader.upload("/observations/upload", "m.csv", to_csv(rows), partial="true").json()
    assert (dry["written"], dry["rejected"]) == (3, 1) and nothing_stored()
    body = uploader.upload("/observations/upload", "m.csv", to_csv(rows), partial="true", dry_run="false").json()
    assert (body["applied"], body["written"], body["rejected"]) == (True, 3, 1)
    assert body["errors"] == [{"line": 5, "column": "value", "message": "'NaN' is not a finite number"}]
    assert Observation.objects.count() == 3


def test_an_unreadable_file_is_a_422_on_line_1_even_when_partial(org, uploader):
    response = uploader.upload("/observations/upload", "m.csv", b"\xff\xfe\x00garbage", partial="true")
    assert response.status_code == 422
    assert "not UTF-8" in response.json()["error"]["fields"]["line 1"][0]
    fake = uploader.upload("/observations/upload", "m.xlsx", b"measure,ts,value\n")
    assert fake.status_code == 422 and "not an Excel workbook" in fake.json()["error"]["fields"]["line 1"][0]


def test_missing_columns_are_a_422(org, uploader):
    response = uploader.upload("/observations/upload", "m.csv", to_csv([["measure", "when", "value"], ["a", 1, 2]]))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"line 1": ["ts: missing required column: ts"]}


def test_xlsx_upload_reads_numbers_text_and_date_cells(org, uploader):
    rows = [["Measure", "TS", "Value", "Good", "Total", "Source ID"],
            ["deploys", "2026-03-01T10:00:00Z", 3, None, None, 1001],
            ["deploys", date(2026, 3, 2), 4.5, None, None, 1002.0],
            [None, None, None, None, None, None],
            ["availability", "2026-03-01T00:00:00+00:00", None, 998, 1000, "sli-1"],
            ["deploys", "2026-03-04", "oops", None, None, None]]
    response = uploader.upload("/observations/upload", "march.xlsx", to_xlsx(rows), dry_run="false")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"line 6": ["Value: not a number: 'oops'"]}
    response = uploader.upload("/observations/upload", "march.xlsx", to_xlsx(rows[:-1]), dry_run="false")
    assert response.status_code == 200, response.content
    assert response.json()["written"] == 3
    stored = {o.source_id: o for o in Observation.objects.all()}
    assert stored["1001"].value == 3.0 and stored["1002"].value == 4.5
    assert stored["1002"].ts == datetime(2026, 3, 2, tzinfo=UTC)  # TIME_ZONE is UTC in the tests
    assert (stored["sli-1"].good, stored["sli-1"].total) == (998, 1000)


def test_xlsx_datetime_cells_keep_their_time_of_day(org, measures):
    rows = [["measure", "ts", "value"], ["deploys", datetime(2026, 3, 2, 14, 30), 1]]
    outcome = ingest_file("m.xlsx", to_xlsx(rows), acting_user=org.admin, dry_run=False)
    assert outcome.ok, outcome.errors
    assert Observation.objects.get().ts == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_only_measures_you_may_change_can_be_fed(org, api, token_for, measures):
    client = api(token=token_for(org.outsider, ApiToken.Scope.WRITE))
    response = client.upload("/observations/upload", "m.csv", to_csv(GOOD_ROWS[:2]), dry_run="false")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"line 2": ["measure: unknown measure 'deploys'"]}
    assert nothing_stored()


def test_a_read_only_token_cannot_upload(org, api, token_for, measures):
    client = api(token=token_for(org.executive, ApiToken.Scope.READ))
    assert client.upload("/observations/upload", "m.csv", to_csv(GOOD_ROWS)).status_code == 403


def test_missing_file_field_is_a_422(org, uploader):
    response = uploader.post("/observations/upload")
    assert response.status_code == 422 and "file" in response.json()["error"]["fields"]


def test_the_example_file_in_the_documentation_is_accepted(org, measures):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ingest.md").read_text()
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    outcome = ingest_file("example.csv", example.encode(), acting_user=org.admin, dry_run=False)
    assert outcome.ok, outcome.errors
    assert outcome.written == 4


# -- the command -------------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def observation_file(tmp_path, measures):
    def write(rows, name="march.csv"):
        path = tmp_path / name
        path.write_bytes(to_xlsx(rows) if name.endswith(".xlsx") else to_csv(rows))
        return str(path)
    return write


def test_cli_dry_run_prints_a_summary_and_writes_nothing(org, observation_file):
    out = run(observation_file(GOOD_ROWS), "--dry-run")
    assert "march.csv: 3 rows (dry run)" in out
    assert "deploys" in out and "2 lines" in out and "2026-03-01T10:00+00:00 to 2026-03-02T10:00+00:00" in out
    assert "3 would be written, 0 already stored, 0 lines rejected." in out
    assert "Dry run: nothing was written." in out
    assert nothing_stored()


def test_cli_stores_the_file_as_the_first_superuser(org, observation_file):
    out = run(observation_file(GOOD_ROWS, "march.xlsx"))
    assert "3 written" in out and "Stored as batch" in out
    batch = IngestBatch.objects.get()
    assert (batch.source, batch.detail, batch.user) == ("file", "march.xlsx", org.admin)
    assert "0 written, 3 already stored" in run(observation_file(GOOD_ROWS, "march.xlsx"))


def test_cli_errors_are_listed_by_line_and_exit_non_zero(org, observation_file):
    path = observation_file([*GOOD_ROWS, ["deploys", "2026-03-05", "abc", "", "", ""]])
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 error in march.csv; nothing was written."):
        call_command("ingest", path, stdout=out, stderr=io.StringIO())
    assert "line 5, value: not a number: 'abc'" in out.getvalue()
    assert nothing_stored()


def test_cli_partial_writes_the_good_lines_and_still_exits_non_zero(org, observation_file):
    path = observation_file([*GOOD_ROWS, ["deploys", "2026-03-05", "abc", "", "", ""]])
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 line of march.csv rejected; the other lines were written."):
        call_command("ingest", path, "--partial", stdout=out, stderr=io.StringIO())
    assert "line 5, value: not a number: 'abc'" in out.getvalue()
    assert Observation.objects.count() == 3


def test_cli_records_as_another_user_whose_permissions_apply(org, observation_file):
    with pytest.raises(CommandError, match="nothing was written"):
        run(observation_file(GOOD_ROWS), "--as", "outsider")
    with pytest.raises(CommandError, match="No active user named 'nobody'"):
        run(observation_file(GOOD_ROWS), "--as", "nobody")
    run(observation_file(GOOD_ROWS), "--as", "ceo")
    assert IngestBatch.objects.get().user == org.executive


def test_cli_unreadable_file(org, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.csv"))
