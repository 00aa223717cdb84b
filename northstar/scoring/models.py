"""Evaluation results, stored as dated snapshots so history and trends can be drawn.

One row per node (measure, key result, objective, perspective, scorecard),
period and day; re-evaluating on the same day replaces that day's row.
"""

from django.db import models
from django.db.models import Q

from northstar.core.models import RestrictedQuerySet
from northstar.core.roles import Actor
from northstar.directory.models import Subject, through_subject
from northstar.goals.models import Period


class Status(models.TextChoices):
    NO_DATA = "no_data", "No data"
    PENDING = "pending", "Pending"
    OFF_TRACK = "off_track", "Off track"
    AT_RISK = "at_risk", "At risk"
    ON_TRACK = "on_track", "On track"


# Chip tone per status, for badges (shown with the word, never colour alone).
STATUS_TONES = {
    Status.NO_DATA: "muted",
    Status.PENDING: "info",
    Status.OFF_TRACK: "bad",
    Status.AT_RISK: "warn",
    Status.ON_TRACK: "ok",
}


class ScoreSnapshot(models.Model):
    class NodeKind(models.TextChoices):
        MEASURE = "measure", "Measure"
        KEY_RESULT = "key_result", "Key result"
        OBJECTIVE = "objective", "Objective"
        PERSPECTIVE = "perspective", "Perspective"
        SCORECARD = "scorecard", "Scorecard"

    node_kind = models.CharField(max_length=12, choices=NodeKind.choices)
    # The measure's, key result's, objective's or perspective's pk; the subject's pk for a scorecard.
    node_id = models.BigIntegerField()
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="scores")
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="scores")
    day = models.DateField(help_text="The day of the evaluation, in the organisation's time zone")
    as_of = models.DateTimeField()
    actual = models.FloatField(null=True)
    attainment = models.FloatField(null=True)
    score = models.FloatField(null=True, help_text="s for a measure; progress S for a roll-up")
    health = models.FloatField(null=True, help_text="x for a measure; H for a roll-up")
    status = models.CharField(max_length=10, choices=Status.choices)
    forecast = models.FloatField(null=True)
    forecast_attainment = models.FloatField(null=True)
    forecast_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    elapsed = models.FloatField(null=True, help_text="Elapsed fraction f of the period at as_of")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node_kind", "node_id", "subject", "period", "day"],
                                    name="one_snapshot_per_node_day"),
        ]
        indexes = [
            models.Index(fields=["subject", "period", "day"], name="score_subject_period_day"),
            models.Index(fields=["period", "day"], name="score_period_day"),
        ]

    def __str__(self):
        return f"{self.node_kind} {self.node_id} {self.period_id} {self.day}: {self.status}"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return through_subject(actor, "view" if action == "view" else "change")
