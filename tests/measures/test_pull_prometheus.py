"""Prometheus pulls against the real `prometheus` binary (Debian's package), started here on 127.0.0.1.

Known history is backfilled with `promtool tsdb create-blocks-from openmetrics`
into the storage directory before Prometheus starts: twelve points five minutes
apart from T0 (2026-03-02 00:00 UTC), long enough ago to be accepted. The
server requires HTTP basic auth, so every pull here also proves that the
credentials in the URL work, and that they never show up anywhere else.
"""

import base64
import json
import logging
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from northstar.audit.models import AuditEvent
from northstar.measures.connectors import redact_url
from northstar.measures.connectors.runner import run_pull
from northstar.measures.models import IngestBatch, MeasureAggregate, Observation, PullSource
from northstar.measures.services_pull import do_create_pull_source, do_test_pull_source

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP = 300
POINTS = 12
USER = "reader"
PASSWORD = "prom-pull-s3cret"
# bcrypt (cost 4, for speed) of PASSWORD, for Prometheus's --web.config.file.
PASSWORD_HASH = "$2b$04$ylgXuKEBKmHU5IuNikaG8OoZrN67I.PagSwqqh4wIr4eoQCTfrI.q"


def at_step(k: int) -> datetime:
    return T0 + timedelta(seconds=k * STEP)


def just_after(k: int) -> datetime:
    """A wall-clock `now` a little after step k: range and instant pulls align down to step k."""
    return at_step(k) + timedelta(seconds=42)


