"""Goal pages: my goals, a new objective and its key results through the forms, check-ins, permissions."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from northstar.audit.models import AuditEvent
from northstar.goals import services
from northstar.goals.models import CheckIn, KeyResult, Objective, Period
from northstar.scoring.models import ScoreSnapshot

COVERS = [Objective, KeyResult, CheckIn, Period]

HTMX = {"HX-Request": "true"}


@pytest.fixture
def cycle(org):
    today = timezone.localdate()
    return services.do_create_period(key="cycle", name="This cycle", start=today - timedelta(days=50),
                                     end=today + timedelta(days=50), acting_user=org.hr)


@pytest.fixture
def mine(org, cycle):
    """Erin's objective with two one-off key results; Pat contributes."""
    objective = services.do_create_objective(title="Ship faster", subject=org.people["employee"].subject,
                                             period=cycle, owner=org.people["employee"],
                                             contributors=[org.people["peer"]], acting_user=org.employee)
    services.do_create_key_result(objective=objective, title="Automate releases", acting_user=org.employee)
    services.do_create_key_result(objective=objective, title="Cut build time", start_value=30, target_value=10,
                                  unit="min", acting_user=org.employee)
    return objective


@pytest.fixture
def browse(client):
    def login(user):
        client.force_login(user)
        return client
    return login


def text(response) -> str:
    return response.content.decode()


def test_my_goals_lists_mine_grouped_by_period_with_check_in_forms(org, mine, browse):
    response = browse(org.employee).get("/goals/")
    assert response.status_code == 200
    page = text(response)
    assert "This cycle" in page and "Ship faster" in page and "Automate releases" in page
    assert page.count('class="check-in-form"') == 3  # the objective and both key results
    assert "No data" in page  # nothing checked in yet
    assert 'href="/goals/new/"' in page


def test_my_goals_shows_contributed_objectives(org, mine, browse):
    page = text(browse(org.peer).get("/goals/"))
    assert "Ship faster" in page and "Contributor" in page


def test_my_goals_without_a_person(org, browse):
    page = text(browse(org.hr).get("/goals/"))
    assert "not linked to a person" in page


def test_my_goals_export(org, mine, browse):
    response = browse(org.employee).get("/goals/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["objective"], r["key_result"]) for r in rows] == [
        ("Ship faster", ""), ("Ship faster", "Automate releases"), ("Ship faster", "Cut build time")]
    assert rows[1]["target"] == "100.0" and rows[2]["unit"] == "min"
    assert browse(org.outsider).get("/goals/export.csv").streaming_content  # empty but fine


def test_create_objective_and_key_results_through_the_forms(org, cycle, browse):
    client = browse(org.employee)
    form = text(client.get("/goals/new/"))
    assert "Me (Erin Employee)" in form
    response = client.post("/goals/new/", {
        "title": "Learn Rust", "subject": str(org.people["employee"].subject.uid), "period": "cycle",
        "perspective": "learning-growth", "parent": "", "weight": "1",
    })
    objective = Objective.objects.get(title="Learn Rust")
    assert response.status_code == 302 and response["Location"] == f"/goals/{objective.uid}/"
    assert objective.owner == org.people["employee"] and objective.perspective.key == "learning-growth"
    page = client.get(response["Location"])
    assert "Now add its key results" in text(page) and "Add a key result" in text(page)

    added = client.post(f"/goals/{objective.uid}/key-results/", {
        "title": "Finish the book", "kind": "one_off", "start_value": "0", "target_value": "12", "unit": "chapters",
        "weight": "1"})
    assert added.status_code == 302
    kr = objective.key_results.get()
    assert kr.measure.is_manual and kr.measure.unit == "chapters"
    assert kr.measure.targets.get().target == 12


