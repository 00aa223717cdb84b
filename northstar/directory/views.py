"""Directory pages: people, the org chart, teams, services and processes.

Every read goes through `queries` or `.restrict(user, "view")`; private person
fields are shown only where `person.private_visible_to(actor)`.
"""

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from northstar.core.htmx import csv_response, paginate, render_page, sort_rows
from northstar.core.roles import actor_for
from northstar.directory import queries
from northstar.directory.models import OrgUnit, Person, Process, Service, path_ids

# Chip tone for each employment status; the chip always carries the status's label.
STATUS_TONES = {
    Person.Status.ACTIVE: "ok",
    Person.Status.ON_LEAVE: "warn",
    Person.Status.TERMINATED: "muted",
}

PEOPLE_SORTS = {
    "name": ("Name", ("name",)),
    "title": ("Title", ("job_title", "name")),
    "team": ("Team", ("org_unit__name", "name")),
    "manager": ("Manager", ("manager__name", "name")),
}
# Status is private: only those who read every person's private fields filter or sort by it.
STATUS_SORT = {"status": ("Status", ("employment_status", "name"))}

SERVICE_SORTS = {
    "name": ("Name", ("name",)),
    "tier": ("Tier", ("tier", "name")),
    "owner": ("Owner team", ("owner_team__name", "name")),
}
PROCESS_SORTS = {
    "name": ("Name", ("name",)),
    "owner": ("Owner team", ("owner_team__name", "name")),
}


def _mark_people(user, people):
    """Note on each person what `user` may see of them: private fields, a link to the manager."""
    actor = actor_for(user)
    people = list(people)
    manager_ids = {person.manager_id for person in people if person.manager_id}
    visible_managers = set(
        Person.objects.restrict(user, "view").filter(pk__in=manager_ids).values_list("pk", flat=True)
    )
    for person in people:
        person.show_private = person.private_visible_to(actor)
        person.status_tone = STATUS_TONES.get(person.employment_status, "muted")
        person.manager_visible = person.manager_id in visible_managers
    return people


# Up to this many units the filter lists them all; beyond, only the top three levels
# (company, divisions, departments), since the filter takes in everything below.
FULL_UNIT_LIST_MAX = 300


def _unit_choices(user):
    """(key, label) for the org unit filter, indented by depth in tree order."""
    units = queries.org_units(user)
    if units.count() > FULL_UNIT_LIST_MAX:
        top_levels = "/" + "[0-9]*/" * 3
        units = units.exclude(path__regex=f"^{top_levels}.")
    return [(unit.key, "\u00a0\u00a0\u00a0" * unit.depth + unit.name) for unit in units]


# -- people ----------------------------------------------------------------------------------


def _people_filters(request, actor) -> dict:
    filters = {
        "q": request.GET.get("q", "").strip(),
        "within": request.GET.get("within", ""),
    }
    status = request.GET.get("status", "")
    if actor.reads_everything and status in Person.Status.values:
        filters["status"] = status
    return filters


def _people_sorts(actor) -> dict:
    return {**PEOPLE_SORTS, **STATUS_SORT} if actor.reads_everything else PEOPLE_SORTS


@login_required
def people(request):
    actor = actor_for(request.user)
    filters = _people_filters(request, actor)
    rows, sort = sort_rows(request, queries.people(request.user, **filters), _people_sorts(actor), "name")
    page = paginate(request, rows)
    _mark_people(request.user, page)
    context = {
        "page": page,
        "sort": sort,
        "filters": filters,
        "unit_choices": _unit_choices(request.user),
        "status_choices": Person.Status.choices if actor.reads_everything else None,
        "filtered": any(filters.values()),
    }
    return render_page(request, "directory/people.html", context, partial="directory/_people_results.html")


@login_required
def people_export(request):
    actor = actor_for(request.user)
    rows, _sort = sort_rows(
        request, queries.people(request.user, **_people_filters(request, actor)), _people_sorts(actor), "name"
    )
    header = ["employee_id", "name", "email", "job_title", "job_role", "team", "team_key", "manager",
              "manager_employee_id", "location", "employment_status", "hire_date"]

    visible_managers = set(
        Person.objects.restrict(request.user, "view")
        .filter(pk__in=rows.order_by().values("manager_id"))
        .values_list("pk", flat=True)
    )

    def lines():
        for person in rows.iterator(chunk_size=1000):
            private = person.private_visible_to(actor)
            team = person.org_unit
            manager = person.manager if person.manager_id in visible_managers else None
            yield [
                person.employee_id, person.name, person.email, person.job_title, person.job_role,
                team and team.name, team and team.key, manager and manager.name,
                manager and manager.employee_id,
                person.location if private else "",
                person.employment_status if private else "",
                person.hire_date if private else "",
            ]

    return csv_response("people.csv", header, lines())


@login_required
def person(request, uid):
    visible = Person.objects.restrict(request.user, "view")
    subject = get_object_or_404(visible.select_related("org_unit"), uid=uid)
    # The reporting chain from the top down to the direct manager, as far as the user may see it.
    chain_ids = path_ids(subject.manager_path)[:-1]
    chain = sorted(visible.filter(pk__in=chain_ids), key=lambda p: chain_ids.index(p.pk))
    manager = chain[-1] if chain and chain[-1].pk == subject.manager_id else None
    reports = _mark_people(request.user, queries.people(request.user, manager=subject.uid))
    _mark_people(request.user, [subject])
    crumbs = [("People", reverse("people"))] + [(p.name, reverse("person", args=[p.uid])) for p in chain]
    context = {"person": subject, "manager": manager, "reports": reports, "crumbs": crumbs}
    return render_page(request, "directory/person.html", context)


