"""Every write to measures and targets."""

import math

from django.core.exceptions import ValidationError
from django.db import transaction

from northstar.audit.services import Action
from northstar.core.permissions import deny, require
from northstar.core.roles import actor_for
from northstar.core.writes import create_object, update_object
from northstar.directory.models import Subject
from northstar.measures.models import Measure, Target

MEASURE_FIELDS = {"key", "name", "description", "unit", "subject", "polarity", "aggregation", "tracking",
                  "is_manual", "metric_selector", "is_active"}
TARGET_FIELDS = {"target", "baseline", "lower", "upper", "tolerance", "on_track", "at_risk", "cap"}


def _may_plan(acting_user, subject):
    if subject is None or not Subject.objects.filter(Subject.plannable_by(actor_for(acting_user)),
                                                     pk=subject.pk).exists():
        raise deny(acting_user, "plan", f"measures for {subject}")


def _check_selector_fits(aggregation: str) -> None:
    if aggregation == Measure.Aggregation.RATIO:
        raise ValidationError({"metric_selector": [
            "A ratio measure needs good and total together, which one pushed sample cannot give; "
            "feed it through the REST API, a file or a scheduled pull."]})


def check_selector(selector: str) -> None:
    from northstar.measures.openmetrics import parse_selector

    try:
        parse_selector(selector)
    except ValueError as error:
        raise ValidationError({"metric_selector": [str(error)]}) from None


def do_create_measure(*, acting_user, **values) -> Measure:
    def may_create(obj):
        _may_plan(acting_user, obj.subject)
        if obj.metric_selector:
            check_selector(obj.metric_selector)
            _check_selector_fits(obj.aggregation)

    return create_object(Measure, values, acting_user=acting_user, editable=MEASURE_FIELDS, unique=["key"],
                         may_create=may_create)


def do_update_measure(measure: Measure, *, acting_user, **values) -> Measure:
    require(acting_user, "change", measure)
    if values.get("metric_selector"):
        check_selector(values["metric_selector"])
        _check_selector_fits(values.get("aggregation", measure.aggregation))
    if "subject" in values and values["subject"] != measure.subject:
        _may_plan(acting_user, values["subject"])
    if "aggregation" in values and values["aggregation"] != measure.aggregation and measure.observations.exists():
        raise ValidationError({"aggregation": ["The measure has observations; its aggregation cannot change."]})
    return update_object(measure, values, acting_user=acting_user, editable=MEASURE_FIELDS, unique=["key"])


def do_deactivate_measure(measure: Measure, *, acting_user) -> Measure:
    return update_object(measure, {"is_active": False}, acting_user=acting_user, editable=MEASURE_FIELDS,
                         action=Action.DEACTIVATE)


def check_target(measure: Measure, values: dict) -> None:
    """SCORING.md §2: what a target needs for the measure's polarity, with field-named errors."""
    errors = {}
    for name in ("target", "baseline", "lower", "upper", "tolerance", "on_track", "at_risk", "cap"):
        value = values.get(name)
        if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value)):
            errors[name] = ["Must be a finite number."]
    if errors:
        raise ValidationError(errors)
    if measure.polarity == Measure.Polarity.RANGE:
        lower, upper = values.get("lower"), values.get("upper")
        if lower is None:
            errors["lower"] = ["A range measure needs a lower bound."]
        if upper is None:
            errors["upper"] = ["A range measure needs an upper bound."]
        if lower is not None and upper is not None and lower > upper:
            errors["upper"] = ["The upper bound is below the lower bound."]
    elif values.get("target") is None:
        errors["target"] = ["A target value is required."]
    cap = values.get("cap", 1.0)
    if cap is not None and not 0 <= cap <= 2:
        errors["cap"] = ["The cap is between 0 and 2."]
    if (values.get("tolerance") or 0) < 0:
        errors["tolerance"] = ["The tolerance cannot be negative."]
    on_track, at_risk = values.get("on_track", 1.0), values.get("at_risk", 0.8)
    if on_track is not None and at_risk is not None and at_risk > on_track:
        errors["at_risk"] = ["The at-risk threshold is above the on-track threshold."]
    if errors:
        raise ValidationError(errors)


def do_set_target(measure: Measure, period, *, acting_user, **values) -> Target:
    """Create or replace the measure's target for the period."""
    unknown = set(values) - TARGET_FIELDS
    if unknown:
        raise ValidationError({name: ["This field cannot be set."] for name in sorted(unknown)})
    require(acting_user, "change", measure)
    existing = Target.objects.filter(measure=measure, period=period).first()
    merged = {name: getattr(existing, name) for name in TARGET_FIELDS} if existing else {}
    merged.update(values)
    check_target(measure, {k: v for k, v in merged.items() if v is not None})
    with transaction.atomic():
        if existing:
            return update_object(existing, values, acting_user=acting_user, editable=TARGET_FIELDS)
        return create_object(Target, {"measure": measure, "period": period, **values}, acting_user=acting_user,
                             editable=TARGET_FIELDS | {"measure", "period"}, may_create=lambda obj: None)
