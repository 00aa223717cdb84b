"""Forms for planning and check-ins. They parse and offer choices within what the user may see;
the services (`northstar.goals.services`) decide and report what is allowed."""

from collections import defaultdict
from datetime import timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from northstar.core.errors import validation_fields
from northstar.core.roles import actor_for
from northstar.directory.models import Subject, path_ids
from northstar.goals.models import Objective, Period, Perspective
from northstar.measures.models import Measure

# Choices offered in one select at most; beyond, the nearest ones (a planner can still use the API).
MAX_CHOICES = 500


def add_service_errors(form: forms.Form, error) -> None:
    """A service's ValidationError onto the form: next to the field it names, else above the form."""
    for name, messages in validation_fields(error).items():
        form.add_error(name if name in form.fields else None, messages)


def subject_label(subject: Subject, me_id: int | None) -> str:
    if subject.kind == Subject.Kind.PERSON and subject.person_id == me_id:
        return f"Me ({subject.person.name})"
    if subject.kind == Subject.Kind.ORG_UNIT:
        return f"{subject.org_unit.get_kind_display()}: {subject.org_unit.name}"
    return f"{subject.get_kind_display()}: {subject.target}"


def plannable_subjects(user) -> list[Subject]:
    """Subjects the user may plan for, as offered in the form: themselves first, then units, services and
    processes, then the people reporting to them directly."""
    actor = actor_for(user)
    people = Q(person_id=actor.person_id) | Q(person__manager_id=actor.person_id) if actor.person_id else Q(pk__in=[])
    rows = (Subject.objects.restrict(user, "view").filter(Subject.plannable_by(actor))
            .filter(~Q(kind=Subject.Kind.PERSON) | people)
            .select_related("person", "org_unit", "service", "process")[:MAX_CHOICES])

    def order(subject: Subject):
        if subject.kind == Subject.Kind.PERSON:
            return (0 if subject.person_id == actor.person_id else 3, subject.person.name.lower())
        if subject.kind == Subject.Kind.ORG_UNIT:
            return (1, subject.org_unit.path)
        return (2, str(subject.target).lower())

    return sorted(rows, key=order)


def _day(day) -> str:
    return f"{day.day} {day:%b %Y}"


def period_label(period: Period) -> str:
    """ "FY2026 Q4 (1 Oct 2026 – 31 Dec 2026)": the last day, not the exclusive end."""
    return f"{period.name} ({_day(period.start)} – {_day(period.end - timedelta(days=1))})"


def open_periods(user):
    """Periods that have not ended, shortest first within the same start (a month before its quarter)."""
    today = timezone.localdate()
    periods = list(Period.objects.restrict(user, "view").filter(end__gt=today))
    return sorted(periods, key=lambda p: (p.start, p.end - p.start))


def default_period(periods: list[Period]) -> Period | None:
    """The current quarter, else the current period of any kind, else the first."""
    today = timezone.localdate()
    current = [p for p in periods if p.start <= today < p.end]
    quarters = [p for p in current if p.kind == Period.Kind.QUARTER]
    return (quarters or current or periods or [None])[0]


def parent_candidates(user) -> list[Objective]:
    """Objectives to align to: units', services' and processes', those of the people above the user,
    and the user's own, in periods that have not ended."""
    actor = actor_for(user)
    chain = path_ids(actor.person_path)  # the user and their managers up to the top
    rows = (Objective.objects.restrict(user, "view")
            .filter(is_active=True, period__end__gt=timezone.localdate())
            .filter(~Q(subject__kind=Subject.Kind.PERSON) | Q(subject__person_id__in=chain))
            .select_related("period", "subject__person", "subject__org_unit", "subject__service",
                            "subject__process")
            .order_by("period__start", "title")[:MAX_CHOICES])
    return list(rows)