def openmetrics() -> str:
    lines = ["# TYPE pull_queue_depth gauge", "# TYPE pull_requests gauge", "# TYPE pull_flaky gauge"]
    for k in range(POINTS):
        epoch = int(at_step(k).timestamp())
        lines += [
            f'pull_queue_depth{{queue="a"}} {k + 1} {epoch}',
            f'pull_queue_depth{{queue="b"}} {10 * (k + 1)} {epoch}',
            f'pull_requests{{kind="good"}} {90 + k} {epoch}',
            f'pull_requests{{kind="total"}} {100 + k} {epoch}',
            f"pull_flaky {'NaN' if k == 2 else k} {epoch}",
        ]
    # OpenMetrics wants each metric family's samples together.
    lines = lines[:3] + sorted(lines[3:], key=lambda line: line.split("{")[0].split(" ")[0])
    return "\n".join(lines) + "\n# EOF\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(port: int) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/-/ready")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory):
    """A Prometheus with known history on a free 127.0.0.1 port; always stopped at the end."""
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not binary or not promtool:
        pytest.skip("the prometheus and promtool binaries are not installed (`make test` installs Debian's "
                    "prometheus package)")
    root = tmp_path_factory.mktemp("prometheus")
    data, storage = root / "history.om", root / "tsdb"
    data.write_text(openmetrics())
    backfill = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(data), str(storage)],
                              capture_output=True, text=True, timeout=120)
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    (root / "web.yml").write_text(f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n")
    port = free_port()
    log = (root / "prometheus.log").open("w")
    process = subprocess.Popen([
        binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={root / 'web.yml'}",
        "--storage.tsdb.retention.time=100y",
    ], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("Prometheus did not start:\n" + (root / "prometheus.log").read_text()[-3000:])
            time.sleep(0.1)
        yield {"url": f"http://{USER}:{PASSWORD}@127.0.0.1:{port}", "port": port}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def prom(prometheus_server):
    return prometheus_server["url"]


def make_source(org, measure, url, query, mode=PullSource.Mode.RANGE, **extra):
    return do_create_pull_source(measure=measure, kind=PullSource.Kind.PROMETHEUS, url=url, query=query, mode=mode,
                                 step_seconds=STEP, acting_user=org.admin, **extra)


def refreshed(source):
    return PullSource.objects.select_related("measure").get(pk=source.pk)


def march(measure, year):
    return MeasureAggregate.objects.get(measure=measure, period=year["2026-03"])


def test_a_range_pull_writes_every_step_once_and_pulling_again_adds_nothing(org, year, measures, prom):
    source = make_source(org, measures["deploys"], prom, 'pull_queue_depth{queue="a"}')

    result = run_pull(source, now=just_after(POINTS - 1))

    assert result.ok, result.error
    assert (result.points, result.written, result.duplicates, result.rejected) == (POINTS, POINTS, 0, 0)
    assert result.window_end == at_step(POINTS - 1)
    assert result.window_start == at_step(POINTS - 1) - timedelta(seconds=100 * STEP)  # first run: 100 steps
    rows = list(Observation.objects.filter(measure=measures["deploys"]).order_by("ts")
                .values_list("ts", "value", "source_id"))
    assert rows == [(at_step(k), float(k + 1), f"pull:{source.pk}:{int(at_step(k).timestamp())}")
                    for k in range(POINTS)]
    aggregate = march(measures["deploys"], year)
    assert (aggregate.n, aggregate.sum, aggregate.last_value) == (POINTS, 78.0, 12.0)
    assert IngestBatch.objects.get().source == IngestBatch.Source.PROMETHEUS
    source = refreshed(source)
    assert (source.last_ts, source.last_error) == (at_step(POINTS - 1), "")
    assert source.last_success == source.last_run == just_after(POINTS - 1)

    assert run_pull(source, now=just_after(POINTS - 1)).points == 0  # nothing after last_ts yet
    PullSource.objects.filter(pk=source.pk).update(last_ts=None)
    again = run_pull(refreshed(source), now=just_after(POINTS - 1))  # the whole window once more

    assert (again.points, again.written, again.duplicates) == (POINTS, 0, POINTS)
    assert march(measures["deploys"], year).n == POINTS
    assert Observation.objects.count() == POINTS


def test_a_range_pull_continues_after_the_last_point(org, year, measures, prom):
    source = make_source(org, measures["deploys"], prom, 'pull_queue_depth{queue="a"}')
    assert run_pull(source, now=just_after(6)).written == 7

    result = run_pull(refreshed(source), now=just_after(POINTS - 1))

    assert result.window_start == at_step(7)
    assert (result.points, result.written, result.duplicates) == (5, 5, 0)
    assert march(measures["deploys"], year).sum == 78.0


def test_an_instant_pull_takes_one_value_at_the_step_boundary(org, year, measures, prom):
    source = make_source(org, measures["latency"], prom, "sum(pull_queue_depth)", mode=PullSource.Mode.INSTANT)

    first = run_pull(source, now=just_after(5))
    same_step = run_pull(refreshed(source), now=just_after(5) + timedelta(seconds=100))
    next_step = run_pull(refreshed(source), now=just_after(6))

    assert (first.written, same_step.duplicates, next_step.written) == (1, 1, 1)
    assert list(Observation.objects.order_by("ts").values_list("ts", "value")) == [
        (at_step(5), 66.0), (at_step(6), 77.0)]
    assert march(measures["latency"], year).last_value == 77.0
    assert refreshed(source).last_ts == at_step(6)


def test_an_instant_pull_at_the_real_now(org, measures, prom):
    """A query that needs no stored data (`vector`) is evaluated at now, aligned down to the step."""
    source = make_source(org, measures["latency"], prom, "vector(3)", mode=PullSource.Mode.INSTANT)
    before = datetime.now(UTC)

    result = run_pull(source)

    assert result.ok and result.written == 1, result.error
    ts = Observation.objects.get().ts
    assert ts.timestamp() % STEP == 0 and before - timedelta(seconds=STEP) < ts <= before


def test_a_ratio_measure_pairs_the_good_and_total_series(org, year, measures, prom):
    source = make_source(org, measures["availability"], prom, "pull_requests")

    result = run_pull(source, now=just_after(POINTS - 1))

    assert result.ok and result.written == POINTS, result.error
    first = Observation.objects.order_by("ts").first()
    assert (first.good, first.total, first.value) == (90.0, 100.0, None)
    aggregate = march(measures["availability"], year)
    assert (aggregate.sum_good, aggregate.sum_total) == (sum(range(90, 102)), sum(range(100, 112)))


def test_a_ratio_measure_needs_series_labelled_good_and_total(org, year, measures, prom):
    source = make_source(org, measures["availability"], prom, "pull_queue_depth")

    result = run_pull(source, now=just_after(3))

    assert not result.ok
    assert 'needs exactly two series labelled kind="good" and kind="total"' in result.error
    assert 'queue="a"' in result.error
    missing = make_source(org, measures["availability"], prom, 'pull_requests{kind="good"}')
    assert 'needs a series labelled kind="total" too' in run_pull(missing, now=just_after(3)).error


def test_several_series_for_one_measure_are_refused_not_summed(org, year, measures, prom):
    source = make_source(org, measures["latency"], prom, "pull_queue_depth", mode=PullSource.Mode.INSTANT)

    result = run_pull(source, now=just_after(3))

    assert not result.ok
    assert result.error.startswith(
        'The query returned 2 series ({__name__="pull_queue_depth", queue="a"}, '
        '{__name__="pull_queue_depth", queue="b"}); a pull feeds one measure')
    assert "sum(...)" in result.error
    assert refreshed(source).last_error == result.error
    assert Observation.objects.count() == 0


def test_a_nan_point_is_rejected_and_the_others_kept(org, year, measures, prom):
    source = make_source(org, measures["deploys"], prom, "pull_flaky")

    result = run_pull(source, now=just_after(POINTS - 1))

    assert result.ok
    assert (result.points, result.written, result.rejected) == (POINTS, POINTS - 1, 1)
    source = refreshed(source)
    assert source.last_error == "1 of 12 point(s) rejected: item 3, value: 'NaN' is not a finite number"
    assert source.last_success == source.last_run
    assert source.last_ts == at_step(POINTS - 1)


def test_a_promql_error_becomes_last_error(org, year, measures, prom):
    source = make_source(org, measures["deploys"], prom, "sum(pull_queue_depth")

    result = run_pull(source, now=just_after(3))

    assert not result.ok
    source = refreshed(source)
    assert source.last_error.startswith("Prometheus refused the query (bad_data):")
    assert "parse error" in source.last_error
    assert source.last_run == just_after(3) and source.last_success is None and source.last_ts is None
    assert Observation.objects.count() == 0


def test_an_unreachable_prometheus_becomes_last_error(org, year, measures):
    port = free_port()
    source = make_source(org, measures["deploys"], f"http://{USER}:{PASSWORD}@127.0.0.1:{port}", "up")

    result = run_pull(source)

    assert result.error == f"Could not reach Prometheus at http://{USER}:***@127.0.0.1:{port}: Connection refused."
    assert refreshed(source).last_error == result.error


def test_wrong_or_missing_credentials_are_named(org, year, measures, prometheus_server):
    port = prometheus_server["port"]
    wrong = make_source(org, measures["deploys"], f"http://{USER}:not-it@127.0.0.1:{port}", "up")
    missing = make_source(org, measures["deploys"], f"http://127.0.0.1:{port}/", "up")

    for source in (wrong, missing):
        error = run_pull(source).error
        assert "answered 401 Unauthorized: check the user name and password" in error
        assert "not-it" not in error


def test_a_dry_run_reports_what_would_be_written_and_writes_nothing(org, year, measures, prom):
    source = make_source(org, measures["deploys"], prom, 'pull_queue_depth{queue="b"}', mode=PullSource.Mode.INSTANT)
    events = AuditEvent.objects.count()

    result = do_test_pull_source(source, acting_user=org.admin)  # at the real now: the history is older

    assert result.ok and result.dry_run and result.points == 0
    # The service always tests at the real now; the runner's dry run, at a now inside the history.
    PullSource.objects.filter(pk=source.pk).update(mode=PullSource.Mode.RANGE)
    result = run_pull(refreshed(source), now=just_after(POINTS - 1), dry_run=True, acting_user=org.admin)

    assert (result.points, result.written) == (POINTS, POINTS)
    assert [p.value for p in result.preview[:3]] == ["10", "20", "30"]
    assert Observation.objects.count() == 0 and IngestBatch.objects.count() == 0
    assert AuditEvent.objects.count() == events
    source = refreshed(source)
    assert source.last_run is None and source.last_ts is None


def test_credentials_never_appear_in_answers_logs_or_the_audit_trail(org, year, measures, prom, api, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(org.admin)

    created = client.post("/pull-sources", {"measure": "deploys", "kind": "prometheus", "url": prom,
                                            "query": 'pull_queue_depth{queue="a"}', "mode": "range",
                                            "step_seconds": STEP})
    assert created.status_code == 201, created.content
    uid = created.json()["uid"]
    assert created.json()["url_redacted"] == redact_url(prom) == prom.replace(PASSWORD, "***")
    source = PullSource.objects.get(uid=uid)
    answers = [created, client.get("/pull-sources"), client.get(f"/pull-sources/{uid}"),
               client.post(f"/pull-sources/{uid}/test"), client.post(f"/pull-sources/{uid}/run")]
    run_pull(refreshed(source), now=just_after(POINTS - 1))
    answers.append(client.patch(f"/pull-sources/{uid}", {"url": redact_url(prom) + "/", "query": "sum("}))
    assert answers[-1].status_code == 200
    assert refreshed(source).url == prom + "/"  # *** kept the stored password
    answers.append(client.post(f"/pull-sources/{uid}/run"))  # a failing run
    assert answers[-1].json()["ok"] is False
    answers.append(client.patch(f"/pull-sources/{uid}", {"url": prom.replace(PASSWORD, "new-s3cret")}))
    answers.append(client.request("delete", f"/pull-sources/{uid}"))

    assert Observation.objects.filter(measure=measures["deploys"]).count() == POINTS
    for response in answers:
        assert response.status_code in (200, 201, 204), response.content
        assert PASSWORD not in response.content.decode() and "new-s3cret" not in response.content.decode()
    assert PASSWORD not in caplog.text and "new-s3cret" not in caplog.text
    assert "Pull source" in caplog.text  # the runs were logged, redacted
    trail = json.dumps([[e.object_repr, e.before, e.after] for e in AuditEvent.objects.all()])
    assert PASSWORD not in trail and "new-s3cret" not in trail
    events = AuditEvent.objects.filter(object_id=uid).order_by("seq")
    url_changes = [e for e in events if e.after and "url_redacted" in e.after]
    assert [e.after["credentials_changed"] for e in url_changes] == [False, True]
    assert url_changes[0].after["url_redacted"] == redact_url(prom) + "/"
    details = " ".join(IngestBatch.objects.values_list("detail", flat=True))
    assert PASSWORD not in details and uid in details


# -- headers and redirects, with a stand-in server (no Prometheus needed) -----------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list = []
    redirect = False

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append((self.path, dict(self.headers), self.rfile.read(length).decode()))
        if type(self).redirect:
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()
            return
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [int(T0.timestamp()), "4.5"]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.seen, _Recorder.redirect = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_in_the_url_is_sent_as_a_bearer_header_only(org, year, measures, recorder):
    url = f"http://:tok-123@127.0.0.1:{recorder}/prom/?tenant=eu"
    source = make_source(org, measures["latency"], url, "up", mode=PullSource.Mode.INSTANT)

    result = run_pull(source, now=just_after(0))

    assert result.ok and result.written == 1, result.error
    path, headers, body = _Recorder.seen[0]
    assert path == "/prom/api/v1/query"
    assert headers["Authorization"] == "Bearer tok-123"
    assert "tenant=eu" in body and "query=up" in body and f"time={int(T0.timestamp())}" in body
    assert "tok-123" not in path + body
    assert redact_url(url) == f"http://:***@127.0.0.1:{recorder}/prom/?tenant=eu"


def test_redirects_are_not_followed(org, year, measures, recorder):
    _Recorder.redirect = True
    source = make_source(org, measures["latency"], f"http://u:pw-1@127.0.0.1:{recorder}", "up",
                         mode=PullSource.Mode.INSTANT)

    result = run_pull(source)

    assert "302" in result.error and "not followed" in result.error
    assert len(_Recorder.seen) == 1
