"""API: org units, people, services, processes and subjects.

Everything is addressed by its public `uid`; references in request bodies use
business keys (a manager's employee id, an org unit's key).
"""

from datetime import date
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, FilterSchema, Query, Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.core.roles import actor_for
from northstar.directory import queries, services
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject

router = Router(tags=["directory"])


class Ref(Schema):
    uid: UUID
    name: str


class UnitRef(Ref):
    key: str


class PersonRef(Ref):
    employee_id: str


def _unit_ref(unit):
    return unit and {"uid": unit.uid, "name": unit.name, "key": unit.key}


def _person_ref(person):
    return person and {"uid": person.uid, "name": person.name, "employee_id": person.employee_id}


# -- org units -------------------------------------------------------------------------------


class OrgUnitOut(Schema):
    uid: UUID
    key: str
    name: str
    kind: str
    parent: UnitRef | None
    manager: PersonRef | None
    depth: int
    is_active: bool

    @staticmethod
    def resolve_parent(obj):
        return _unit_ref(obj.parent)

    @staticmethod
    def resolve_manager(obj):
        return _person_ref(obj.manager)


class OrgUnitIn(Schema):
    key: str = Field(..., max_length=64, description="Stable code, e.g. from the HR system")
    name: str = Field(..., max_length=200)
    kind: OrgUnit.Kind = OrgUnit.Kind.TEAM
    parent: str | None = Field(None, description="Parent unit's key")
    manager: str | None = Field(None, description="Unit head's employee id")


class OrgUnitPatch(Schema):
    key: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    kind: OrgUnit.Kind | None = None
    parent: str | None = None
    manager: str | None = None


class OrgUnitFilter(FilterSchema):
    q: str | None = None
    parent: str | None = Field(None, description="Parent unit's key")
    include_inactive: bool = False


# -- people ----------------------------------------------------------------------------------


class PersonOut(Schema):
    uid: UUID
    employee_id: str
    name: str
    email: str
    job_title: str
    job_role: str
    manager: PersonRef | None
    org_unit: UnitRef | None
    private_visible: bool = Field(description="False when the private fields below are withheld from you")
    location: str | None
    employment_status: str | None
    hire_date: date | None


class PersonIn(Schema):
    employee_id: str = Field(..., max_length=64)
    name: str = Field(..., max_length=200)
    email: str
    job_title: str = ""
    job_role: str = ""
    manager: str | None = Field(None, description="Manager's employee id")
    org_unit: str | None = Field(None, description="Org unit key")
    location: str = ""
    employment_status: Person.Status = Person.Status.ACTIVE
    hire_date: date | None = None


class PersonPatch(Schema):
    employee_id: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    email: str | None = None
    job_title: str | None = None
    job_role: str | None = None
    manager: str | None = None
    org_unit: str | None = None
    location: str | None = None
    employment_status: Person.Status | None = None
    hire_date: date | None = None


class PersonFilter(FilterSchema):
    q: str | None = Field(None, description="Name, email, job title or employee id")
    org_unit: str | None = Field(None, description="Org unit key")
    manager: UUID | None = Field(None, description="Manager's uid: direct reports")
    status: Person.Status | None = None
    include_inactive: bool = False


def person_out(person: Person, actor) -> dict:
    private = person.private_visible_to(actor)
    return {
        "uid": person.uid,
        "employee_id": person.employee_id,
        "name": person.name,
        "email": person.email,
        "job_title": person.job_title,
        "job_role": person.job_role,
        "manager": _person_ref(person.manager),
        "org_unit": _unit_ref(person.org_unit),
        "private_visible": private,
        "location": person.location if private else None,
        "employment_status": person.employment_status if private else None,
        "hire_date": person.hire_date if private else None,
    }


# -- services and processes ------------------------------------------------------------------