# -- org chart and teams ---------------------------------------------------------------------


@dataclass
class OrgNode:
    """An org unit in the chart. `children` is None until loaded (htmx loads it on expand)."""

    unit: OrgUnit
    people: int
    head: Person | None
    has_children: bool
    children: list["OrgNode"] | None = field(default=None)


def _org_nodes(user, units) -> list[OrgNode]:
    """Chart nodes for `units`: visible people in each subtree, the head if visible, children."""
    units = list(units.annotate(active_children=Count("children", filter=Q(children__is_active=True))))
    per_unit = dict(
        queries.people(user).order_by().values_list("org_unit__path").annotate(n=Count("pk"))
    )
    heads = Person.objects.restrict(user, "view").filter(pk__in=[u.manager_id for u in units if u.manager_id])
    visible_heads = {head.pk: head for head in heads}
    return [
        OrgNode(
            unit=unit,
            people=sum(n for path, n in per_unit.items() if path and path.startswith(unit.path)),
            head=visible_heads.get(unit.manager_id),
            has_children=unit.active_children > 0,
        )
        for unit in units
    ]


@login_required
def org_chart(request):
    roots = _org_nodes(request.user, queries.org_units(request.user).filter(parent__isnull=True))
    for root in roots:
        root.children = _org_nodes(request.user, queries.org_units(request.user).filter(parent=root.unit))
    return render_page(request, "directory/org_chart.html", {"roots": roots, "crumbs": []})


@login_required
def org_children(request, uid):
    """The sub-units of one unit, for the org chart's expand control."""
    unit = get_object_or_404(OrgUnit.objects.restrict(request.user, "view"), uid=uid)
    if not request.htmx:
        return redirect("org_unit", uid=unit.uid)
    nodes = _org_nodes(request.user, queries.org_units(request.user).filter(parent=unit))
    return render_page(request, "directory/_org_children.html", {"nodes": nodes})


@login_required
def org_unit(request, uid):
    units = OrgUnit.objects.restrict(request.user, "view")
    unit = get_object_or_404(units, uid=uid)
    ancestors = units.filter(pk__in=path_ids(unit.path)[:-1]).order_by("path")
    head = Person.objects.restrict(request.user, "view").filter(pk=unit.manager_id).first()
    members = paginate(request, queries.people(request.user, org_unit=unit.key))
    _mark_people(request.user, members)
    crumbs = [("Org chart", reverse("org_chart"))] + [(u.name, reverse("org_unit", args=[u.uid])) for u in ancestors]
    context = {
        "unit": unit,
        "head": head,
        "crumbs": crumbs,
        "sub_units": _org_nodes(request.user, queries.org_units(request.user).filter(parent=unit)),
        "members": members,
        "services": queries.services(request.user, owner_team=unit.key),
        "processes": queries.processes(request.user, owner_team=unit.key),
    }
    return render_page(request, "directory/org_unit.html", context)


# -- services and processes ------------------------------------------------------------------


def _owned_filters(request) -> dict:
    return {
        "q": request.GET.get("q", "").strip(),
        "owner_team": request.GET.get("owner_team", ""),
        "include_inactive": request.GET.get("include_inactive") == "on",
    }


def _owned_list(request, query, sorts, template, partial):
    filters = _owned_filters(request)
    rows, sort = sort_rows(request, query(request.user, **filters), sorts, "name")
    context = {
        "page": paginate(request, rows),
        "sort": sort,
        "filters": filters,
        "unit_choices": _unit_choices(request.user),
        "filtered": bool(filters["q"] or filters["owner_team"]),
    }
    return render_page(request, template, context, partial=partial)


def _owned_export(request, query, sorts, filename, extra_header, extra_values):
    rows, _sort = sort_rows(request, query(request.user, **_owned_filters(request)), sorts, "name")
    header = ["key", "name", *extra_header, "owner_team", "owner_team_key", "active", "description"]

    def lines():
        for row in rows.iterator(chunk_size=1000):
            yield [row.key, row.name, *extra_values(row), row.owner_team.name, row.owner_team.key,
                   "yes" if row.is_active else "no", row.description]

    return csv_response(filename, header, lines())


@login_required
def services(request):
    return _owned_list(request, queries.services, SERVICE_SORTS, "directory/services.html",
                       "directory/_services_results.html")


@login_required
def services_export(request):
    return _owned_export(request, queries.services, SERVICE_SORTS, "services.csv", ["tier"],
                         lambda service: [service.tier])


@login_required
def service(request, uid):
    subject = get_object_or_404(Service.objects.restrict(request.user, "view").select_related("owner_team"),
                                uid=uid)
    crumbs = [("Services", reverse("services"))]
    return render_page(request, "directory/service.html", {"service": subject, "crumbs": crumbs})


@login_required
def processes(request):
    return _owned_list(request, queries.processes, PROCESS_SORTS, "directory/processes.html",
                       "directory/_processes_results.html")


@login_required
def processes_export(request):
    return _owned_export(request, queries.processes, PROCESS_SORTS, "processes.csv", [], lambda process: [])


@login_required
def process(request, uid):
    subject = get_object_or_404(Process.objects.restrict(request.user, "view").select_related("owner_team"),
                                uid=uid)
    crumbs = [("Processes", reverse("processes"))]
    return render_page(request, "directory/process.html", {"process": subject, "crumbs": crumbs})
