"""Every write to the plan: periods, perspectives, objectives, key results and check-ins."""

import calendar
import secrets
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from northstar.audit.services import Action
from northstar.core.permissions import deny, require_role
from northstar.core.roles import Role, actor_for
from northstar.core.writes import create_object, update_object
from northstar.directory.models import Subject
from northstar.goals.models import CheckIn, KeyResult, Objective, Period, Perspective

PERIOD_FIELDS = {"key", "name", "kind", "start", "end"}
PERSPECTIVE_FIELDS = {"key", "name", "description", "order", "weight"}
OBJECTIVE_FIELDS = {"key", "title", "description", "subject", "period", "perspective", "parent", "rolls_up",
                    "weight", "owner", "status_rule", "on_track", "at_risk", "is_active"}
KEY_RESULT_FIELDS = {"objective", "key", "title", "measure", "weight", "order"}


def new_key(text: str) -> str:
    """A readable unique key from a title: "increase-nps-3f9a1c"."""
    return f"{slugify(text)[:80].strip('-') or 'item'}-{secrets.token_hex(3)}"


# -- periods ---------------------------------------------------------------------------------


def _may_manage_periods(acting_user):
    def check(_obj):
        require_role(acting_user, Role.ADMIN, Role.HR, to="manage periods")
    return check


def do_create_period(*, acting_user, **values) -> Period:
    return create_object(Period, values, acting_user=acting_user, editable=PERIOD_FIELDS, unique=["key"],
                         may_create=_may_manage_periods(acting_user))


def do_update_period(period: Period, *, acting_user, **values) -> Period:
    return update_object(period, values, acting_user=acting_user, editable=PERIOD_FIELDS, unique=["key"])


def fiscal_year_bounds(year: int) -> tuple[date, date]:
    """FY`year` is the fiscal year that ends in calendar year `year` (or is it, for January starts)."""
    month = settings.FISCAL_YEAR_START_MONTH
    start = date(year if month == 1 else year - 1, month, 1)
    return start, date(start.year + 1, month, 1)


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def fiscal_year_periods(year: int) -> list[tuple[str, str, str, date, date]]:
    """(key, name, kind, start, end) of the fiscal year, its four quarters and twelve months."""
    start, _end = fiscal_year_bounds(year)
    specs = [(f"fy{year}", f"FY{year}", Period.Kind.YEAR.value, start, _add_months(start, 12))]
    for quarter in range(4):
        q_start = _add_months(start, 3 * quarter)
        specs.append((f"fy{year}-q{quarter + 1}", f"FY{year} Q{quarter + 1}", Period.Kind.QUARTER.value, q_start,
                      _add_months(q_start, 3)))
    for month in range(12):
        m_start = _add_months(start, month)
        specs.append((m_start.strftime("%Y-%m"), f"{calendar.month_name[m_start.month]} {m_start.year}",
                      Period.Kind.MONTH.value, m_start, _add_months(m_start, 1)))
    return specs


def do_create_fiscal_year(year: int, *, acting_user) -> list[Period]:
    """The fiscal year, its four quarters and twelve months; periods that exist are kept."""
    periods = []
    with transaction.atomic():
        for key, name, kind, p_start, p_end in fiscal_year_periods(year):
            existing = Period.objects.filter(key=key).first()
            periods.append(existing or do_create_period(key=key, name=name, kind=kind, start=p_start, end=p_end,
                                                        acting_user=acting_user))
    return periods


def periods_containing(moment) -> list[Period]:
    day = timezone.localdate(moment)
    return list(Period.objects.filter(start__lte=day, end__gt=day))


# -- perspectives ----------------------------------------------------------------------------


def do_create_perspective(*, acting_user, **values) -> Perspective:
    def may_create(_obj):
        require_role(acting_user, Role.ADMIN, to="configure perspectives")
    return create_object(Perspective, values, acting_user=acting_user, editable=PERSPECTIVE_FIELDS,
                         unique=["key"], may_create=may_create)


def do_update_perspective(perspective: Perspective, *, acting_user, **values) -> Perspective:
    return update_object(perspective, values, acting_user=acting_user, editable=PERSPECTIVE_FIELDS,
                         unique=["key"])


# -- objectives ------------------------------------------------------------------------------


def _may_plan_for(acting_user, subject: Subject, what: str):
    if subject is None or not Subject.objects.filter(Subject.plannable_by(actor_for(acting_user)),
                                                     pk=subject.pk).exists():
        raise deny(acting_user, "plan", f"{what} for {subject}")


def _check_parent(objective: Objective) -> None:
    """The parent must not be the objective itself or one of its descendants."""
    seen, parent = {objective.pk}, objective.parent
    while parent is not None:
        if parent.pk in seen:
            raise ValidationError({"parent": [f"{objective.parent} is aligned under {objective}; that would "
                                              "make a cycle."]})
        seen.add(parent.pk)
        parent = parent.parent


