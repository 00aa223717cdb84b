"""API: periods, perspectives, objectives, key results and check-ins."""

from datetime import date, datetime
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, FilterSchema, Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.api.resources import add_resource, get_visible
from northstar.directory.api import PersonRef
from northstar.goals import queries, services
from northstar.goals.models import KeyResult, Objective, Period, Perspective

router = Router(tags=["plan"])


class PeriodOut(Schema):
    uid: UUID
    key: str
    name: str
    kind: str
    start: date
    end: date = Field(description="The first day after the period")


class PeriodIn(Schema):
    key: str = Field(..., max_length=64)
    name: str = Field(..., max_length=100)
    kind: Period.Kind = Period.Kind.CUSTOM
    start: date
    end: date


class FiscalYearIn(Schema):
    year: int = Field(..., ge=1900, le=2999, description="FY named after the calendar year it ends in")


class PerspectiveOut(Schema):
    uid: UUID
    key: str
    name: str
    description: str
    order: int
    weight: float


class PlanRef(Schema):
    uid: UUID
    key: str
    name: str


class MeasureRef(Schema):
    uid: UUID
    key: str
    name: str
    unit: str
    is_manual: bool


class KeyResultOut(Schema):
    uid: UUID
    key: str
    title: str
    weight: float
    order: int
    measure: MeasureRef


class ObjectiveOut(Schema):
    uid: UUID
    key: str
    title: str
    description: str
    subject: PlanRef
    period: PlanRef
    perspective: PlanRef | None
    parent: PlanRef | None
    rolls_up: bool
    weight: float
    owner: PersonRef | None
    contributors: list[PersonRef]
    status_rule: str
    on_track: float
    at_risk: float
    is_active: bool
    key_results: list[KeyResultOut]


def _ref(obj, name_attr="name"):
    return obj and {"uid": obj.uid, "key": getattr(obj, "key", str(obj.uid)), "name": str(getattr(obj, name_attr))}


def objective_out(objective: Objective, actor=None) -> dict:
    subject = objective.subject
    return {
        "uid": objective.uid, "key": objective.key, "title": objective.title,
        "description": objective.description,
        "subject": {"uid": subject.uid, "key": subject.kind, "name": str(subject.target)},
        "period": _ref(objective.period), "perspective": _ref(objective.perspective),
        "parent": _ref(objective.parent, "title"), "rolls_up": objective.rolls_up, "weight": objective.weight,
        "owner": objective.owner and {"uid": objective.owner.uid, "employee_id": objective.owner.employee_id,
                                      "name": objective.owner.name},
        "contributors": [{"uid": p.uid, "employee_id": p.employee_id, "name": p.name}
                         for p in objective.contributors.all()],
        "status_rule": objective.status_rule, "on_track": objective.on_track, "at_risk": objective.at_risk,
        "is_active": objective.is_active,
        "key_results": list(objective.key_results.all()),
    }


class ObjectiveIn(Schema):
    title: str = Field(..., max_length=300)
    key: str | None = Field(None, max_length=100, description="Stable key; generated from the title if left out")
    description: str = ""
    subject: UUID = Field(..., description="The uid of the subject (person, org unit, service, process)")
    period: str = Field(..., description="Period key")
    perspective: str | None = Field(None, description="Perspective key")
    parent: str | None = Field(None, description="Key of the objective this one aligns to")
    rolls_up: bool = False
    weight: float = Field(1.0, ge=0)
    owner: str | None = Field(None, description="Owner's employee id")
    contributors: list[str] | None = Field(None, description="Employee ids")
    status_rule: Objective.StatusRule = Objective.StatusRule.WEIGHTED
    on_track: float = Field(1.0, ge=0)
    at_risk: float = Field(0.8, ge=0)


class ObjectivePatch(Schema):
    title: str | None = Field(None, max_length=300)
    key: str | None = Field(None, max_length=100)
    description: str | None = None
    period: str | None = None
    perspective: str | None = None
    parent: str | None = None
    rolls_up: bool | None = None
    weight: float | None = Field(None, ge=0)
    owner: str | None = None
    contributors: list[str] | None = None
    status_rule: Objective.StatusRule | None = None
    on_track: float | None = Field(None, ge=0)
    at_risk: float | None = Field(None, ge=0)


class ObjectiveFilter(FilterSchema):
    q: str | None = None
    subject: UUID | None = Field(None, description="Subject uid")
    period: str | None = Field(None, description="Period key")
    perspective: str | None = None
    parent: str | None = Field(None, description="Parent objective key: the objectives aligned to it")
    owner: str | None = Field(None, description="Owner's employee id")
    include_inactive: bool = False


class KeyResultIn(Schema):
    title: str = Field(..., max_length=300)
    key: str | None = Field(None, max_length=100)
    measure: str | None = Field(None, description="Key of the measure behind it; leave out for a one-off")
    weight: float = Field(1.0, ge=0)
    order: int = Field(0, ge=0)
    start_value: float = Field(0.0, description="One-off key results: where progress starts")
    target_value: float = Field(100.0, description="One-off key results: the value to reach")
    unit: str = Field("%", max_length=32, description="One-off key results: the unit of progress")


