"""Plan as code: northstar.goals.plan (the format, the diff, idempotence, errors with lines)."""

import re
from datetime import date
from pathlib import Path

import pytest

from northstar.audit.models import AuditEvent
from northstar.directory.models import OrgUnit, Process, Service
from northstar.goals.models import KeyResult, Objective, Period
from northstar.goals.plan import FieldChange, do_apply_plan, plan_file
from northstar.goals.services import do_create_fiscal_year, do_create_objective
from northstar.measures.models import Measure, Target

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plan-as-code.md"

PLAN = """\
apiVersion: northstar/v1
periods:
  - fiscalYear: 2027
  - key: fy2027-h1
    name: FY2027 first half
    kind: custom
    start: 2027-01-01
    end: 2027-07-01
subjects:
  - kind: service
    key: checkout
    name: Checkout
    ownerTeam: web
    tier: 1
measures:
  - key: deploys
    name: Deploys
    subject: {orgUnit: platform}
    unit: deploys
    polarity: increase
    aggregation: sum
    tracking: linear
    metricSelector: 'deploys_total{team="platform"}'
    targets:
      - period: fy2027
        target: 1200
        baseline: 0
        onTrack: 1.0
        atRisk: 0.8
        cap: 1.2
  - key: latency
    name: p95 latency
    subject: {service: checkout}
    unit: ms
    polarity: range
    aggregation: last
    targets:
      - period: fy2027
        lower: 100
        upper: 250
objectives:
  - key: company-reliability
    title: Nobody has to think about our systems
    subject: {orgUnit: acme}
    period: fy2027
    perspective: customer
  - key: platform-reliability
    title: Make the platform boringly reliable
    subject: {orgUnit: platform}
    period: fy2027
    perspective: internal-process
    parent: company-reliability
    rollsUp: true
    weight: 2
    owner: E003
    statusRule: worst
    keyResults:
      - key: platform-deploys
        title: Ship 1,200 deploys
        measure: deploys
        weight: 1
      - key: postmortems
        title: Every incident gets a postmortem
        manual: {start: 0, target: 100, unit: "%"}
"""


def line_of(text: str, fragment: str) -> int:
    """The 1-based line where `fragment` (which may span lines) first starts."""
    assert fragment in text, f"{fragment!r} is not in the text"
    return text[: text.index(fragment)].count("\n") + 1


def apply(text=PLAN, user=None, **kwargs):
    return do_apply_plan(text, "plan.yaml", acting_user=user, **kwargs)


def docs_example() -> str:
    return re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.S).group(1)


def counts_of_everything() -> tuple:
    return (Period.objects.count(), Service.objects.count(), Measure.objects.count(), Target.objects.count(),
            Objective.objects.count(), KeyResult.objects.count(), AuditEvent.objects.count())


# -- applying --------------------------------------------------------------------------------


def test_full_plan_creates_everything(org):
    result = apply(user=org.admin)
    assert result.ok, result.errors
    assert result.applied and not result.dry_run
    assert result.counts == {"create": 17 + 1 + 1 + 2 + 2 + 2 + 2, "update": 0, "unchanged": 0, "keep": 0}

    assert Period.objects.filter(key__startswith="fy2027").count() == 6  # the year, 4 quarters, the half
    half = Period.objects.get(key="fy2027-h1")
    assert (half.name, half.kind, half.start, half.end) == ("FY2027 first half", "custom", date(2027, 1, 1),
                                                          date(2027, 7, 1))
    checkout = Service.objects.get(key="checkout")
    assert (checkout.name, checkout.tier, checkout.owner_team) == ("Checkout", 1, org.units.web)

    deploys = Measure.objects.get(key="deploys")
    assert deploys.subject == org.units.platform.subject
    assert (deploys.unit, deploys.polarity, deploys.aggregation, deploys.tracking, deploys.metric_selector) == (
        "deploys", "increase", "sum", "linear", 'deploys_total{team="platform"}')
    target = deploys.targets.get(period__key="fy2027")
    assert (target.target, target.baseline, target.on_track, target.at_risk, target.cap) == (1200, 0, 1, 0.8, 1.2)
    latency = Target.objects.get(measure__key="latency")
    assert (latency.lower, latency.upper, latency.target) == (100, 250, None)
    assert latency.measure.subject == checkout.subject

    company = Objective.objects.get(key="company-reliability")
    objective = Objective.objects.get(key="platform-reliability")
    assert objective.title == "Make the platform boringly reliable"
    assert objective.subject == org.units.platform.subject
    assert objective.period.key == "fy2027" and objective.perspective.key == "internal-process"
    assert objective.parent == company and objective.rolls_up is True
    assert objective.weight == 2 and objective.owner == org.people["manager"] and objective.status_rule == "worst"
    assert company.parent is None and company.rolls_up is False and company.perspective.key == "customer"

    by_measure, manual = objective.key_results.order_by("order")
    assert (by_measure.key, by_measure.measure, by_measure.weight, by_measure.order) == (
        "platform-deploys", deploys, 1, 0)
    assert manual.key == "postmortems" and manual.order == 1
    assert manual.measure.is_manual and manual.measure.key == "kr-postmortems"
    assert manual.measure.unit == "%" and manual.measure.subject == objective.subject
    manual_target = manual.measure.targets.get()
    assert (manual_target.period, manual_target.baseline, manual_target.target) == (objective.period, 0, 100)