def do_create_objective(*, acting_user, **values) -> Objective:
    if not values.get("key"):
        values["key"] = new_key(values.get("title", ""))
    contributors = values.pop("contributors", None)

    def may_create(obj):
        _may_plan_for(acting_user, obj.subject, "objectives")

    def after_save(obj):
        _check_parent(obj)
        if contributors is not None:
            obj.contributors.set(contributors)

    return create_object(Objective, values, acting_user=acting_user, editable=OBJECTIVE_FIELDS, unique=["key"],
                         may_create=may_create, after_save=after_save)


def do_update_objective(objective: Objective, *, acting_user, **values) -> Objective:
    contributors = values.pop("contributors", None)
    if "subject" in values and values["subject"] != objective.subject:
        _may_plan_for(acting_user, values["subject"], "objectives")

    def after_save(obj):
        _check_parent(obj)

    objective = update_object(objective, values, acting_user=acting_user, editable=OBJECTIVE_FIELDS,
                              unique=["key"], after_save=after_save)
    if contributors is not None:
        objective.contributors.set(contributors)
    return objective


def do_deactivate_objective(objective: Objective, *, acting_user) -> Objective:
    return update_object(objective, {"is_active": False}, acting_user=acting_user, editable=OBJECTIVE_FIELDS,
                         action=Action.DEACTIVATE)


# -- key results -----------------------------------------------------------------------------


def do_create_key_result(*, acting_user, objective: Objective, title: str, measure=None, weight: float = 1.0,
                         key: str | None = None, order: int = 0, start_value: float = 0.0,
                         target_value: float = 100.0, unit: str = "%") -> KeyResult:
    """A key result backed by `measure`, or, for a one-off, by its own manual measure
    (progress from `start_value` to `target_value` in `unit`, fed by check-ins)."""
    from northstar.measures.services import do_create_measure, do_set_target

    _may_plan_for(acting_user, objective.subject, "key results")
    key = key or new_key(title)
    with transaction.atomic():
        if measure is None:
            measure = do_create_measure(
                acting_user=acting_user, key=f"kr-{key}"[:100], name=title[:200], unit=unit,
                subject=objective.subject, aggregation="last", polarity="increase", tracking="linear",
                is_manual=True,
            )
            do_set_target(measure, objective.period, acting_user=acting_user, baseline=start_value,
                          target=target_value)
        return create_object(
            KeyResult, {"objective": objective, "key": key, "title": title, "measure": measure, "weight": weight,
                        "order": order},
            acting_user=acting_user, editable=KEY_RESULT_FIELDS, unique=["key"],
            may_create=lambda obj: None,  # checked above, on the objective's subject
        )


def do_update_key_result(key_result: KeyResult, *, acting_user, **values) -> KeyResult:
    return update_object(key_result, values, acting_user=acting_user, editable=KEY_RESULT_FIELDS, unique=["key"])


# -- check-ins -------------------------------------------------------------------------------


def may_check_in(user, objective: Objective) -> bool:
    actor = actor_for(user)
    if Objective.objects.restrict(user, "change").filter(pk=objective.pk).exists():
        return True
    person_id = actor.person_id
    return person_id is not None and (
        objective.owner_id == person_id or objective.contributors.filter(pk=person_id).exists()
    )


def do_check_in(*, acting_user, objective: Objective, key_result: KeyResult | None = None,
                progress: float | None = None, confidence: int | None = None, comment: str = "") -> CheckIn:
    """Record a check-in; progress on a one-off key result becomes an observation of its measure."""
    from northstar.measures.ingest import ObservationIn, do_ingest
    from northstar.measures.models import IngestBatch

    if not may_check_in(acting_user, objective):
        raise deny(acting_user, "check in on", f"objective {objective}", objective)
    errors = {}
    if key_result is not None and key_result.objective_id != objective.pk:
        errors["key_result"] = [f"{key_result} is not a key result of {objective}."]
    if progress is not None and key_result is None:
        errors["progress"] = ["Progress is given for a key result; choose one."]
    elif progress is not None and not key_result.measure.is_manual:
        errors["progress"] = [f"{key_result} is measured by {key_result.measure}; its value comes from that data."]
    if confidence is not None and not 0 <= confidence <= 10:
        errors["confidence"] = ["Confidence is from 0 to 10."]
    if progress is None and confidence is None and not comment.strip():
        errors["__all__"] = ["A check-in needs progress, confidence or a comment."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        observation = None
        if progress is not None:
            result = do_ingest(
                [ObservationIn(measure=key_result.measure.key, ts=timezone.now(), value=progress)],
                source=IngestBatch.Source.CHECK_IN, acting_user=acting_user, check_permission=False,
            )
            observation = result.observations[0] if result.observations else None
        return create_object(
            CheckIn, {"objective": objective, "key_result": key_result, "author": acting_user, "progress": progress,
                      "confidence": confidence, "comment": comment.strip(), "observation": observation},
            acting_user=acting_user, editable={"objective", "key_result", "author", "progress", "confidence",
                                               "comment", "observation"},
            may_create=lambda obj: None,  # may_check_in above
        )
