"""Score pages: scorecard, alignment, measure chart and company overview, with their CSV exports."""

import csv
import io
import json
import re

import pytest

from northstar.directory.models import Subject
from northstar.scoring.models import ScoreSnapshot
from tests.scoring.test_queries import build_plan

COVERS = [ScoreSnapshot, Subject]


@pytest.fixture
def plan(org):
    return build_plan(org)


@pytest.fixture
def browse(client):
    def login(user):
        client.force_login(user)
        return client
    return login


def text(response) -> str:
    return response.content.decode()


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_pages_need_a_login(client, org, plan):
    for url in (f"/scorecards/{org.units.platform.subject.uid}/", "/alignment/", f"/measures/{plan.deploys.uid}/",
                "/overview/", "/overview/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_scorecard_page(org, plan, browse):
    response = browse(org.employee).get(f"/scorecards/{org.units.platform.subject.uid}/?period=cycle")
    assert response.status_code == 200
    page = text(response)
    assert "Scorecard: Platform" in page
    for heading in ("Financial", "Customer", "Internal process", "Learning and growth"):
        assert heading in page
    assert "Reliable platform" in page and "p95 at 200 ms" in page
    assert re.search(r'<span class="chip chip-(ok|warn|bad|info|muted)">(On track|At risk|Off track|Pending)', page)
    assert "<polyline points=" in page  # a sparkline, drawn on the server
    assert '<progress class="bar' in page
    assert 'style="' not in page  # the CSP allows no inline styles
    assert "HX-Request" in response["Vary"]


def test_scorecard_of_another_teams_person_is_404(org, plan, browse):
    client = browse(org.employee)
    assert client.get(f"/scorecards/{org.people['web_dev'].subject.uid}/").status_code == 404
    assert client.get(f"/scorecards/{org.people['web_dev'].subject.uid}/export.csv").status_code == 404
    assert client.get(f"/scorecards/{org.units.platform.subject.uid}/?period=nope").status_code == 404


def test_scorecard_export(org, plan, browse):
    rows = csv_rows(browse(org.manager).get(f"/scorecards/{org.units.platform.subject.uid}/export.csv?period=cycle"))
    levels = [row["level"] for row in rows]
    assert levels[0] == "scorecard" and levels.count("perspective") == 4
    latency = next(row for row in rows if row["key_result"] == "p95 at 200 ms")
    assert (latency["actual"], latency["target"], latency["unit"]) == ("250.0", "200.0", "ms")


def test_directory_pages_link_to_scorecards(org, plan, browse):
    client = browse(org.employee)
    for url, subject in ((f"/people/{org.people['employee'].uid}/", org.people["employee"].subject),
                         (f"/org/{org.units.platform.uid}/", org.units.platform.subject),
                         (f"/services/{org.service.uid}/", org.service.subject),
                         (f"/processes/{org.process.uid}/", org.process.subject)):
        assert f'href="/scorecards/{subject.uid}/"' in text(client.get(url)), url


def test_alignment_page_and_export(org, plan, browse):
    client = browse(org.employee)
    page = text(client.get("/alignment/?period=cycle"))
    assert page.index("Be the reliable choice") < page.index("Reliable platform") < page.index("Ship faster")
    assert "Fast web" in page and "Web vitals" not in page and "Close deals" not in page
    assert "<details open>" in page
    rows = csv_rows(client.get("/alignment/export.csv?period=cycle"))
    assert [(r["key"], r["depth"], r["parent_key"]) for r in rows] == [
        ("company", "0", ""), ("team", "1", "company"), ("mine", "2", "team"), ("web", "0", "")]
    assert rows[2]["status"] == ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan.mine.pk) \
        .latest("day").status


