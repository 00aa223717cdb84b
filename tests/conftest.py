"""Shared actors and clients.

The organisation (built through the real services):

    Acme (company, ceo)
    ├── Engineering (division, eng_head)
    │   ├── Platform (team, platform_lead): employee, peer, service_owner
    │   └── Web (team): web_dev (reports to eng_head)
    └── Sales (division): outsider (reports to ceo)

Actors: employee, peer (same team), manager (employee's manager), skip (manager's
manager), web_dev (another team), outsider, hr, auditor, executive, service_owner,
admin.
"""

import json
import os
from datetime import date
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from northstar.core.models import ApiToken, RoleGrant
from northstar.core.roles import Role
from northstar.core.services import do_create_api_token
from northstar.directory import services
from northstar.directory.models import OrgUnit
from tests.openapi import API_PREFIX, check_response

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


def make_user(username: str, *roles: str, superuser: bool = False):
    User = get_user_model()
    user = User.objects.create_user(username=username, password=PASSWORD, is_superuser=superuser,
                                    is_staff=superuser)
    for role in roles:
        RoleGrant.objects.create(user=user, role=role)
    return user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Password hashing is deliberately slow; tests log in a lot and check other things."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(db):
    return make_user("admin", Role.ADMIN, superuser=True)


@pytest.fixture
def org(admin):
    """The organisation above; `org.<actor>` is a user, `org.people[<actor>]` their Person."""
    def unit(key, name, kind, parent=None):
        return services.do_create_org_unit(key=key, name=name, kind=kind, parent=parent, acting_user=admin)

    acme = unit("acme", "Acme", OrgUnit.Kind.COMPANY)
    eng = unit("eng", "Engineering", OrgUnit.Kind.DIVISION, acme)
    platform = unit("platform", "Platform", OrgUnit.Kind.TEAM, eng)
    web = unit("web", "Web", OrgUnit.Kind.TEAM, eng)
    sales = unit("sales", "Sales", OrgUnit.Kind.DIVISION, acme)

    people, users = {}, {"admin": admin}

    def person(actor, employee_id, name, org_unit, manager=None, *roles, **extra):
        user = make_user(actor, *roles)
        people[actor] = services.do_create_person(
            employee_id=employee_id, name=name, email=f"{actor}@acme.test", org_unit=org_unit,
            manager=people.get(manager), user=user, job_title=extra.pop("job_title", "Engineer"),
            hire_date=date(2020, 1, 6), location="Lisbon", acting_user=admin, **extra,
        )
        users[actor] = user

    person("ceo", "E001", "Casey Chief", acme, None, Role.EXECUTIVE, job_title="CEO")
    person("skip", "E002", "Sam Skip", eng, "ceo", job_title="VP Engineering")
    person("manager", "E003", "Morgan Manager", platform, "skip", job_title="Engineering Manager")
    person("employee", "E004", "Erin Employee", platform, "manager")
    person("peer", "E005", "Pat Peer", platform, "manager")
    person("service_owner", "E006", "Sol Owner", platform, "manager", Role.SERVICE_OWNER)
    person("web_dev", "E007", "Wendy Web", web, "skip")
    person("outsider", "E008", "Oscar Outsider", sales, "ceo", job_title="Account Executive")
    users["hr"] = make_user("hr", Role.HR)
    users["auditor"] = make_user("auditor", Role.AUDITOR)
    users["executive"] = users["ceo"]
    for name, u in users.items():
        u.refresh_from_db()

    service = services.do_create_service(key="payments", name="Payments API", tier=1, owner_team=platform,
                                         acting_user=admin)
    other_service = services.do_create_service(key="crm", name="CRM", tier=2, owner_team=sales,
                                               acting_user=admin)
    process = services.do_create_process(key="onboarding", name="Customer onboarding", owner_team=sales,
                                         acting_user=admin)
    return SimpleNamespace(
        units=SimpleNamespace(acme=acme, eng=eng, platform=platform, web=web, sales=sales),
        people=people, service=service, other_service=other_service, process=process, **users,
    )


class ApiClient:
    """A JSON client for /api/v1 whose every response is checked against the OpenAPI document."""

    def __init__(self, user=None, token: str | None = None):
        self.client = Client(enforce_csrf_checks=False)
        self.headers = {}
        if user is not None:
            self.client.force_login(user)
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, data=None, *, raw: bytes | str | None = None, params=None):
        url = API_PREFIX + path
        kwargs = {"headers": self.headers}
        if method == "get":
            response = self.client.get(url, params or {}, **kwargs)
        else:
            body = raw if raw is not None else json.dumps(data if data is not None else {})
            response = getattr(self.client, method)(url, body, content_type="application/json", **kwargs)
        check_response(url, method, response.status_code, response.get("Content-Type", ""), response.content)
        return response

    def get(self, path, **params):
        return self.request("get", path, params=params)

    def post(self, path, data=None, **kwargs):
        return self.request("post", path, data, **kwargs)

    def patch(self, path, data=None, **kwargs):
        return self.request("patch", path, data, **kwargs)

    def upload(self, path: str, file_name: str, content: bytes, **params):
        """POST `content` as the multipart field `file`; `params` go in the query string."""
        from urllib.parse import urlencode

        from django.core.files.uploadedfile import SimpleUploadedFile

        url = API_PREFIX + path + (f"?{urlencode(params)}" if params else "")
        response = self.client.post(url, {"file": SimpleUploadedFile(file_name, content)}, headers=self.headers)
        check_response(url, "post", response.status_code, response.get("Content-Type", ""), response.content)
        return response


@pytest.fixture
def api():
    """`api(user)` or `api(token=...)` or `api()` for anonymous."""
    return ApiClient


@pytest.fixture
def token_for():
    def make(user, scope=ApiToken.Scope.READ, days=30):
        return do_create_api_token(name=f"{scope} token", scope=scope, days=days, acting_user=user)[1]
    return make