class ServiceOut(Schema):
    uid: UUID
    key: str
    name: str
    tier: int
    owner_team: UnitRef
    description: str
    is_active: bool

    @staticmethod
    def resolve_owner_team(obj):
        return _unit_ref(obj.owner_team)


class ServiceIn(Schema):
    key: str = Field(..., max_length=64)
    name: str = Field(..., max_length=200)
    tier: Service.Tier = Service.Tier.TIER_2
    owner_team: str = Field(..., description="Owner team's org unit key")
    description: str = ""


class ServicePatch(Schema):
    key: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    tier: Service.Tier | None = None
    owner_team: str | None = None
    description: str | None = None


class ProcessOut(Schema):
    uid: UUID
    key: str
    name: str
    owner_team: UnitRef
    description: str
    is_active: bool

    @staticmethod
    def resolve_owner_team(obj):
        return _unit_ref(obj.owner_team)


class ProcessIn(Schema):
    key: str = Field(..., max_length=64)
    name: str = Field(..., max_length=200)
    owner_team: str = Field(..., description="Owner team's org unit key")
    description: str = ""


class ProcessPatch(Schema):
    key: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    owner_team: str | None = None
    description: str | None = None


class OwnedFilter(FilterSchema):
    q: str | None = None
    owner_team: str | None = Field(None, description="Owner team's org unit key")
    include_inactive: bool = False


class SubjectOut(Schema):
    uid: UUID
    kind: str
    name: str
    target_uid: UUID

    @staticmethod
    def resolve_name(obj):
        return str(obj.target)

    @staticmethod
    def resolve_target_uid(obj):
        return obj.target.uid


# -- handlers --------------------------------------------------------------------------------


def _values(user, payload: Schema, partial: bool) -> dict:
    values = payload.model_dump(exclude_unset=partial)
    return queries.resolve_references(user, values)


def _get(model, user, uid: UUID):
    return get_object_or_404(model.objects.restrict(user, "view"), uid=uid)


@router.get("/org-units", response={200: list[OrgUnitOut], **ERRORS}, tags=["org units"])
@paginate
def list_org_units(request, filters: Query[OrgUnitFilter]):
    return queries.org_units(request.auth, **filters.model_dump())


@router.get("/org-units/{uid}", response={200: OrgUnitOut, **ERRORS}, tags=["org units"])
def get_org_unit(request, uid: UUID):
    return _get(OrgUnit, request.auth, uid)


@router.post("/org-units", response={201: OrgUnitOut, **ERRORS}, tags=["org units"])
def create_org_unit(request, payload: OrgUnitIn):
    unit = services.do_create_org_unit(acting_user=request.auth, **_values(request.auth, payload, False))
    return Status(201, unit)


@router.patch("/org-units/{uid}", response={200: OrgUnitOut, **ERRORS}, tags=["org units"])
def update_org_unit(request, uid: UUID, payload: OrgUnitPatch):
    unit = _get(OrgUnit, request.auth, uid)
    return services.do_update_org_unit(unit, acting_user=request.auth, **_values(request.auth, payload, True))


@router.post("/org-units/{uid}/deactivate", response={200: OrgUnitOut, **ERRORS}, tags=["org units"])
def deactivate_org_unit(request, uid: UUID):
    return services.do_deactivate_org_unit(_get(OrgUnit, request.auth, uid), acting_user=request.auth)


@router.get("/people", response={200: list[PersonOut], **ERRORS}, tags=["people"])
@paginate
def list_people(request, filters: Query[PersonFilter]):
    actor = actor_for(request.auth)
    rows = queries.people(request.auth, **filters.model_dump())
    return _PersonPage(rows, actor)


@router.get("/people/{uid}", response={200: PersonOut, **ERRORS}, tags=["people"])
def get_person(request, uid: UUID):
    return person_out(_get(Person, request.auth, uid), actor_for(request.auth))