def test_every_write_is_audited_as_the_acting_user(org):
    before = AuditEvent.objects.count()
    result = apply(user=org.admin)
    events = AuditEvent.objects.filter(seq__gt=before)
    # one event per object written, plus the manual key result's own measure and target
    assert events.count() == result.counts["create"] + 2
    assert set(events.values_list("actor", flat=True)) == {"admin"}
    assert events.filter(action="create", object_type="goals.objective", object_repr__startswith="Make").exists()


def test_applying_the_same_file_twice_changes_nothing_and_records_nothing(org):
    first = apply(user=org.admin)
    before = counts_of_everything()
    second = apply(user=org.admin)
    assert second.ok and second.changes == []
    assert not second.applied
    assert second.counts == {"create": 0, "update": 0, "unchanged": first.counts["create"], "keep": 0}
    assert counts_of_everything() == before


def test_changing_one_field_gives_one_update_and_one_audit_event(org):
    apply(user=org.admin)
    before = AuditEvent.objects.count()
    result = apply(PLAN.replace("weight: 2", "weight: 3"), user=org.admin)
    [change] = result.changes
    assert (change.action, change.kind, change.key) == ("update", "objective", "platform-reliability")
    assert change.changes == [FieldChange("weight", 2, 3)]
    assert change.line == line_of(PLAN, "- key: platform-reliability")
    assert Objective.objects.get(key="platform-reliability").weight == 3
    [event] = AuditEvent.objects.filter(seq__gt=before)
    assert event.action == "update" and event.before["weight"] == 2 and event.after["weight"] == 3


def test_target_and_manual_key_result_changes_go_through_set_target(org):
    apply(user=org.admin)
    text = PLAN.replace("target: 1200", "target: 1300").replace("target: 100, unit", "target: 90, unit")
    result = apply(text, user=org.admin)
    assert [(c.kind, c.key, c.changes) for c in result.changes] == [
        ("target", "deploys@fy2027", [FieldChange("target", 1200, 1300)]),
        ("key_result", "postmortems", [FieldChange("manual.target", 100, 90)]),
    ]
    assert Target.objects.get(measure__key="deploys").target == 1300
    assert Target.objects.get(measure__key="kr-postmortems").target == 90
    assert apply(text, user=org.admin).changes == []


def test_dry_run_writes_nothing_but_returns_the_diff(org):
    before = counts_of_everything()
    result = apply(user=org.admin, dry_run=True)
    assert result.ok and result.dry_run and not result.applied
    assert result.counts["create"] == 27
    first = result.changes[0]
    assert (first.action, first.kind, first.key) == ("create", "period", "fy2027")
    measure = next(c for c in result.changes if c.key == "deploys")
    assert FieldChange("subject", None, "orgUnit:platform") in measure.changes
    assert counts_of_everything() == before


