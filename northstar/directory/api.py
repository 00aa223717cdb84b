"""API: org units, people, services, processes and subjects.

Everything is addressed by its public `uid`; references in request bodies use
business keys (a manager's employee id, an org unit's key).
"""

from datetime import date
from uuid import UUID

from ninja import Field, FilterSchema, Router, Schema
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.api.resources import add_resource
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


def _visible_person_ref(person, actor):
    if person is None or not person.visible_to(actor):
        return None
    return {"uid": person.uid, "name": person.name, "employee_id": person.employee_id}


# -- org units -------------------------------------------------------------------------------


class OrgUnitOut(Schema):
    uid: UUID
    key: str
    name: str
    kind: str
    parent: UnitRef | None
    manager: PersonRef | None = Field(description="The unit's head; null when none, or not visible to you")
    depth: int
    is_active: bool


def org_unit_out(unit: OrgUnit, actor) -> dict:
    return {
        "uid": unit.uid,
        "key": unit.key,
        "name": unit.name,
        "kind": unit.kind,
        "parent": _unit_ref(unit.parent),
        "manager": _visible_person_ref(unit.manager, actor),
        "depth": unit.depth,
        "is_active": unit.is_active,
    }


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
    manager: PersonRef | None = Field(description="null when none, or not visible to you")
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
    org_unit: str | None = Field(None, description="Org unit key: that unit's members")
    within: str | None = Field(None, description="Org unit key: everyone in that unit and the units below it")
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
        "manager": _visible_person_ref(person.manager, actor),
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


add_resource(router, resolve=queries.resolve_references,
             path="/org-units", name="org_units", model=OrgUnit, out=OrgUnitOut, create_in=OrgUnitIn,
             patch_in=OrgUnitPatch, filters=OrgUnitFilter, listing=queries.org_units,
             create=services.do_create_org_unit, update=services.do_update_org_unit,
             deactivate=services.do_deactivate_org_unit, render=org_unit_out)
add_resource(router, resolve=queries.resolve_references,
             path="/people", name="people", model=Person, out=PersonOut, create_in=PersonIn,
             patch_in=PersonPatch, filters=PersonFilter, listing=queries.people,
             create=services.do_create_person, update=services.do_update_person,
             deactivate=services.do_deactivate_person, render=person_out)
add_resource(router, resolve=queries.resolve_references,
             path="/services", name="services", model=Service, out=ServiceOut, create_in=ServiceIn,
             patch_in=ServicePatch, filters=OwnedFilter, listing=queries.services,
             create=services.do_create_service, update=services.do_update_service,
             deactivate=services.do_deactivate_service)
add_resource(router, resolve=queries.resolve_references,
             path="/processes", name="processes", model=Process, out=ProcessOut, create_in=ProcessIn,
             patch_in=ProcessPatch, filters=OwnedFilter, listing=queries.processes,
             create=services.do_create_process, update=services.do_update_process,
             deactivate=services.do_deactivate_process)


@router.get("/subjects", response={200: list[SubjectOut], **ERRORS}, tags=["subjects"])
@paginate
def list_subjects(request, kind: Subject.Kind | None = None):
    return queries.subjects(request.auth, kind=kind)