def test_key_result_backed_by_a_measure(org, cycle, browse):
    from northstar.measures.services import do_create_measure

    measure = do_create_measure(key="deploys", name="Deploys", subject=org.units.platform.subject,
                                acting_user=org.admin)
    objective = services.do_create_objective(title="Ship", subject=org.people["employee"].subject, period=cycle,
                                             acting_user=org.employee)
    client = browse(org.employee)
    assert "Deploys" in text(client.get(f"/goals/{objective.uid}/"))
    client.post(f"/goals/{objective.uid}/key-results/", {"title": "More deploys", "kind": "measure",
                                                         "measure": str(measure.uid), "weight": "2"})
    kr = objective.key_results.get()
    assert kr.measure == measure and kr.weight == 2


def test_validation_errors_are_shown_next_to_the_fields(org, cycle, browse):
    client = browse(org.employee)
    response = client.post("/goals/new/", {"title": "", "subject": str(org.people["employee"].subject.uid),
                                           "period": "no-such-period", "weight": "-1"})
    assert response.status_code == 200
    page = text(response)
    assert page.count('class="field-error"') >= 3  # title, period, weight
    assert "This field is required." in page and "Select a valid choice" in page
    assert "greater than or equal to 0" in page
    assert not Objective.objects.exists()

    objective = services.do_create_objective(title="Ship", subject=org.people["employee"].subject, period=cycle,
                                             acting_user=org.employee)
    response = client.post(f"/goals/{objective.uid}/key-results/", {"title": "Same", "kind": "one_off",
                                                                     "start_value": "5", "target_value": "5",
                                                                     "weight": "1"})
    assert response.status_code == 422
    assert "The target must differ from the start." in text(response)
    response = client.post(f"/goals/{objective.uid}/key-results/", {"title": "KPI", "kind": "measure", "weight": "1"})
    assert "Choose the measure behind this key result." in text(response)
    assert not objective.key_results.exists()


def test_alignment_cycle_error_from_the_service_is_shown(org, cycle, browse):
    parent = services.do_create_objective(title="Parent", subject=org.people["employee"].subject, period=cycle,
                                          acting_user=org.employee)
    client = browse(org.employee)
    response = client.post("/goals/new/", {"title": "Child", "subject": str(org.people["employee"].subject.uid),
                                           "period": "cycle", "parent": str(parent.uid), "rolls_up": "on",
                                           "weight": "1"})
    child = Objective.objects.get(title="Child")
    assert response.status_code == 302 and child.parent == parent and child.rolls_up


def test_employee_cannot_plan_for_another_team(org, cycle, browse):
    form = text(browse(org.employee).get("/goals/new/"))
    assert "Wendy Web" not in form and "Team: Web" not in form
    response = browse(org.employee).post("/goals/new/", {
        "title": "Sneaky", "subject": str(org.people["web_dev"].subject.uid), "period": "cycle", "weight": "1"})
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    assert not Objective.objects.filter(title="Sneaky").exists()


@pytest.mark.django_db(transaction=True)  # the check-in commits, so re-scoring runs before the card is drawn
def test_check_in_with_htmx_returns_the_rescored_card(org, mine, browse):
    kr = mine.key_results.get(title="Automate releases")
    response = browse(org.employee).post(f"/goals/{mine.uid}/check-in/", {
        "key_result": str(kr.uid), "progress": "60", "confidence": "7", "comment": "Pipeline half done",
        "next": "/goals/"}, headers=HTMX)
    assert response.status_code == 200
    card = text(response)
    assert card.lstrip().startswith("<section") and "<html" not in card
    assert "Check-in saved" in card and "Pipeline half done" in card
    assert "60%" in card  # the key result's score, and the objective's roll-up (the only counted one)
    check_in = CheckIn.objects.get()
    assert check_in.progress == 60 and check_in.confidence == 7 and check_in.observation is not None
    snapshot = ScoreSnapshot.objects.get(node_kind="objective", node_id=mine.pk)
    assert snapshot.score == pytest.approx(0.6)
    assert f"{snapshot.get_status_display()}</span>" in card