def test_plan_file_only_computes_the_diff(org):
    apply(user=org.admin)
    before = counts_of_everything()
    result = plan_file(PLAN.replace("title: Ship 1,200 deploys", "title: Ship 1,300 deploys"), "plan.yaml",
                       acting_user=org.admin)
    assert [(c.action, c.key, c.changes) for c in result.changes] == [
        ("update", "platform-deploys", [FieldChange("title", "Ship 1,200 deploys", "Ship 1,300 deploys")])]
    assert counts_of_everything() == before


def test_changes_come_in_dependency_order(org):
    # Children before parents and key results before their measures in the file.
    text = """\
apiVersion: northstar/v1
objectives:
  - key: child
    title: Child
    subject: {orgUnit: platform}
    period: fy2027
    parent: parent
    keyResults:
      - key: child-deploys
        title: Deploys
        measure: deploys
  - key: parent
    title: Parent
    subject: {orgUnit: eng}
    period: fy2027
measures:
  - key: deploys
    name: Deploys
    subject: {orgUnit: platform}
    targets: [{period: fy2027, target: 10}]
periods:
  - fiscalYear: 2027
"""
    result = apply(text, user=org.admin)
    assert result.ok, result.errors
    order = [(c.kind, c.key) for c in result.changes if c.kind != "period"]
    assert order == [("measure", "deploys"), ("target", "deploys@fy2027"), ("objective", "parent"),
                     ("objective", "child"), ("key_result", "child-deploys")]
    assert Objective.objects.get(key="child").parent.key == "parent"


def test_left_out_fields_are_kept_and_null_clears(org):
    apply(user=org.admin)
    objective = Objective.objects.get(key="platform-reliability")
    objective.description = "Written in the UI"
    objective.save()
    assert apply(user=org.admin).changes == []  # the file says nothing about the description
    result = apply(PLAN.replace("parent: company-reliability", "parent: null"), user=org.admin)
    [change] = result.changes
    assert change.changes == [FieldChange("parent", "company-reliability", None)]
    objective.refresh_from_db()
    assert objective.parent is None and objective.description == "Written in the UI"


def test_objects_of_the_same_subjects_not_in_the_file_are_listed_as_kept(org):
    apply(user=org.admin)
    fy2027 = Period.objects.get(key="fy2027")
    do_create_objective(key="platform-hiring", title="Hire two SREs", subject=org.units.platform.subject,
                        period=fy2027, acting_user=org.admin)
    do_create_objective(key="web-speed", title="Fast web", subject=org.units.web.subject, period=fy2027,
                        acting_user=org.admin)
    result = apply(PLAN.replace("""      - key: postmortems
        title: Every incident gets a postmortem
        manual: {start: 0, target: 100, unit: "%"}
""", ""), user=org.admin)
    assert result.changes == []
    assert [(c.action, c.kind, c.key, c.line) for c in result.kept] == [
        ("keep", "objective", "platform-hiring", None), ("keep", "key_result", "postmortems", None)]
    assert Objective.objects.filter(key="platform-hiring").exists()
    assert KeyResult.objects.filter(key="postmortems").exists()


def test_multi_document_file(org):
    text = """\
apiVersion: northstar/v1
periods:
  - fiscalYear: 2027
---
# the team's document
apiVersion: northstar/v1
measures:
  - key: deploys
    name: Deploys
    subject: {orgUnit: platform}
    targets: [{period: fy2027, target: 10}]
---
apiVersion: northstar/v1
objectives:
  - key: platform-reliability
    title: Reliable
    subject: {orgUnit: platform}
    period: fy2027
    keyResults: [{key: platform-deploys, title: Deploys, measure: deploys}]
  - key: platform-reliability
    title: Declared twice, in another document
    subject: {orgUnit: platform}
    period: fy2027
"""
    result = apply(text, user=org.admin, dry_run=True)
    assert [str(e) for e in result.errors] == [
        f"plan.yaml:{line_of(text, 'title: Declared twice') - 1}: duplicate objective 'platform-reliability': "
        f"already declared on line {line_of(text, '- key: platform-reliability')}"]
    result = apply(text.split("  - key: platform-reliability\n    title: Declared")[0], user=org.admin)
    assert result.ok, result.errors
    assert KeyResult.objects.get(key="platform-deploys").measure.key == "deploys"
    assert Target.objects.get(measure__key="deploys", period__key="fy2027").target == 10


