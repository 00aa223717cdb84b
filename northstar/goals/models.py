"""Plan: periods, balanced-scorecard perspectives, objectives, key results and check-ins."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from northstar.core.models import EVERYTHING, NOTHING, BaseModel
from northstar.core.roles import Actor, Role
from northstar.directory.models import Person, Subject, through_subject


class Period(BaseModel):
    """A half-open interval [start, end) of dates in the organisation's time zone."""

    class Kind(models.TextChoices):
        YEAR = "year", "Fiscal year"
        QUARTER = "quarter", "Quarter"
        MONTH = "month", "Month"
        CUSTOM = "custom", "Custom"

    key = models.SlugField(max_length=64, unique=True, help_text='e.g. "fy2026", "fy2026-q1", "2026-03"')
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CUSTOM)
    start = models.DateField()
    end = models.DateField(help_text="The first day after the period")

    audit_fields = ("key", "name", "kind", "start", "end")

    class Meta:
        ordering = ["start", "-end"]
        constraints = [models.CheckConstraint(name="period_end_after_start", condition=Q(end__gt=F("start")))]

    def __str__(self):
        return self.name

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        if action == "view":
            return EVERYTHING
        return EVERYTHING if actor.has_role(Role.ADMIN, Role.HR) else NOTHING

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes at midnight in the organisation's time zone."""
        zone = ZoneInfo(settings.TIME_ZONE)
        return (datetime.combine(self.start, time.min, zone), datetime.combine(self.end, time.min, zone))


class Perspective(BaseModel):
    """A balanced-scorecard perspective; the four classic ones are created by a migration."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0)],
                               help_text="Weight in the scorecard's roll-up")

    audit_fields = ("key", "name", "description", "order", "weight")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        if action == "view":
            return EVERYTHING
        return EVERYTHING if actor.is_admin else NOTHING


class Thresholds(models.Model):
    """Status thresholds on health (SCORING.md §5), defaults on_track 1.0 and at_risk 0.8."""

    on_track = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    at_risk = models.FloatField(default=0.8, validators=[MinValueValidator(0)])

    class Meta:
        abstract = True


class Objective(BaseModel, Thresholds):
    class StatusRule(models.TextChoices):
        WEIGHTED = "weighted", "Weighted health"
        WORST = "worst", "Worst child"

    key = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="objectives")
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="objectives")
    perspective = models.ForeignKey(Perspective, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="objectives")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               help_text="The objective this one aligns to")
    rolls_up = models.BooleanField(
        default=False, help_text="Counts in its parent's progress (alignment alone does not)"
    )
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0)],
                               help_text="Weight in the parent's or the perspective's roll-up; 0 = shown, not counted")
    owner = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_objectives")
    contributors = models.ManyToManyField(Person, blank=True, related_name="contributed_objectives")
    status_rule = models.CharField(max_length=10, choices=StatusRule.choices, default=StatusRule.WEIGHTED)
    is_active = models.BooleanField(default=True)

    audit_fields = ("key", "title", "description", "subject", "period", "perspective", "parent", "rolls_up",
                    "weight", "owner", "status_rule", "on_track", "at_risk", "is_active")

    class Meta:
        ordering = ["period__start", "title"]

    def __str__(self):
        return self.title

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, action)


class KeyResult(BaseModel):
    """A measurable result of an objective, backed by a measure.

    A one-off key result (no KPI behind it) gets its own manual measure, whose
    observations are the check-ins' progress: one path through the engine for all.
    """

    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="key_results")
    key = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    measure = models.ForeignKey("measures.Measure", on_delete=models.PROTECT, related_name="key_results")
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    order = models.PositiveSmallIntegerField(default=0)

    audit_fields = ("objective", "key", "title", "measure", "weight", "order")

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self):
        return self.title

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, action, "objective__subject")


class CheckIn(BaseModel):
    """A regular update on an objective or one of its key results."""

    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="check_ins")
    key_result = models.ForeignKey(KeyResult, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="check_ins")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    progress = models.FloatField(null=True, blank=True, help_text="The key result's current value")
    confidence = models.PositiveSmallIntegerField(null=True, blank=True,
                                                  validators=[MinValueValidator(0), MaxValueValidator(10)])
    comment = models.TextField(blank=True)
    observation = models.OneToOneField("measures.Observation", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="check_in")

    audit_fields = ("objective", "key_result", "progress", "confidence", "comment")

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Check-in on {self.key_result or self.objective}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, action, "objective__subject")
