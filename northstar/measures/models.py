"""Collect: measures (KPIs), per-period targets, observations with provenance, and the
running per-measure, per-period aggregates kept at ingest time.

Evaluation reads one MeasureAggregate row per measure and period instead of
re-aggregating raw observations (see SCORING.md §3 and ARCHITECTURE.md).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from northstar.core.models import BaseModel, RestrictedQuerySet
from northstar.core.roles import Actor
from northstar.directory.models import Subject, through_subject
from northstar.goals.models import Period, Thresholds


class Measure(BaseModel):
    class Polarity(models.TextChoices):
        INCREASE = "increase", "Higher is better"
        DECREASE = "decrease", "Lower is better"
        RANGE = "range", "Within a range"

    class Aggregation(models.TextChoices):
        LAST = "last", "Last value"
        SUM = "sum", "Sum"
        MEAN = "mean", "Mean"
        MIN = "min", "Minimum"
        MAX = "max", "Maximum"
        COUNT = "count", "Count"
        RATIO = "ratio", "Ratio (good / total)"

    class Tracking(models.TextChoices):
        STEADY = "steady", "Steady (judged on the value itself)"
        LINEAR = "linear", "Linear (judged on pace through the period)"

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    unit = models.CharField(max_length=32, blank=True, help_text='e.g. "%", "EUR", "ms", "tickets"')
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="measures")
    polarity = models.CharField(max_length=10, choices=Polarity.choices, default=Polarity.INCREASE)
    aggregation = models.CharField(max_length=10, choices=Aggregation.choices, default=Aggregation.LAST)
    tracking = models.CharField(max_length=10, choices=Tracking.choices, blank=True,
                                help_text="Blank: linear for sum and count, steady otherwise")
    is_manual = models.BooleanField(default=False, help_text="Backs a one-off key result; fed by check-ins")
    metric_selector = models.CharField(
        max_length=500, blank=True,
        help_text='OpenMetrics/Prometheus samples that feed this measure, e.g. orders_total{region="eu"}',
    )
    is_active = models.BooleanField(default=True)

    audit_fields = ("key", "name", "description", "unit", "subject", "polarity", "aggregation", "tracking",
                    "is_manual", "metric_selector", "is_active")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, action)

    @property
    def effective_tracking(self) -> str:
        if self.tracking:
            return self.tracking
        linear = {self.Aggregation.SUM, self.Aggregation.COUNT}
        return self.Tracking.LINEAR if self.aggregation in linear else self.Tracking.STEADY


class Target(BaseModel, Thresholds):
    """What a measure should reach in a period (SCORING.md §2)."""

    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="targets")
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="targets")
    target = models.FloatField(null=True, blank=True, help_text="Required unless the polarity is range")
    baseline = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True, help_text="Range: lowest good value")
    upper = models.FloatField(null=True, blank=True, help_text="Range: highest good value")
    tolerance = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    cap = models.FloatField(default=1.0, validators=[MinValueValidator(0), MaxValueValidator(2.0)])

    audit_fields = ("measure", "period", "target", "baseline", "lower", "upper", "tolerance", "on_track",
                    "at_risk", "cap")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["measure", "period"], name="one_target_per_period")]

    def __str__(self):
        return f"{self.measure} in {self.period}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, action, "measure__subject")


class IngestBatch(models.Model):
    """Provenance shared by the observations that arrived together."""

    class Source(models.TextChoices):
        CHECK_IN = "check_in", "Check-in"
        API = "api", "REST API"
        FILE = "file", "File upload"
        OPENMETRICS = "openmetrics", "OpenMetrics push"
        PROMETHEUS = "prometheus", "Prometheus pull"
        SQL = "sql", "SQL pull"
        DEMO = "demo", "Demo data"

    uid = models.UUIDField(unique=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    received = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    token = models.ForeignKey("core.ApiToken", null=True, blank=True, on_delete=models.SET_NULL)
    detail = models.CharField(max_length=300, blank=True, help_text="File name, pull source, client")
    items = models.PositiveIntegerField(default=0)
    written = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-received"]
        verbose_name_plural = "ingest batches"

    def __str__(self):
        return f"{self.get_source_display()} batch {self.uid}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        """Batches are seen by their sender and by admins and auditors (provenance review)."""
        from northstar.core.models import EVERYTHING
        from northstar.core.roles import Role

        if actor.has_role(Role.ADMIN, Role.AUDITOR):
            return EVERYTHING
        return Q(user_id=actor.user_id)


class Observation(models.Model):
    """One value of a measure at a time: `value`, or `good` and `total` for a ratio measure.

    Kept lean (it is the one big table); provenance is on the batch.
    """

    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="observations", db_index=False)
    ts = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    good = models.FloatField(null=True, blank=True)
    total = models.FloatField(null=True, blank=True)
    source_id = models.CharField(max_length=128, null=True, blank=True,
                                 help_text="The sender's id for this value; re-sending it adds nothing")
    batch = models.ForeignKey(IngestBatch, on_delete=models.PROTECT, related_name="observations", db_index=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["measure", "ts"], name="observation_measure_ts")]
        constraints = [
            models.UniqueConstraint(fields=["measure", "source_id"], condition=Q(source_id__isnull=False),
                                    name="observation_unique_source_id"),
        ]

    def __str__(self):
        return f"{self.measure_id}@{self.ts.isoformat()}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, "view" if action == "view" else "change", "measure__subject")


class MeasureAggregate(models.Model):
    """Running aggregates of a measure's observations in one period, updated at ingest.

    Least-squares sums use t = seconds since the period start, for the forecast
    (SCORING.md §6). `last_*` keeps the latest observation (ties: the one recorded
    last, i.e. the highest observation id).
    """

    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="aggregates")
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="aggregates")
    n = models.BigIntegerField(default=0)
    sum = models.FloatField(default=0.0)
    min = models.FloatField(null=True)
    max = models.FloatField(null=True)
    last_ts = models.DateTimeField(null=True)
    last_id = models.BigIntegerField(null=True)
    last_value = models.FloatField(null=True)
    sum_good = models.FloatField(default=0.0)
    sum_total = models.FloatField(default=0.0)
    sum_t = models.FloatField(default=0.0)
    sum_tt = models.FloatField(default=0.0)
    sum_ty = models.FloatField(default=0.0)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["measure", "period"], name="one_aggregate_per_period")]

    def __str__(self):
        return f"{self.measure_id} in {self.period_id}: n={self.n}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, "view" if action == "view" else "change", "measure__subject")


class PullSource(BaseModel):
    """A scheduled pull that feeds a measure: a PromQL query against a Prometheus HTTP API,
    or a SQL query against any database reachable with a connection URL.

    Configured by admins only. The connection URL may carry credentials: it is
    stored, used by the worker, and never shown back (the API and UI show it redacted).
    """

    class Kind(models.TextChoices):
        PROMETHEUS = "prometheus", "Prometheus query"
        SQL = "sql", "SQL query"

    class Mode(models.TextChoices):
        INSTANT = "instant", "Instant (one value per run)"
        RANGE = "range", "Range (every step since the last run)"

    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="pull_sources")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url = models.CharField(max_length=1000, help_text="Prometheus base URL, or a database URL for SQL")
    query = models.TextField(help_text="PromQL, or SQL returning (ts, value) or (ts, good, total) rows")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.INSTANT)
    step_seconds = models.PositiveIntegerField(default=300, help_text="Range mode: seconds between points")
    every_seconds = models.PositiveIntegerField(default=300, help_text="How often the pull runs")
    is_active = models.BooleanField(default=True)
    next_run = models.DateTimeField(null=True, blank=True)
    last_run = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_ts = models.DateTimeField(null=True, blank=True, help_text="Newest timestamp pulled so far")

    # The URL is left out on purpose: audit events must not keep credentials either.
    audit_fields = ("measure", "kind", "query", "mode", "step_seconds", "every_seconds", "is_active")

    class Meta:
        ordering = ["measure__name", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.measure}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        from northstar.core.models import EVERYTHING, NOTHING

        return EVERYTHING if actor.is_admin else NOTHING
