"""Reads of measures and targets, always through `.restrict(user, action)`."""

from django.db.models import Q

from northstar.measures.models import Measure, Target


def measures(user, *, q=None, subject=None, include_inactive=False, include_manual=False):
    rows = Measure.objects.restrict(user, "view").select_related("subject")
    if not include_inactive:
        rows = rows.filter(is_active=True)
    if not include_manual:
        rows = rows.filter(is_manual=False)
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(key__icontains=q))
    if subject:
        rows = rows.filter(subject__uid=subject)
    return rows.order_by("name", "pk")


def targets(user, measure):
    return Target.objects.restrict(user, "view").filter(measure=measure).select_related("period").order_by(
        "period__start")