def test_check_in_without_htmx_redirects_back(org, mine, browse):
    client = browse(org.employee)
    response = client.post(f"/goals/{mine.uid}/check-in/", {"confidence": "4", "comment": "Slow week",
                                                             "next": "/goals/"})
    assert response.status_code == 302 and response["Location"] == "/goals/"
    assert "Check-in saved." in text(client.get("/goals/"))
    evil = client.post(f"/goals/{mine.uid}/check-in/", {"comment": "x", "next": "https://evil.example/"})
    assert evil["Location"] == f"/goals/{mine.uid}/"


def test_check_in_errors_are_shown_in_the_form(org, mine, browse):
    client = browse(org.employee)
    response = client.post(f"/goals/{mine.uid}/check-in/", {"next": "/goals/"}, headers=HTMX)
    assert response.status_code == 200
    assert "A check-in needs progress, confidence or a comment." in text(response)
    assert '<details class="check-in" open>' in text(response)
    response = client.post(f"/goals/{mine.uid}/check-in/", {"progress": "abc", "next": "/goals/"})
    assert response.status_code == 422 and "Enter a number." in text(response)
    assert not CheckIn.objects.exists()


def test_a_contributor_checks_in_a_peer_reading_cannot(org, mine, browse):
    kr = mine.key_results.get(title="Automate releases")
    response = browse(org.peer).post(f"/goals/{mine.uid}/check-in/", {"key_result": str(kr.uid), "progress": "10"})
    assert response.status_code == 302  # Pat contributes
    other = services.do_create_objective(title="Solo", subject=org.people["employee"].subject,
                                         period=mine.period, acting_user=org.employee)
    page = text(browse(org.peer).get(f"/goals/{other.uid}/"))
    assert "Solo" in page and 'class="check-in-form"' not in page and "Add a key result" not in page
    denied = browse(org.peer).post(f"/goals/{other.uid}/check-in/", {"comment": "hi"})
    assert denied.status_code == 403
    assert AuditEvent.objects.filter(action="permission_denied").exists()


def test_objective_pages_are_404_out_of_sight(org, mine, browse):
    client = browse(org.outsider)
    assert client.get(f"/goals/{mine.uid}/").status_code == 404
    assert client.post(f"/goals/{mine.uid}/check-in/", {"comment": "x"}).status_code == 404
    assert client.post(f"/goals/{mine.uid}/key-results/", {"title": "x"}).status_code == 404
    assert client.get("/goals/?period=nope").status_code == 404


def test_objective_page_shows_alignment_both_ways(org, mine, browse):
    child = services.do_create_objective(title="Faster CI", subject=org.people["employee"].subject,
                                         period=mine.period, parent=mine, rolls_up=True, acting_user=org.employee)
    team = services.do_create_objective(title="Team goal", subject=org.units.platform.subject, period=mine.period,
                                        acting_user=org.admin)
    services.do_update_objective(mine, parent=team, acting_user=org.admin)
    page = text(browse(org.manager).get(f"/goals/{mine.uid}/"))
    assert "Aligned to" in page and "Team goal" in page and "Faster CI" in page
    assert f'href="/goals/{child.uid}/"' in page


def test_a_check_in_naming_a_foreign_key_result_is_refused_in_the_form(org, mine, browse):
    other = services.do_create_objective(title="Other", subject=org.people["employee"].subject,
                                         period=mine.period, acting_user=org.employee)
    foreign = services.do_create_key_result(objective=other, title="Elsewhere", acting_user=org.employee)
    client = browse(org.employee)
    response = client.post(f"/goals/{mine.uid}/check-in/", {"key_result": str(foreign.uid), "progress": "5"},
                           headers=HTMX)
    assert "That key result is not part of this objective." in text(response)
    response = client.post(f"/goals/{mine.uid}/check-in/", {"key_result": "garbage", "comment": "x"}, headers=HTMX)
    assert "Key result: Enter a valid UUID." in text(response)
    assert not CheckIn.objects.exists()