class KeyResultPatch(Schema):
    title: str | None = Field(None, max_length=300)
    weight: float | None = Field(None, ge=0)
    order: int | None = Field(None, ge=0)


class CheckInIn(Schema):
    key_result: UUID | None = Field(None, description="The key result this check-in reports on")
    progress: float | None = Field(None, description="Current value of a one-off key result")
    confidence: int | None = Field(None, ge=0, le=10)
    comment: str = ""


class CheckInOut(Schema):
    uid: UUID
    created: datetime
    author: str | None
    key_result: UUID | None
    progress: float | None
    confidence: int | None
    comment: str

    @staticmethod
    def resolve_author(obj):
        return obj.author.get_username() if obj.author else None

    @staticmethod
    def resolve_key_result(obj):
        return obj.key_result.uid if obj.key_result else None


@router.get("/periods", response={200: list[PeriodOut], **ERRORS})
@paginate
def list_periods(request, kind: Period.Kind | None = None, containing: date | None = None):
    return queries.periods(request.auth, kind=kind, containing=containing)


@router.post("/periods", response={201: PeriodOut, **ERRORS})
def create_period(request, payload: PeriodIn):
    return Status(201, services.do_create_period(acting_user=request.auth, **payload.model_dump()))


@router.post("/periods/fiscal-year", response={201: list[PeriodOut], **ERRORS},
             description="Create the fiscal year with its quarters and months (existing ones are kept).")
def create_fiscal_year(request, payload: FiscalYearIn):
    return Status(201, services.do_create_fiscal_year(payload.year, acting_user=request.auth))


class PerspectiveIn(Schema):
    key: str = Field(..., max_length=64)
    name: str = Field(..., max_length=100)
    description: str = ""
    order: int = Field(0, ge=0)
    weight: float = Field(1.0, ge=0, description="Weight in the scorecard's roll-up")


class PerspectivePatch(Schema):
    name: str | None = Field(None, max_length=100)
    description: str | None = None
    order: int | None = Field(None, ge=0)
    weight: float | None = Field(None, ge=0)


@router.get("/perspectives", response={200: list[PerspectiveOut], **ERRORS})
def list_perspectives(request):
    return Perspective.objects.restrict(request.auth, "view")


@router.post("/perspectives", response={201: PerspectiveOut, **ERRORS},
             description="Add a balanced-scorecard perspective (administrators).")
def create_perspective(request, payload: PerspectiveIn):
    return Status(201, services.do_create_perspective(acting_user=request.auth, **payload.model_dump()))


@router.patch("/perspectives/{key}", response={200: PerspectiveOut, **ERRORS})
def update_perspective(request, key: str, payload: PerspectivePatch):
    perspective = get_object_or_404(Perspective.objects.restrict(request.auth, "view"), key=key)
    return services.do_update_perspective(perspective, acting_user=request.auth,
                                          **payload.model_dump(exclude_unset=True))


add_resource(router, resolve=queries.resolve_references, path="/objectives", name="objectives", model=Objective,
             out=ObjectiveOut, create_in=ObjectiveIn, patch_in=ObjectivePatch, filters=ObjectiveFilter,
             listing=queries.objectives, create=services.do_create_objective,
             update=services.do_update_objective, deactivate=services.do_deactivate_objective,
             render=objective_out)


@router.post("/objectives/{uid}/key-results", response={201: KeyResultOut, **ERRORS})
def create_key_result(request, uid: UUID, payload: KeyResultIn):
    objective = get_visible(Objective, request.auth, uid)
    values = queries.resolve_references(request.auth, payload.model_dump())
    return Status(201, services.do_create_key_result(acting_user=request.auth, objective=objective, **values))


@router.patch("/key-results/{uid}", response={200: KeyResultOut, **ERRORS})
def update_key_result(request, uid: UUID, payload: KeyResultPatch):
    key_result = get_visible(KeyResult, request.auth, uid)
    return services.do_update_key_result(key_result, acting_user=request.auth,
                                         **payload.model_dump(exclude_unset=True))


@router.get("/objectives/{uid}/check-ins", response={200: list[CheckInOut], **ERRORS})
@paginate
def list_check_ins(request, uid: UUID):
    return queries.check_ins(request.auth, get_visible(Objective, request.auth, uid))


@router.post("/objectives/{uid}/check-ins", response={201: CheckInOut, **ERRORS})
def check_in(request, uid: UUID, payload: CheckInIn):
    objective = get_visible(Objective, request.auth, uid)
    key_result = get_visible(KeyResult, request.auth, payload.key_result) if payload.key_result else None
    return Status(201, services.do_check_in(acting_user=request.auth, objective=objective, key_result=key_result,
                                            progress=payload.progress, confidence=payload.confidence,
                                            comment=payload.comment))