@router.post("/people", response={201: PersonOut, **ERRORS}, tags=["people"])
def create_person(request, payload: PersonIn):
    person = services.do_create_person(acting_user=request.auth, **_values(request.auth, payload, False))
    return Status(201, person_out(person, actor_for(request.auth)))


@router.patch("/people/{uid}", response={200: PersonOut, **ERRORS}, tags=["people"])
def update_person(request, uid: UUID, payload: PersonPatch):
    person = _get(Person, request.auth, uid)
    person = services.do_update_person(person, acting_user=request.auth, **_values(request.auth, payload, True))
    return person_out(person, actor_for(request.auth))


@router.post("/people/{uid}/deactivate", response={200: PersonOut, **ERRORS}, tags=["people"])
def deactivate_person(request, uid: UUID):
    person = services.do_deactivate_person(_get(Person, request.auth, uid), acting_user=request.auth)
    return person_out(person, actor_for(request.auth))


@router.get("/services", response={200: list[ServiceOut], **ERRORS}, tags=["services"])
@paginate
def list_services(request, filters: Query[OwnedFilter]):
    return queries.services(request.auth, **filters.model_dump())


@router.get("/services/{uid}", response={200: ServiceOut, **ERRORS}, tags=["services"])
def get_service(request, uid: UUID):
    return _get(Service, request.auth, uid)


@router.post("/services", response={201: ServiceOut, **ERRORS}, tags=["services"])
def create_service(request, payload: ServiceIn):
    service = services.do_create_service(acting_user=request.auth, **_values(request.auth, payload, False))
    return Status(201, service)


@router.patch("/services/{uid}", response={200: ServiceOut, **ERRORS}, tags=["services"])
def update_service(request, uid: UUID, payload: ServicePatch):
    service = _get(Service, request.auth, uid)
    return services.do_update_service(service, acting_user=request.auth, **_values(request.auth, payload, True))


@router.post("/services/{uid}/deactivate", response={200: ServiceOut, **ERRORS}, tags=["services"])
def deactivate_service(request, uid: UUID):
    return services.do_deactivate_service(_get(Service, request.auth, uid), acting_user=request.auth)


@router.get("/processes", response={200: list[ProcessOut], **ERRORS}, tags=["processes"])
@paginate
def list_processes(request, filters: Query[OwnedFilter]):
    return queries.processes(request.auth, **filters.model_dump())


@router.get("/processes/{uid}", response={200: ProcessOut, **ERRORS}, tags=["processes"])
def get_process(request, uid: UUID):
    return _get(Process, request.auth, uid)


@router.post("/processes", response={201: ProcessOut, **ERRORS}, tags=["processes"])
def create_process(request, payload: ProcessIn):
    process = services.do_create_process(acting_user=request.auth, **_values(request.auth, payload, False))
    return Status(201, process)


@router.patch("/processes/{uid}", response={200: ProcessOut, **ERRORS}, tags=["processes"])
def update_process(request, uid: UUID, payload: ProcessPatch):
    process = _get(Process, request.auth, uid)
    return services.do_update_process(process, acting_user=request.auth, **_values(request.auth, payload, True))


@router.post("/processes/{uid}/deactivate", response={200: ProcessOut, **ERRORS}, tags=["processes"])
def deactivate_process(request, uid: UUID):
    return services.do_deactivate_process(_get(Process, request.auth, uid), acting_user=request.auth)


@router.get("/subjects", response={200: list[SubjectOut], **ERRORS}, tags=["subjects"])
@paginate
def list_subjects(request, kind: Subject.Kind | None = None):
    return queries.subjects(request.auth, kind=kind)


class _PersonPage:
    """A queryset that renders people with private fields withheld per row, after slicing."""

    def __init__(self, rows, actor):
        self.rows, self.actor = rows, actor

    def count(self):
        return self.rows.count()

    def __len__(self):
        return self.count()

    def __getitem__(self, item):
        return [person_out(p, self.actor) for p in self.rows[item]]