def test_measure_page_carries_the_figure_as_a_data_block(org, plan, browse):
    import plotly.graph_objects as go

    response = browse(org.employee).get(f"/measures/{plan.deploys.uid}/?period=cycle")
    assert response.status_code == 200
    page = text(response)
    assert '<script id="measure-figure" type="application/json">' in page
    assert "/static/plotly/plotly.min.js" in page and "/static/scoring/charts.js" in page
    block = re.search(r'<script id="measure-figure" type="application/json">(.*?)</script>', page, re.S).group(1)
    figure = json.loads(block)
    names = [trace["name"] for trace in figure["data"]]
    assert "Period actual" in names and "Forecast" in names
    assert [t for t in figure["data"] if t["name"] == "Forecast"][0]["line"]["dash"] == "dot"
    bands = [s for s in figure["layout"]["shapes"] if s["type"] == "path"]
    assert len(bands) == 3  # on track, at risk, off track, following the pace
    go.Figure(data=figure["data"], layout=figure["layout"])  # plotly accepts it as it is


def test_measure_page_steady_bands_are_rectangles(org, plan, browse):
    page = text(browse(org.employee).get(f"/measures/{plan.latency.uid}/"))
    figure = json.loads(re.search(r'type="application/json">(.*?)</script>', page, re.S).group(1))
    rects = [s for s in figure["layout"]["shapes"] if s["type"] == "rect"]
    assert [(r["y0"], r["y1"]) for r in rects][0][1] == 200  # on track: up to the target
    assert "Daily scores" in page
    assert re.search(r'<span class="chip chip-(ok|warn|bad)">(On track|At risk|Off track)</span>', page)


def test_measure_page_and_export_are_404_for_those_who_cannot_see_it(org, plan, browse):
    measure = plan.deals.key_results.get().measure
    client = browse(org.employee)
    assert client.get(f"/measures/{measure.uid}/").status_code == 404
    assert client.get(f"/measures/{measure.uid}/export.csv").status_code == 404
    assert browse(org.outsider).get(f"/measures/{measure.uid}/").status_code == 200


def test_measure_export(org, plan, browse):
    rows = csv_rows(browse(org.employee).get(f"/measures/{plan.deploys.uid}/export.csv?period=cycle"))
    assert [(r["value"], r["period_actual"]) for r in rows] == [("20.0", "20.0"), ("15.0", "35.0")]


def test_overview_page_drills_down(org, plan, browse):
    client = browse(org.admin)
    page = text(client.get("/overview/?period=cycle"))
    assert "Engineering" in page and "Sales" in page and '<svg class="stack' in page
    assert 'href="/overview/?unit=eng&amp;period=cycle"' in page
    drilled = text(client.get("/overview/?unit=eng&period=cycle"))
    assert "Platform" in drilled and "Web" in drilled
    assert client.get("/overview/?unit=nope").status_code == 404


def test_overview_export_counts_only_visible_objectives(org, plan, browse):
    admin_rows = {r["unit_key"]: r for r in csv_rows(browse(org.admin).get("/overview/export.csv?period=cycle"))}
    assert admin_rows["eng"]["total"] == "4"
    employee = browse(org.employee)
    rows = {r["unit_key"]: r for r in csv_rows(employee.get("/overview/export.csv?period=cycle&unit=eng"))}
    assert rows["web"]["total"] == "1"  # the team's objective, not Wendy's own
    assert rows["platform"]["total"] == "2"


def test_navigation_links(org, plan, browse):
    page = text(browse(org.employee).get("/alignment/"))
    nav = re.search(r'<nav class="mainnav".*?</nav>', page, re.S).group(0)
    assert 'href="/goals/"' in nav and 'href="/overview/"' in nav
    assert re.search(r'href="/alignment/" aria-current="page">Alignment', nav)


def test_plotly_styles_come_from_the_installed_bundle_as_a_stylesheet(org, plan, browse, client):
    css = client.get("/charts/plotly.css")
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    body = css.content.decode()
    assert ".js-plotly-plot .plotly .main-svg {position:absolute;" in body
    page = text(browse(org.employee).get(f"/measures/{plan.deploys.uid}/"))
    # With this id and class on the page, plotly.js adds no <style> element of its own (strict CSP).
    assert 'id="plotly.js-style-global" class="no-inline-styles" href="/charts/plotly.css"' in page