class ObjectiveForm(forms.Form):
    title = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    subject = forms.ChoiceField(label="For", help_text="Whose objective it is: yours, or a team's you plan for")
    period = forms.ChoiceField()
    perspective = forms.ChoiceField(required=False, help_text="Where it counts on the scorecard")
    parent = forms.ChoiceField(required=False, label="Aligned to", help_text="The objective this one supports")
    rolls_up = forms.BooleanField(required=False, label="Counts in the progress of the objective it is aligned to")
    weight = forms.FloatField(min_value=0, initial=1, help_text="In the roll-up; 0 = shown, not counted")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        me = actor_for(user).person_id
        self.subjects = {str(s.uid): s for s in plannable_subjects(user)}
        self.fields["subject"].choices = [(uid, subject_label(s, me)) for uid, s in self.subjects.items()]
        periods = open_periods(user)
        self.periods = {p.key: p for p in periods}
        self.fields["period"].choices = [(p.key, period_label(p)) for p in periods]
        self.perspectives = {p.key: p for p in Perspective.objects.restrict(user, "view").order_by("order", "name")}
        self.fields["perspective"].choices = [("", "None")] + [(k, p.name) for k, p in self.perspectives.items()]
        parents = parent_candidates(user)
        self.parents = {str(o.uid): o for o in parents}
        grouped = defaultdict(list)
        for o in parents:
            grouped[o.period.name].append((str(o.uid), f"{o.title} · {o.subject.target}"))
        self.fields["parent"].choices = [("", "Nothing")] + list(grouped.items())
        if not self.is_bound:
            mine = next((uid for uid, s in self.subjects.items() if s.person_id == me), None)
            self.initial.setdefault("subject", mine)
            chosen = default_period(periods)
            self.initial.setdefault("period", chosen.key if chosen else None)

    def clean(self):
        data = super().clean()
        data["subject"] = self.subjects.get(data.get("subject"))
        data["period"] = self.periods.get(data.get("period"))
        data["perspective"] = self.perspectives.get(data.get("perspective") or "")
        data["parent"] = self.parents.get(data.get("parent") or "")
        return data


class KeyResultForm(forms.Form):
    ONE_OFF, MEASURED = "one_off", "measure"

    title = forms.CharField(max_length=300)
    kind = forms.ChoiceField(
        choices=[(ONE_OFF, "One-off: progress reported in check-ins"), (MEASURED, "Measured by a KPI")],
        initial=ONE_OFF, widget=forms.RadioSelect, label="Measured how",
    )
    start_value = forms.FloatField(required=False, initial=0, label="Start", help_text="Where progress starts")
    target_value = forms.FloatField(required=False, initial=100, label="Target", help_text="The value to reach")
    unit = forms.CharField(max_length=32, required=False, initial="%")
    measure = forms.ChoiceField(required=False, label="Measure",
                                help_text="For a measured key result: a KPI you can see")
    weight = forms.FloatField(min_value=0, initial=1, help_text="In the objective's progress")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        measures = (Measure.objects.restrict(user, "view").filter(is_active=True, is_manual=False)
                    .select_related("subject__person", "subject__org_unit", "subject__service", "subject__process")
                    .order_by("name")[:MAX_CHOICES])
        self.measures = {str(m.uid): m for m in measures}
        self.fields["measure"].choices = [("", "Choose a measure")] + [
            (uid, f"{m.name} ({m.unit}) · {m.subject.target}" if m.unit else f"{m.name} · {m.subject.target}")
            for uid, m in self.measures.items()
        ]

    def clean(self):
        data = super().clean()
        if data.get("kind") == self.MEASURED:
            data["measure"] = self.measures.get(data.get("measure") or "")
            if data["measure"] is None and "measure" not in self.errors:
                self.add_error("measure", "Choose the measure behind this key result.")
        else:
            data["measure"] = None
            start = data.get("start_value")
            target = data.get("target_value")
            if target is None and "target_value" not in self.errors:
                self.add_error("target_value", "A one-off key result needs a target.")
            elif target is not None and target == (start or 0.0):
                self.add_error("target_value", "The target must differ from the start.")
        return data

    def service_values(self) -> dict:
        data = self.cleaned_data
        values = {"title": data["title"], "weight": data["weight"], "measure": data["measure"]}
        if data["measure"] is None:
            values.update(start_value=data.get("start_value") or 0.0, target_value=data["target_value"],
                          unit=data.get("unit") or "")
        return values


class CheckInForm(forms.Form):
    key_result = forms.UUIDField(required=False, widget=forms.HiddenInput)
    progress = forms.FloatField(required=False, label="Progress", help_text="The current value")
    confidence = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Confidence",
        choices=[("", "—")] + [(str(n), str(n)) for n in range(11)],
        help_text="0 (none) to 10 (certain)",
    )
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
