"""API tokens: shown once, stored hashed, scoped, expiring, revocable."""

from datetime import timedelta

from django.utils import timezone

from northstar.audit.models import AuditEvent
from northstar.core.models import ApiToken

COVERS = [ApiToken]


def test_token_is_shown_once_and_stored_hashed(org, api):
    created = api(org.hr).post("/tokens", {"name": "HRIS sync", "scope": "write", "days": 30})
    assert created.status_code == 201
    token = created.json()["token"]
    row = ApiToken.objects.get(uid=created.json()["uid"])
    assert token not in (row.digest, row.key_id) and row.digest == ApiToken.digest_of(token)
    listing = api(org.hr).get("/tokens").json()["items"]
    assert "token" not in listing[0]
    assert AuditEvent.objects.filter(action="token_created", object_id=str(row.uid)).exists()


def test_read_token_reads_but_cannot_write(org, api, token_for):
    client = api(token=token_for(org.hr, "read"))
    assert client.get("/people").status_code == 200
    response = client.post("/people", {"employee_id": "E200", "name": "T", "email": "t@acme.test"})
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]["message"]
    assert not org.people["peer"].__class__.objects.filter(employee_id="E200").exists()


def test_write_token_writes_as_its_user(org, api, token_for):
    client = api(token=token_for(org.hr, "write"))
    response = client.post("/people", {"employee_id": "E201", "name": "T", "email": "t@acme.test"})
    assert response.status_code == 201
    assert AuditEvent.objects.get(action="create", object_id=response.json()["uid"]).actor == "hr"


def test_token_carries_its_users_visibility(org, api, token_for):
    client = api(token=token_for(org.outsider, "read"))
    assert client.get(f"/people/{org.people['employee'].uid}").status_code == 404


def test_revoked_token_is_refused(org, api, token_for):
    token = token_for(org.employee, "read")
    client = api(token=token)
    assert client.get("/me").status_code == 200
    uid = api(org.employee).get("/tokens").json()["items"][0]["uid"]
    assert api(org.employee).post(f"/tokens/{uid}/revoke").json()["status"] == "revoked"
    assert client.get("/me").status_code == 401
    assert AuditEvent.objects.filter(action="token_revoked").count() == 1


def test_expired_token_is_refused(org, api, token_for):
    token = token_for(org.employee, "read")
    ApiToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert api(token=token).get("/me").status_code == 401


def test_forged_and_malformed_tokens_are_refused(org, api, token_for):
    token = token_for(org.employee, "read")
    assert api(token=token[:-2] + "xx").get("/me").status_code == 401
    assert api(token="nonsense").get("/me").status_code == 401


def test_cannot_revoke_someone_elses_token(org, api, token_for):
    token_for(org.employee, "read")
    uid = ApiToken.objects.get().uid
    assert api(org.peer).post(f"/tokens/{uid}/revoke").status_code == 404
    assert ApiToken.objects.get().revoked is None


def test_token_validation_names_fields(org, api):
    response = api(org.employee).post("/tokens", {"name": " ", "scope": "read", "days": 1000})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"name", "days"}
    response = api(org.employee).post("/tokens", {"name": "x", "scope": "admin"})
    assert response.status_code == 422 and "scope" in response.json()["error"]["fields"]


def test_inactive_user_token_is_refused(org, api, token_for):
    token = token_for(org.employee, "read")
    org.employee.is_active = False
    org.employee.save()
    assert api(token=token).get("/me").status_code == 401
