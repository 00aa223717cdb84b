"""Users and role grants through the API: administrators only, audited."""

from django.contrib.auth import get_user_model

from northstar.audit.models import AuditEvent
from northstar.core.models import RoleGrant
from northstar.core.roles import actor_for

COVERS = [RoleGrant]


def test_admin_creates_user_with_roles_and_grants_and_revokes(org, api):
    client = api(org.admin)
    created = client.post("/users", {"username": "ivy", "email": "ivy@acme.test", "password": "a long passphrase",
                                     "roles": ["auditor"]})
    assert created.status_code == 201, created.content
    assert created.json()["roles"] == ["auditor"]
    granted = client.post("/users/ivy/roles", {"role": "hr"})
    assert granted.json()["roles"] == ["auditor", "hr"]
    revoked = client.request("delete", "/users/ivy/roles/auditor")
    assert revoked.json()["roles"] == ["hr"]
    ivy = get_user_model().objects.get(username="ivy")
    assert actor_for(ivy).roles == {"hr"}
    assert AuditEvent.objects.filter(object_type="core.rolegrant").count() == 3


def test_non_admins_cannot_manage_users(org, api):
    for actor in ("hr", "auditor", "employee"):
        client = api(getattr(org, actor))
        assert client.get("/users").status_code == 403
        assert client.post("/users/employee/roles", {"role": "admin"}).status_code == 403
    assert not RoleGrant.objects.filter(user=org.employee, role="admin").exists()


def test_unknown_role_is_422(org, api):
    response = api(org.admin).post("/users/employee/roles", {"role": "king"})
    assert response.status_code == 422
    assert "role" in response.json()["error"]["fields"]


def test_taken_username_is_422(org, api):
    response = api(org.admin).post("/users", {"username": "employee"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"username": ["'employee' is taken."]}


def test_account_linked_to_a_person_signs_in_as_them(org, api):
    from northstar.directory import services

    services.do_create_person(employee_id="E300", name="Lia Linked", email="lia@acme.test",
                              org_unit=org.units.platform, acting_user=org.hr)
    created = api(org.admin).post("/users", {"username": "lia", "password": "a long passphrase",
                                             "employee_id": "E300"})
    assert created.status_code == 201, created.content
    lia = get_user_model().objects.get(username="lia")
    assert lia.email == "lia@acme.test"
    me = api(lia).get("/me").json()
    assert me["person_uid"] == created.json()["person_uid"] and "employee" in me["roles"]
    again = api(org.admin).post("/users", {"username": "lia2", "employee_id": "E300"})
    assert again.status_code == 422 and "employee_id" in again.json()["error"]["fields"]
    unknown = api(org.admin).post("/users", {"username": "nobody", "employee_id": "E999"})
    assert unknown.status_code == 422
