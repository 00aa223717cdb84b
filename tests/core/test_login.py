"""Login, logout and the login rate limit."""

from northstar.audit.models import AuditEvent
from tests.conftest import PASSWORD


def test_login_and_logout_are_audited(org, client):
    response = client.post("/login/", {"username": "employee", "password": PASSWORD})
    assert response.status_code == 302
    client.post("/logout/")
    actions = list(AuditEvent.objects.filter(actor="employee").order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["login", "logout"]


def test_failed_logins_are_rate_limited_per_account(org, client, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        response = client.post("/login/", {"username": "employee", "password": "wrong"})
        assert b"Please enter a correct username and password" in response.content
    # Now even the right password is refused until the window passes.
    response = client.post("/login/", {"username": "employee", "password": PASSWORD})
    assert response.status_code == 200
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session
    # Other accounts are unaffected.
    assert client.post("/login/", {"username": "peer", "password": PASSWORD}).status_code == 302


def test_failed_logins_are_rate_limited_per_address(org, client, settings):
    settings.LOGIN_RATE_LIMIT = 1
    for name in ("a", "b", "c", "d"):
        client.post("/login/", {"username": name, "password": "wrong"})
    response = client.post("/login/", {"username": "peer", "password": PASSWORD})
    assert b"Too many failed attempts" in response.content