def test_the_example_in_the_docs_applies(org):
    text = docs_example()
    result = apply(text, user=org.admin)
    assert result.ok, [str(e) for e in result.errors]
    assert result.counts["create"] > 50
    erin = Objective.objects.get(key="erin-fy2027-growth")
    assert erin.subject == org.people["employee"].subject and erin.rolls_up is False
    chain = [erin.parent, erin.parent.parent, erin.parent.parent.parent]
    assert [o.key for o in chain] == ["platform-fy2027-delivery", "eng-fy2027-reliability", "acme-fy2027-growth"]
    assert all(o.rolls_up for o in chain[:2]) and chain[2].parent is None
    assert [o.subject.kind for o in (erin, *chain)] == ["person", "org_unit", "org_unit", "org_unit"]
    assert KeyResult.objects.get(key="erin-fy2027-cka").measure.is_manual
    assert Measure.objects.get(key="checkout-conversion").subject.service.key == "checkout"
    assert Target.objects.get(measure__key="platform-wip").upper == 3
    assert {o.perspective.key for o in Objective.objects.all()} == {
        "financial", "customer", "internal-process", "learning-growth"}
    assert apply(text, user=org.admin).changes == []


def test_subjects_create_org_units_services_and_processes(org):
    text = """\
apiVersion: northstar/v1
subjects:
  - kind: process
    key: incident-response
    name: Incident response
    ownerTeam: sre
    description: From page to postmortem.
  - kind: orgUnit
    key: sre
    name: SRE
    unitKind: team
    parent: eng
    manager: E003
"""
    result = apply(text, user=org.admin)
    assert [(c.kind, c.key) for c in result.changes] == [("org_unit", "sre"), ("process", "incident-response")]
    sre = OrgUnit.objects.get(key="sre")
    assert (sre.name, sre.kind, sre.parent, sre.manager) == ("SRE", "team", org.units.eng, org.people["manager"])
    assert sre.subject.kind == "org_unit"
    process = Process.objects.get(key="incident-response")
    assert process.owner_team == sre and process.description == "From page to postmortem."
    assert apply(text, user=org.admin).changes == []
    [change] = apply(text.replace("unitKind: team", "unitKind: department"), user=org.admin).changes
    assert change.changes == [FieldChange("unitKind", "team", "department")]


def test_org_unit_parent_cycles_are_found_in_the_file_and_through_the_database(org):
    text = """\
apiVersion: northstar/v1
subjects:
  - {kind: orgUnit, key: x, name: X, parent: y}
  - {kind: orgUnit, key: y, name: Y, parent: x}
  - {kind: orgUnit, key: acme, name: Acme, unitKind: company, parent: eng}
"""
    assert [str(e) for e in apply(text, user=org.admin).errors] == [
        "plan.yaml:3: org unit parents make a cycle: x -> y -> x",
        "plan.yaml:5: org unit parents make a cycle: acme -> eng -> acme",
    ]


# -- errors, each with its line --------------------------------------------------------------


def _replace(old: str, new: str) -> str:
    assert PLAN.count(old) == 1, old
    return PLAN.replace(old, new)


