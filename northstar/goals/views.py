"""Goal pages: "my goals" with check-ins, a new objective, an objective with its key results.

Writes go through `northstar.goals.services`; reads through `.restrict` and
`northstar.scoring.queries`. A check-in posted by htmx answers with the objective's
card only, already re-scored: evaluation runs inline when the check-in commits.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from northstar.core.errors import Conflict
from northstar.core.htmx import csv_response, render_page
from northstar.core.roles import actor_for
from northstar.goals import queries as goal_queries
from northstar.goals import services
from northstar.goals.forms import CheckInForm, KeyResultForm, ObjectiveForm, add_service_errors
from northstar.goals.models import KeyResult, Objective
from northstar.scoring import queries

HISTORY = 100  # check-ins listed on an objective's page


def _attach_forms(user, rows, failed=None):
    """Give each objective row (and its key results) a check-in form, unless the user may not check in.

    `failed` is (target uid, bound form): the form that came back with errors, shown in its place.
    """
    for row in rows:
        row.can_check_in = services.may_check_in(user, row.objective)
        if not row.can_check_in:
            continue
        targets = [(str(row.objective.uid), row, None)] + [(str(kr.key_result.uid), kr, kr) for kr in row.key_results]
        for uid, holder, kr in targets:
            if failed is not None and failed[0] == uid:
                holder.check_in_form = failed[1]
            else:
                initial = {"key_result": kr.key_result.uid} if kr else {}
                holder.check_in_form = CheckInForm(auto_id=f"checkin-{uid}-%s", initial=initial)


def _rows_for(user, objective, failed=None) -> queries.ObjectiveScore:
    row = queries.objective_rows(user, [objective])[0]
    row.check_ins = list(goal_queries.check_ins(user, objective)[:HISTORY])
    _attach_forms(user, [row], failed)
    return row


def _visible_objective(user, uid) -> Objective:
    return get_object_or_404(Objective.objects.restrict(user, "view").select_related(
        "period", "perspective", "owner", "parent", *queries.SUBJECT_RELATED), uid=uid)


def _next_url(request, fallback: str) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return fallback


# -- my goals ----------------------------------------------------------------------------------------


def _my_period(request):
    key = request.GET.get("period", "").strip()
    if not key:
        return None
    try:
        return queries.period_by_key(request.user, key)
    except ValidationError:
        raise Http404(f"No period {key!r}.") from None


@login_required
def my_goals(request):
    period = _my_period(request)
    groups = queries.my_goals(request.user, period)
    for group in groups:
        _attach_forms(request.user, group.objectives)
    context = {
        "groups": groups, "period": period, "crumbs": [], "has_person": actor_for(request.user).person_id is not None,
        "periods": queries.periods(request.user).filter(
            pk__in=queries.my_objectives(request.user).values("period_id")),
        "count": sum(len(group.objectives) for group in groups),
    }
    return render_page(request, "goals/my_goals.html", context)


MY_GOALS_HEADER = ["period", "objective", "objective_key", "role", "subject", "key_result", "measure", "unit",
                   "weight", "actual", "target", "progress", "health", "status", "forecast_status", "day"]


@login_required
def my_goals_export(request):
    groups = queries.my_goals(request.user, _my_period(request), days=0)

    def number(value):
        return "" if value is None else repr(value)

    def lines():
        for group in groups:
            for row in group.objectives:
                o, s = row.objective, row.score
                yield [group.period.key, o.title, o.key, row.role, queries.subject_key(o.subject), "", "", "",
                       number(o.weight), "", "", number(s.score), number(s.health), s.status, s.forecast_status,
                       s.day or ""]
                for kr in row.key_results:
                    k = kr.score
                    yield [group.period.key, o.title, o.key, row.role, queries.subject_key(o.subject),
                           kr.key_result.title, kr.measure.key, kr.measure.unit, number(kr.key_result.weight),
                           number(k.actual), number(kr.target.target if kr.target else None), number(k.score),
                           number(k.health), k.status, k.forecast_status, k.day or ""]

    return csv_response("my-goals.csv", MY_GOALS_HEADER, lines())


# -- a new objective ---------------------------------------------------------------------------------


@login_required
def objective_new(request):
    initial = {name: request.GET[name] for name in ("subject", "period", "parent") if request.GET.get(name)}
    form = ObjectiveForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        me = getattr(request.user, "person", None)
        subject = data["subject"]
        owner = subject.person if subject.person_id else me
        try:
            objective = services.do_create_objective(
                acting_user=request.user, title=data["title"], description=data["description"], subject=subject,
                period=data["period"], perspective=data["perspective"], parent=data["parent"],
                rolls_up=data["rolls_up"] and data["parent"] is not None, weight=data["weight"], owner=owner,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied as error:
            form.add_error("subject", str(error))
        except Conflict as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Objective “{objective.title}” created. Now add its key results.")
            return redirect("objective", uid=objective.uid)
    context = {"form": form, "crumbs": [("My goals", reverse("my_goals"))]}
    return render_page(request, "goals/objective_form.html", context)


# -- an objective ------------------------------------------------------------------------------------


def _objective_context(request, objective, *, failed=None, kr_form=None) -> dict:
    user = request.user
    row = _rows_for(user, objective, failed)
    parent = Objective.objects.restrict(user, "view").filter(pk=objective.parent_id).select_related(
        "period", *queries.SUBJECT_RELATED).first()
    parent_row = queries.objective_rows(user, [parent], key_results=False, days=0)[0] if parent else None
    children = (Objective.objects.restrict(user, "view").filter(parent=objective, is_active=True)
                .select_related("period", *queries.SUBJECT_RELATED).order_by("title", "pk"))
    can_plan = Objective.objects.restrict(user, "change").filter(pk=objective.pk).exists()
    return {
        "objective": objective, "row": row, "parent_row": parent_row,
        "children": queries.objective_rows(user, children, key_results=False, days=0),
        "can_plan": can_plan,
        "kr_form": kr_form or (KeyResultForm(user=user) if can_plan else None),
        "crumbs": [("My goals", reverse("my_goals"))],
        "next": reverse("objective", args=[objective.uid]),
        "page_view": True,
    }


@login_required
def objective(request, uid):
    subject_objective = _visible_objective(request.user, uid)
    return render_page(request, "goals/objective.html", _objective_context(request, subject_objective))


@login_required
@require_POST
def key_result_new(request, uid):
    subject_objective = _visible_objective(request.user, uid)
    form = KeyResultForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            kr = services.do_create_key_result(acting_user=request.user, objective=subject_objective,
                                               **form.service_values())
        except ValidationError as error:
            add_service_errors(form, error)
        except Conflict as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Key result “{kr.title}” added.")
            return redirect(reverse("objective", args=[subject_objective.uid]) + "#key-results")
    context = _objective_context(request, subject_objective, kr_form=form)
    return render_page(request, "goals/objective.html", context, status=422)


@login_required
@require_POST
def check_in(request, uid):
    """A check-in on the objective or one of its key results; htmx gets the re-scored card back."""
    subject_objective = _visible_objective(request.user, uid)
    page_url = reverse("objective", args=[subject_objective.uid])
    next_url = _next_url(request, page_url)
    kr_uid = request.POST.get("key_result") or ""
    known = {str(uid) for uid in subject_objective.key_results.values_list("uid", flat=True)}
    target = kr_uid if kr_uid in known else str(subject_objective.uid)  # where the form's errors show
    form = CheckInForm(request.POST, auto_id=f"checkin-{target}-%s")
    saved = False
    if form.is_valid():
        data = form.cleaned_data
        key_result = None
        if data["key_result"]:
            key_result = KeyResult.objects.restrict(request.user, "view").filter(
                uid=data["key_result"], objective=subject_objective).first()
            if key_result is None:
                form.add_error(None, "That key result is not part of this objective.")
        if not form.errors:
            try:
                services.do_check_in(acting_user=request.user, objective=subject_objective, key_result=key_result,
                                     progress=data["progress"], confidence=data["confidence"],
                                     comment=data["comment"])
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                saved = True
    if saved and not request.htmx:
        messages.success(request, "Check-in saved.")
        return redirect(next_url)
    failed = None if saved else (target, form)
    context = _objective_context(request, subject_objective, failed=failed)
    context.update(next=next_url, page_view=next_url == page_url, saved=saved)
    return render_page(request, "goals/objective.html", context, partial="goals/_objective_card.html",
                       status=200 if saved or request.htmx else 422)
