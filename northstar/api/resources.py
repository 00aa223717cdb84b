"""The five operations of a resource (list, get, create, update, deactivate), built the same way for every kind."""

from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.core.roles import actor_for


def get_visible(model, user, uid: UUID):
    return get_object_or_404(model.objects.restrict(user, "view"), uid=uid)


def _as_is(obj, actor):
    return obj


def add_resource(router: Router, *, resolve, path: str, name: str, model, out, create_in, patch_in, filters,
                 listing, create, update, deactivate, render=_as_is):
    """The five directory operations for one kind: list, get, create, update, deactivate.

    Each kind differs only in its schemas, query and services; the HTTP shape,
    permissions (inside the services and queries) and error handling are one.
    `resolve(user, values)` turns business keys in a request body into objects.
    """

    def values_of(user, payload: Schema, partial: bool) -> dict:
        return resolve(user, payload.model_dump(exclude_unset=partial))

    tags = [name.replace("_", " ")]

    @router.get(path, response={200: list[out], **ERRORS}, tags=tags, operation_id=f"list_{name}")
    @paginate
    def list_objects(request, filters: Query[filters]):
        return _Rendered(listing(request.auth, **filters.model_dump()), render, actor_for(request.auth))

    @router.get(f"{path}/{{uid}}", response={200: out, **ERRORS}, tags=tags, operation_id=f"get_{name}")
    def get_object(request, uid: UUID):
        return render(get_visible(model, request.auth, uid), actor_for(request.auth))

    @router.post(path, response={201: out, **ERRORS}, tags=tags, operation_id=f"create_{name}")
    def create_object(request, payload: create_in):
        obj = create(acting_user=request.auth, **values_of(request.auth, payload, False))
        return Status(201, render(obj, actor_for(request.auth)))

    @router.patch(f"{path}/{{uid}}", response={200: out, **ERRORS}, tags=tags, operation_id=f"update_{name}")
    def update_object(request, uid: UUID, payload: patch_in):
        obj = get_visible(model, request.auth, uid)
        obj = update(obj, acting_user=request.auth, **values_of(request.auth, payload, True))
        return render(obj, actor_for(request.auth))

    @router.post(f"{path}/{{uid}}/deactivate", response={200: out, **ERRORS}, tags=tags,
                 operation_id=f"deactivate_{name}")
    def deactivate_object(request, uid: UUID):
        obj = deactivate(get_visible(model, request.auth, uid), acting_user=request.auth)
        return render(obj, actor_for(request.auth))


class _Rendered:
    """A queryset whose rows are rendered after pagination slices it (e.g. private fields per row)."""

    def __init__(self, rows, render, actor):
        self.rows, self.render, self.actor = rows, render, actor

    def count(self):
        return self.rows.count()

    def __len__(self):
        return self.count()

    def __getitem__(self, item):
        return [self.render(obj, self.actor) for obj in self.rows[item]]