ERRORS = [
    pytest.param("period: fy2027\n    perspective: internal", "period: fy2031\n    perspective: internal",
                 "period: fy2031", "objective 'platform-reliability': unknown period 'fy2031'", id="period"),
    pytest.param("{orgUnit: platform}\n    unit", "{orgUnit: platfrom}\n    unit", "platfrom",
                 "measure 'deploys': unknown subject org unit 'platfrom'", id="subject"),
    pytest.param("measure: deploys", "measure: deploy", "measure: deploy",
                 "key result 'platform-deploys': unknown measure 'deploy'", id="measure"),
    pytest.param("parent: company-reliability", "parent: company-reliabilty", "parent:",
                 "objective 'platform-reliability': unknown parent objective 'company-reliabilty'", id="parent"),
    pytest.param("perspective: internal-process", "perspective: internal", "perspective: internal",
                 "objective 'platform-reliability': unknown perspective 'internal' (known: financial, customer, "
                 "internal-process, learning-growth)", id="perspective"),
    pytest.param("owner: E003", "owner: E999", "owner:",
                 "objective 'platform-reliability': unknown owner 'E999' (no person with this employee id)",
                 id="owner"),
    pytest.param("ownerTeam: web", "ownerTeam: webb", "ownerTeam:", "service 'checkout': unknown owner team 'webb'",
                 id="owner-team"),
    pytest.param("polarity: increase", "polarity: up", "polarity: up",
                 "measure 'deploys': 'polarity' must be one of increase, decrease, range, not 'up'", id="enum"),
    pytest.param("weight: 2", "weight: two", "weight: two",
                 "objective 'platform-reliability': 'weight' must be a number, not 'two'", id="number"),
    pytest.param("target: 1200", "target: 1,200", "target: 1,200",
                 "measure 'deploys': target for 'fy2027': 'target' must be a number, not '1,200'",
                 id="thousands-separator"),
    pytest.param("rollsUp: true", "rollsUp: sometimes", "rollsUp:",
                 "objective 'platform-reliability': 'rollsUp' must be true or false, not 'sometimes'", id="boolean"),
    pytest.param("end: 2027-07-01", "end: 2027-13-01", "end:",
                 "period 'fy2027-h1': 'end' must be a date (YYYY-MM-DD), not '2027-13-01'", id="date"),
    pytest.param("end: 2027-07-01", "end: 2026-07-01", "end:",
                 "period 'fy2027-h1': 'end' (2026-07-01) must be after 'start' (2027-01-01); it is the first day "
                 "after the period", id="end-before-start"),
    pytest.param("    unit: deploys", "    unitt: deploys", "unitt",
                 "measure 'deploys': unknown field 'unitt' (did you mean 'unit'?)", id="unknown-field"),
    pytest.param("    title: Make the platform boringly reliable\n", "", "- key: platform-reliability",
                 "objective 'platform-reliability': 'title' is required", id="missing-field"),
    pytest.param("name: Deploys", "name: ", "name: \n", "measure 'deploys': 'name' must not be empty", id="empty"),
    pytest.param("key: latency", "key: deploys", "key: deploys\n    name: p95",
                 "duplicate measure 'deploys': already declared on line 16", id="duplicate-key"),
    pytest.param("key: postmortems", "key: platform-deploys", "- key: platform-deploys\n        title: Every",
                 "duplicate key result 'platform-deploys': already declared on line ", id="duplicate-kr"),
    pytest.param("      - period: fy2027\n        lower: 100\n        upper: 250\n",
                 "      - period: fy2027\n        target: 200\n", "- period: fy2027\n        target: 200",
                 "measure 'latency': target for 'fy2027': lower: A range measure needs a lower bound.",
                 id="range-without-bounds"),
    pytest.param("cap: 1.2", "cap: 2.5", "cap: 2.5",
                 "measure 'deploys': target for 'fy2027': cap: The cap is between 0 and 2.", id="cap"),
    pytest.param("atRisk: 0.8", "atRisk: 1.1", "atRisk: 1.1",
                 "measure 'deploys': target for 'fy2027': atRisk: The at-risk threshold is above the on-track "
                 "threshold.", id="thresholds"),
    pytest.param("tier: 1", "tier: 7", "tier: 7", "service 'checkout': 'tier' must be one of 0, 1, 2, 3, not 7",
                 id="tier"),
    pytest.param("metricSelector: 'deploys_total{team=\"platform\"}'", "metricSelector: 'deploys total'",
                 "metricSelector:", "measure 'deploys': 'metricSelector' ", id="selector"),
    pytest.param('manual: {start: 0, target: 100, unit: "%"}', "weight: 1", "key: postmortems",
                 "key result 'postmortems': give either 'measure' (the key of a measure) or 'manual'",
                 id="kr-without-measure"),
    pytest.param("  - kind: service", "  - kind: person", "kind: person",
                 "subject: people are not declared in a plan", id="person-subject"),
    pytest.param("apiVersion: northstar/v1", "apiVersion: northstar/v2", "apiVersion",
                 "unsupported apiVersion 'northstar/v2': this version of Northstar reads northstar/v1",
                 id="api-version"),
    pytest.param("measures:", "measure:", "measure:", "the plan: unknown field 'measure' (did you mean "
                 "'measures'?)", id="unknown-section"),
]


