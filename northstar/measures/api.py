"""API: measures (KPIs) and their targets."""

from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, FilterSchema, Router, Schema

from northstar.api.errors import ERRORS
from northstar.api.resources import add_resource, get_visible
from northstar.goals import queries as goal_queries
from northstar.goals.models import Period
from northstar.measures import queries, services
from northstar.measures.models import Measure

router = Router(tags=["measures"])


class SubjectRef(Schema):
    uid: UUID
    kind: str
    name: str


class MeasureOut(Schema):
    uid: UUID
    key: str
    name: str
    description: str
    unit: str
    subject: SubjectRef
    polarity: str
    aggregation: str
    tracking: str = Field(description="As set; blank means the default for the aggregation")
    effective_tracking: str
    is_manual: bool
    metric_selector: str
    is_active: bool

    @staticmethod
    def resolve_subject(obj):
        return {"uid": obj.subject.uid, "kind": obj.subject.kind, "name": str(obj.subject.target)}


class MeasureIn(Schema):
    key: str = Field(..., max_length=100)
    name: str = Field(..., max_length=200)
    description: str = ""
    unit: str = Field("", max_length=32)
    subject: UUID = Field(..., description="Subject uid")
    polarity: Measure.Polarity = Measure.Polarity.INCREASE
    aggregation: Measure.Aggregation = Measure.Aggregation.LAST
    tracking: Measure.Tracking | None = None
    metric_selector: str = Field("", max_length=500)


class MeasurePatch(Schema):
    key: str | None = Field(None, max_length=100)
    name: str | None = Field(None, max_length=200)
    description: str | None = None
    unit: str | None = Field(None, max_length=32)
    polarity: Measure.Polarity | None = None
    aggregation: Measure.Aggregation | None = None
    tracking: Measure.Tracking | None = None
    metric_selector: str | None = Field(None, max_length=500)


class MeasureFilter(FilterSchema):
    q: str | None = None
    subject: UUID | None = Field(None, description="Subject uid")
    include_inactive: bool = False
    include_manual: bool = Field(False, description="Include the measures behind one-off key results")


class TargetIn(Schema):
    target: float | None = None
    baseline: float | None = None
    lower: float | None = None
    upper: float | None = None
    tolerance: float | None = Field(None, ge=0)
    on_track: float = Field(1.0, ge=0)
    at_risk: float = Field(0.8, ge=0)
    cap: float = Field(1.0, ge=0, le=2)


class TargetOut(TargetIn):
    period: str

    @staticmethod
    def resolve_period(obj):
        return obj.period.key


def _resolve(user, values: dict) -> dict:
    values = goal_queries.resolve_references(user, values)
    if values.get("tracking") is None and "tracking" in values:
        values["tracking"] = ""
    return values


add_resource(router, resolve=_resolve, path="/measures", name="measures", model=Measure, out=MeasureOut,
             create_in=MeasureIn, patch_in=MeasurePatch, filters=MeasureFilter, listing=queries.measures,
             create=services.do_create_measure, update=services.do_update_measure,
             deactivate=services.do_deactivate_measure)


@router.get("/measures/{uid}/targets", response={200: list[TargetOut], **ERRORS})
def list_targets(request, uid: UUID):
    return queries.targets(request.auth, get_visible(Measure, request.auth, uid))


@router.put("/measures/{uid}/targets/{period}", response={200: TargetOut, **ERRORS},
            description="Set (create or replace) the measure's target for the period with this key.")
def set_target(request, uid: UUID, period: str, payload: TargetIn):
    measure = get_visible(Measure, request.auth, uid)
    period_obj = get_object_or_404(Period.objects.restrict(request.auth, "view"), key=period)
    return services.do_set_target(measure, period_obj, acting_user=request.auth, **payload.model_dump())
