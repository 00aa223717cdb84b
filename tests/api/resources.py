"""Reusable API permission tests per resource (anonymous, no permission, permitted, out of scope).

A test class subclasses `APIResourceTests`, names its `model`, `path` and the
actors, and inherits the whole matrix; tests/test_model_coverage.py checks that
every model has one (or a view test, or a stated reason).
"""

from northstar.audit.models import AuditEvent


class APIResourceTests:
    model = None
    path = ""
    writer = "admin"  # an actor who may create and change
    reader_without_write = "employee"  # an actor who may read but not write
    create_payload: dict = {}
    update_payload: dict = {}

    def existing(self, org):
        """An object every authenticated actor in the fixture may view."""
        raise NotImplementedError

    def create_body(self, org) -> dict:
        return self.create_payload

    def update_body(self, org) -> dict:
        return self.update_payload

    def out_of_scope(self, org):
        """(actor, object) where the object exists but the actor may not view it, or None."""
        return None

    def test_anonymous_gets_401(self, org, api):
        client = api()
        for response in (client.get(self.path), client.get(f"{self.path}/{self.existing(org).uid}"),
                         client.post(self.path, self.create_body(org))):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthenticated"

    def test_reader_lists_and_gets(self, org, api):
        existing = self.existing(org)
        client = api(getattr(org, self.reader_without_write))
        listing = client.get(self.path)
        assert listing.status_code == 200
        assert str(existing.uid) in {item["uid"] for item in listing.json()["items"]}
        assert client.get(f"{self.path}/{existing.uid}").status_code == 200

    def test_reader_without_permission_cannot_write(self, org, api):
        self.existing(org)
        client = api(getattr(org, self.reader_without_write))
        before = self.model.objects.count()
        created = client.post(self.path, self.create_body(org))
        assert created.status_code == 403
        assert created.json()["error"]["code"] == "forbidden"
        updated = client.patch(f"{self.path}/{self.existing(org).uid}", self.update_body(org))
        assert updated.status_code == 403
        assert self.model.objects.count() == before
        assert AuditEvent.objects.filter(action="permission_denied").count() >= 2

    def test_writer_creates_updates_and_deactivates_with_audit(self, org, api):
        client = api(getattr(org, self.writer))
        created = client.post(self.path, self.create_body(org))
        assert created.status_code == 201, created.content
        uid = created.json()["uid"]
        assert AuditEvent.objects.filter(action="create", object_id=uid).exists()
        updated = client.patch(f"{self.path}/{uid}", self.update_body(org))
        assert updated.status_code == 200, updated.content
        for name, value in self.update_body(org).items():
            assert _field(updated.json(), name) == value
        assert AuditEvent.objects.filter(action="update", object_id=uid).exists()
        deactivated = client.post(f"{self.path}/{uid}/deactivate")
        assert deactivated.status_code == 200, deactivated.content
        assert AuditEvent.objects.filter(action="deactivate", object_id=uid).exists()

    def test_out_of_scope_object_is_404(self, org, api):
        case = self.out_of_scope(org)
        if case is None:
            return  # everyone who is signed in may view every object of this kind
        actor, obj = case
        client = api(getattr(org, actor))
        assert client.get(f"{self.path}/{obj.uid}").status_code == 404
        assert str(obj.uid) not in {item["uid"] for item in client.get(self.path).json()["items"]}
        assert client.patch(f"{self.path}/{obj.uid}", self.update_body(org)).status_code == 404

    def test_unknown_uid_is_404_with_error_body(self, org, api):
        response = api(org.admin).get(f"{self.path}/00000000-0000-4000-8000-000000000000")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def _field(body: dict, name: str):
    value = body[name]
    return value["key"] if isinstance(value, dict) and "key" in value else value
