"""Goals and scores in a real browser: plan an objective with two key results, check in, watch the
status and the roll-up change in place; the measure page's plotly chart under the Content-Security-Policy.

Every test also checks that the browser saw no console error (a Content-Security-Policy
violation is one) and no uncaught JavaScript exception. With SCREENSHOT_DIR set, the pages
are also saved as screenshots there (for a look at the layout).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from northstar.goals import services as goals
from northstar.goals.models import KeyResult, Perspective
from northstar.measures.ingest import ObservationIn, do_ingest
from northstar.measures.models import Measure
from northstar.measures.services import do_create_measure, do_set_target
from northstar.scoring.evaluate import evaluate
from tests.scoring.test_queries import build_plan

pytestmark = pytest.mark.browser

PERSPECTIVES = [("financial", "Financial"), ("customer", "Customer"), ("internal-process", "Internal process"),
                ("learning-growth", "Learning and growth")]


@pytest.fixture(autouse=True)
def perspectives(transactional_db):
    """The migration's default perspectives (a live-server test starts from a flushed database)."""
    for order, (key, name) in enumerate(PERSPECTIVES):
        Perspective.objects.get_or_create(key=key, defaults={"name": name, "order": order})


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret would inject a <style>, which the CSP (rightly) reports.
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, caret="initial")


@pytest.fixture
def cycle(org):
    """A period around today, so the pace (elapsed fraction f) is about one half whatever the date."""
    today = timezone.localdate()
    return goals.do_create_period(key="cycle", name="This cycle", start=today - timedelta(days=50),
                                  end=today + timedelta(days=50), acting_user=org.hr)