@pytest.mark.parametrize(("old", "new", "where", "message"), ERRORS)
def test_errors_name_their_line(org, old, new, where, message):
    text = _replace(old, new)
    before = counts_of_everything()
    result = apply(text, user=org.admin)
    assert not result.ok and not result.applied and result.changes == []
    lines = [e for e in result.errors if e.message.startswith(message)]
    assert lines, [str(e) for e in result.errors]
    assert lines[0].line == line_of(text, where), [str(e) for e in result.errors]
    assert str(lines[0]).startswith(f"plan.yaml:{lines[0].line}: {message}")
    assert counts_of_everything() == before


def test_all_errors_are_reported_at_once_in_line_order(org):
    text = PLAN.replace("polarity: increase", "polarity: up").replace("owner: E003", "owner: E999")
    result = apply(text, user=org.admin)
    assert [e.line for e in result.errors] == [line_of(text, "polarity: up"), line_of(text, "owner: E999")]


def test_a_parent_cycle_names_the_objectives_in_it(org):
    text = """\
apiVersion: northstar/v1
periods: [{fiscalYear: 2027}]
objectives:
  - key: a
    title: A
    subject: {orgUnit: platform}
    period: fy2027
    parent: b
  - key: b
    title: B
    subject: {orgUnit: platform}
    period: fy2027
    parent: a
  - key: c
    title: C, under the cycle but not in it
    subject: {orgUnit: platform}
    period: fy2027
    parent: a
"""
    result = apply(text, user=org.admin)
    assert [str(e) for e in result.errors] == ["plan.yaml:8: objective parents make a cycle: a -> b -> a"]


def test_a_cycle_through_the_database_is_found(org):
    apply(user=org.admin)
    text = PLAN.replace("""    perspective: customer
""", """    perspective: customer
    parent: platform-reliability
""")
    result = apply(text, user=org.admin)
    assert [str(e) for e in result.errors] == [
        f"plan.yaml:{line_of(text, 'parent: platform-reliability')}: objective parents make a cycle: "
        "company-reliability -> platform-reliability -> company-reliability"]


def test_an_objective_cannot_be_its_own_parent(org):
    result = apply(PLAN.replace("parent: company-reliability", "parent: platform-reliability"), user=org.admin)
    assert [e.message for e in result.errors] == [
        "objective parents make a cycle: platform-reliability -> platform-reliability"]


def test_malformed_yaml_names_the_line(org):
    text = PLAN.replace("    unit: deploys\n", "    unit: deploys\n  polarity: [increase\n")
    result = apply(text, user=org.admin)
    [error] = result.errors
    assert error.line == line_of(text, "polarity: [increase")
    assert error.message.startswith("invalid YAML: ")


def test_a_key_given_twice_in_one_mapping_is_an_error(org):
    text = PLAN.replace("    unit: deploys\n", "    unit: deploys\n    unit: builds\n")
    result = apply(text, user=org.admin)
    assert [str(e) for e in result.errors] == [
        f"plan.yaml:{line_of(text, 'unit: builds')}: measure 'deploys': 'unit' is given twice"]


def test_not_utf8_and_empty_files(org):
    result = apply(PLAN.encode() + b"# caf\xe9\n", user=org.admin)
    assert [str(e) for e in result.errors] == [
        f"plan.yaml:{PLAN.count(chr(10)) + 1}: the file is not UTF-8 text (byte 0xe9)"]
    assert [e.message for e in apply("", user=org.admin).errors] == [
        "the file declares nothing: start it with 'apiVersion: northstar/v1'"]
    assert [e.message for e in apply("- a list\n", user=org.admin).errors] == [
        "a plan document is a mapping starting with 'apiVersion: northstar/v1', not a list"]


def test_a_key_result_by_measure_cannot_become_manual(org):
    apply(user=org.admin)
    text = PLAN.replace("        measure: deploys\n", "        manual: {target: 10}\n")
    result = apply(text, user=org.admin)
    assert [e.message for e in result.errors] == [
        "key result 'platform-deploys': is measured by 'deploys' today and cannot become a manual key result; "
        "give the manual one a new key"]


# -- permissions and refusals by the services ------------------------------------------------