def test_plan_an_objective_check_in_and_see_status_and_roll_up_change(org, cycle, logged_in_page,
                                                                      console_problems):
    page = logged_in_page("employee")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My goals").click()
    expect(page.get_by_role("heading", name="My goals", level=1)).to_be_visible()
    expect(page.get_by_text("You have no objectives yet.")).to_be_visible()
    page.get_by_role("link", name="New objective").click()

    # The objective: for me (the default), in this cycle.
    expect(page.get_by_label("For")).to_have_value(str(org.people["employee"].subject.uid))
    page.get_by_label("Title").fill("Launch the mobile app")
    page.get_by_label("Period").select_option("cycle")
    page.get_by_label("Perspective").select_option(label="Customer")
    page.get_by_role("button", name="Create objective").click()
    expect(page.get_by_role("heading", name="Launch the mobile app", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Now add its key results")

    # Two one-off key results, from 0 to 100 %.
    for title in ("Beta with 100 testers", "Crash-free sessions"):
        form = page.locator("#add-key-result")
        form.get_by_label("Key result", exact=True).fill(title)
        form.get_by_label("Target", exact=True).fill("100")
        form.get_by_role("button", name="Add key result").click()
        expect(page.get_by_role("status")).to_contain_text(f"Key result “{title}” added.")
    card = page.locator(".objective-card")
    beta = card.locator(".kr-item", has_text="Beta with 100 testers")
    crash = card.locator(".kr-item", has_text="Crash-free sessions")
    score = card.locator(".objective-score")
    expect(beta.locator(".chip")).to_have_text("No data")
    expect(score).to_contain_text("No data yet")
    page.evaluate("window.northstarTestMarker = 'same document'")

    # 60 of 100 at about half time: ahead of pace, so on track; the objective's progress is its only counted KR.
    beta.get_by_text("Check in").click()
    beta.get_by_label("Progress on Beta with 100 testers").fill("60")
    beta.get_by_label("Confidence in Beta with 100 testers").select_option("8")
    beta.get_by_label("Comment on Beta with 100 testers").fill("Invites sent")
    screenshot(page, "check_in_form")
    beta.get_by_role("button", name="Save check-in").click()
    expect(card.get_by_role("status")).to_contain_text("Check-in saved")
    expect(beta.locator(".kr-status .chip")).to_have_text("On track")
    expect(beta.locator(".progress-value")).to_have_text("60%")
    expect(score.locator(".progress-value")).to_have_text("60%")
    expect(score.locator(".chip").first).to_have_text("On track")
    expect(card).to_contain_text("Invites sent")

    # 20 of 100 on the other: off track, and the roll-up falls to 40 %, off track.
    crash.get_by_text("Check in").click()
    crash.get_by_label("Progress on Crash-free sessions").fill("20")
    crash.get_by_role("button", name="Save check-in").click()
    expect(crash.locator(".kr-status .chip")).to_have_text("Off track")
    expect(score.locator(".progress-value")).to_have_text("40%")
    expect(score.locator(".chip").first).to_have_text("Off track")
    assert page.evaluate("window.northstarTestMarker") == "same document"  # htmx swapped the card in place

    # My goals shows the same, grouped under the period.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My goals").click()
    group = page.get_by_role("region", name=re.compile("This cycle"))
    expect(group.get_by_role("link", name="Launch the mobile app")).to_be_visible()
    expect(group.locator(".objective-score .progress-value")).to_have_text("40%")
    screenshot(page, "my_goals_after_check_ins")
    assert console_problems == []


def test_check_in_errors_show_in_the_form(org, cycle, logged_in_page, console_problems):
    objective = goals.do_create_objective(title="Write the guide", subject=org.people["employee"].subject,
                                          period=cycle, owner=org.people["employee"], acting_user=org.employee)
    goals.do_create_key_result(objective=objective, title="Chapters written", target_value=10, unit="chapters",
                               acting_user=org.employee)
    page = logged_in_page("employee")
    page.goto("/goals/")
    card = page.locator(".objective-card")
    card.get_by_text("Check in on the objective").click()
    card.get_by_role("button", name="Save check-in").last.click()
    expect(card.get_by_role("alert")).to_contain_text("A check-in needs progress, confidence or a comment.")
    assert console_problems == []


def rich_plan(org):
    """build_plan, plus more objectives and two weeks of daily scores: for screenshots that look like real use."""
    plan = build_plan(org, evaluate_days=1)
    perspective = {p.key: p for p in Perspective.objects.all()}
    platform = org.units.platform.subject
    availability = do_create_measure(key="availability", name="Checkout availability", unit="%", subject=platform,
                                     aggregation="mean", acting_user=org.admin)
    do_set_target(availability, plan.cycle, target=99.9, baseline=99.0, acting_user=org.admin)
    nps = do_create_measure(key="nps", name="Net promoter score", unit="points", subject=org.units.acme.subject,
                            acting_user=org.admin)
    do_set_target(nps, plan.cycle, target=45, baseline=30, acting_user=org.admin)
    customers = goals.do_create_objective(key="customers", title="Customers recommend us",
                                          subject=org.units.acme.subject, period=plan.cycle,
                                          perspective=perspective["customer"], acting_user=org.admin)
    goals.do_create_key_result(objective=customers, title="NPS of 45", measure=nps, acting_user=org.admin)
    uptime = goals.do_create_objective(key="uptime", title="Checkout never goes down", subject=platform,
                                       period=plan.cycle, perspective=perspective["customer"], parent=customers,
                                       rolls_up=True, owner=org.people["service_owner"], acting_user=org.admin)
    goals.do_create_key_result(objective=uptime, title="99.9 % availability", measure=availability,
                               acting_user=org.admin)
    learn = goals.do_create_objective(key="learn", title="Grow the team's skills", subject=platform,
                                      period=plan.cycle, perspective=perspective["learning-growth"],
                                      owner=org.people["manager"], acting_user=org.admin)
    goals.do_create_key_result(objective=learn, title="Everyone pairs weekly", target_value=6, unit="people",
                               acting_user=org.admin)
    queue = do_create_measure(key="queue", name="Support queue wait", unit="min", subject=platform,
                              aggregation="mean", polarity="decrease", acting_user=org.admin)
    do_set_target(queue, plan.cycle, target=30, baseline=60, acting_user=org.admin)
    now = timezone.now()
    items = [ObservationIn("queue", now - timedelta(minutes=50 * i), 25 + (i % 13) * 3 + (i % 97) / 10)
             for i in range(1400)]
    items += [ObservationIn("availability", now - timedelta(hours=6 * i), 99.95 - (i % 7) * 0.08) for i in range(220)]
    items += [ObservationIn("nps", now - timedelta(days=d), v) for d, v in ((45, 31), (30, 35), (15, 38), (2, 41))]
    items += [ObservationIn("deploys", now - timedelta(days=d), 3) for d in range(1, 30, 2)]
    items += [ObservationIn("kr-" + KeyResult.objects.get(objective=learn).key, now - timedelta(days=3), 4)]
    do_ingest(items, source="api", acting_user=org.admin)
    for back in range(14, -1, -1):
        evaluate(as_of=now - timedelta(days=back), period_keys=["cycle"])
    return plan


def test_measure_chart_draws_under_the_content_security_policy(org, logged_in_page, console_problems):
    plan = rich_plan(org)
    page = logged_in_page("employee")
    page.goto(f"/measures/{plan.deploys.uid}/?period=cycle")
    expect(page.get_by_role("heading", name="Deploys", level=1)).to_be_visible()
    chart = page.locator(".chart")
    expect(chart.locator("svg.main-svg").first).to_be_visible()  # plotly drew it
    expect(chart.locator(".legendtext", has_text="Forecast")).to_have_count(1)
    expect(chart.locator(".shapelayer path").first).to_be_attached()  # the threshold bands
    screenshot(page, "measure_deploys")
    page.goto("/measures/" + str(KeyResult.objects.get(key="kr-latency").measure.uid) + "/?period=cycle")
    expect(page.locator(".chart svg.main-svg").first).to_be_visible()
    screenshot(page, "measure_latency")
    page.goto("/measures/" + str(KeyResult.objects.get(title="99.9 % availability").measure.uid) + "/?period=cycle")
    expect(page.locator(".chart svg.main-svg").first).to_be_visible()
    screenshot(page, "measure_availability")
    page.goto(f"/measures/{Measure.objects.get(key='queue').uid}/?period=cycle")
    expect(page.get_by_text("shown as")).to_be_visible()  # downsampled into time buckets
    expect(page.locator(".chart svg.main-svg").first).to_be_visible()
    screenshot(page, "measure_downsampled")
    assert console_problems == []


def test_score_pages_render_without_console_errors(org, logged_in_page, console_problems):
    plan = rich_plan(org)
    page = logged_in_page("manager")
    page.goto(f"/scorecards/{org.units.platform.subject.uid}/?period=cycle")
    expect(page.get_by_role("heading", name=re.compile("Scorecard: Platform"), level=1)).to_be_visible()
    expect(page.locator(".spark polyline").first).to_be_attached()
    screenshot(page, "scorecard_platform")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alignment").click()
    expect(page.get_by_role("link", name="Ship faster")).to_be_visible()
    screenshot(page, "alignment")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Acme", level=1)).to_be_visible()
    page.get_by_role("link", name="Engineering").click()
    expect(page.get_by_role("heading", name="Engineering", level=1)).to_be_visible()
    screenshot(page, "overview_engineering")
    page.goto("/overview/?period=cycle")
    screenshot(page, "overview")
    page.goto(f"/goals/{plan.mine.uid}/")
    screenshot(page, "objective")
    page.goto("/goals/new/")
    screenshot(page, "objective_new")
    assert console_problems == []