TEAM_PLAN = """\
apiVersion: northstar/v1
measures:
  - key: deploys
    name: Deploys
    subject: {orgUnit: platform}
    aggregation: sum
    targets: [{period: fy2027, target: 1200}]
objectives:
  - key: platform-reliability
    title: Reliable
    subject: {orgUnit: platform}
    period: fy2027
    keyResults:
      - key: platform-deploys
        title: Deploys
        measure: deploys
"""


@pytest.fixture
def fy2027(org):
    return do_create_fiscal_year(2027, acting_user=org.hr)


def test_the_team_manager_may_apply_the_team_plan(org, fy2027):
    # Morgan heads nothing by role, but manages the Platform team's people: make them its head.
    from northstar.directory.services import do_update_org_unit

    do_update_org_unit(org.units.platform, manager=org.people["manager"], acting_user=org.admin)
    result = do_apply_plan(TEAM_PLAN, "team.yaml", acting_user=org.manager)
    assert result.ok, [str(e) for e in result.errors]
    assert AuditEvent.objects.filter(action="create", actor="manager").count() == 4


def test_a_user_who_may_not_plan_for_the_subject_gets_the_line_and_nothing_is_written(org, fy2027):
    before = counts_of_everything()
    seq = AuditEvent.objects.order_by("seq").last().seq
    result = do_apply_plan(TEAM_PLAN, "team.yaml", acting_user=org.outsider)
    [error] = result.errors
    assert error.code == "forbidden"
    assert str(error) == "team.yaml:3: measure 'deploys': You may not plan measures for Org unit: Platform."
    assert not result.applied
    assert counts_of_everything()[:-1] == before[:-1]
    # Only the refusal is recorded.
    [event] = AuditEvent.objects.filter(seq__gt=seq)
    assert event.action == "permission_denied" and event.actor == "outsider"
    assert event.after["what"] == str(error)


def test_a_dry_run_finds_the_same_refusal(org, fy2027):
    result = do_apply_plan(TEAM_PLAN, "team.yaml", acting_user=org.outsider, dry_run=True)
    assert [e.code for e in result.errors] == ["forbidden"]
    assert not Measure.objects.filter(key="deploys").exists()


def test_a_refusal_after_other_writes_rolls_them_back(org, fy2027):
    # The measure on the outsider's own person is allowed, the objective on Platform is not.
    text = TEAM_PLAN.replace("{orgUnit: platform}\n    aggregation", "{person: E008}\n    aggregation")
    result = do_apply_plan(text, "team.yaml", acting_user=org.outsider)
    [error] = result.errors
    assert error.line == line_of(text, "- key: platform-reliability")
    assert error.message == "objective 'platform-reliability': You may not plan objectives for Org unit: Platform."
    assert not Measure.objects.filter(key="deploys").exists()
    assert not Target.objects.filter(measure__key="deploys").exists()


def test_a_conflict_in_a_service_is_reported_with_its_line(org, fy2027):
    # The one-off key result's own measure takes the key kr-<key>; the file took it first.
    text = TEAM_PLAN.replace("- key: deploys", "- key: kr-platform-deploys").replace(
        "measure: deploys", "manual: {target: 3}")
    result = do_apply_plan(text, "team.yaml", acting_user=org.admin)
    [error] = result.errors
    assert error.code == "conflict" and error.line == line_of(text, "- key: platform-deploys")
    assert error.message == "key result 'platform-deploys': A measure with key 'kr-platform-deploys' already exists."
    assert not Measure.objects.filter(key="kr-platform-deploys").exists()


def test_references_are_looked_up_among_what_the_user_may_see(org, fy2027):
    text = TEAM_PLAN.replace("    period: fy2027\n    keyResults",
                             "    period: fy2027\n    owner: E007\n    keyResults")
    result = do_apply_plan(text, "team.yaml", acting_user=org.employee, dry_run=True)
    assert [e.message for e in result.errors] == [
        "objective 'platform-reliability': unknown owner 'E007' (no person with this employee id)"]


def test_any_line_removed_gives_a_plan_or_errors_never_a_crash(org):
    lines = PLAN.splitlines(keepends=True)
    for number in range(len(lines)):
        text = "".join(lines[:number] + lines[number + 1:])
        result = plan_file(text, "plan.yaml", acting_user=org.admin)
        assert all(1 <= e.line <= len(lines) for e in result.errors), (number + 1, result.errors)
