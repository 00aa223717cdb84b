"""The audit trail: what is recorded, that it cannot be changed through the app, and
that `northstar audit verify` finds rows changed, deleted or reordered by raw SQL."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from northstar.audit.models import AuditEvent, AuditImmutableError
from northstar.audit.services import verify_chain
from northstar.directory import services


def table():
    return connection.ops.quote_name(AuditEvent._meta.db_table)


def test_create_update_deactivate_are_recorded_with_before_and_after(org):
    person = org.people["employee"]
    services.do_update_person(person, job_title="Staff Engineer", acting_user=org.admin)
    services.do_deactivate_person(person, acting_user=org.admin)
    events = list(AuditEvent.objects.filter(object_id=str(person.uid)).order_by("seq"))
    assert [e.action for e in events] == ["create", "update", "deactivate"]
    assert events[0].before is None and events[0].after["job_title"] == "Engineer"
    assert events[1].changes == [("job_title", "Engineer", "Staff Engineer")]
    assert events[2].changes == [("employment_status", "active", "terminated")]
    assert all(e.actor == "admin" and e.actor_id == org.admin.pk for e in events)


def test_logins_failed_logins_and_denials_are_recorded(org, client):
    assert client.login(username="employee", password="correct horse battery staple")
    assert not client.login(username="employee", password="wrong")
    with pytest.raises(Exception):
        services.do_update_person(org.people["peer"], job_title="CEO", acting_user=org.employee)
    actions = list(AuditEvent.objects.order_by("-seq").values_list("action", "actor")[:3])
    assert actions == [("permission_denied", "employee"), ("login_failed", "employee"), ("login", "employee")]


def test_request_id_and_client_address_are_recorded(org, api):
    client = api(org.hr)
    client.headers["X-Request-ID"] = "req-42"
    response = client.patch(f"/people/{org.people['peer'].uid}", {"job_title": "Lead"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="update", object_id=str(org.people["peer"].uid))
    assert (event.request_id, event.client_ip) == ("req-42", "127.0.0.1")


def test_events_cannot_be_changed_or_deleted_through_the_orm(org):
    event = AuditEvent.objects.order_by("seq").first()
    event.actor = "someone else"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(actor="x")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()


def test_events_cannot_be_changed_through_the_admin(org, client):
    client.force_login(org.admin)
    event = AuditEvent.objects.order_by("seq").first()
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # view only
    response = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"actor": "forged"})
    assert response.status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor == event.actor


def test_intact_chain_verifies(org):
    result = verify_chain()
    assert result.ok, result.problems
    assert result.checked == AuditEvent.objects.count() > 10
    call_command("audit", "verify")


def test_row_changed_by_sql_is_named(org):
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table()} SET object_repr = 'forged' WHERE seq = 7")
    result = verify_chain()
    assert result.first_bad_seq == 7
    assert "event #7 was changed" in result.problems[0]
    with pytest.raises(CommandError, match="First bad event: #7"):
        call_command("audit", "verify")


def test_row_deleted_by_sql_is_named(org):
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table()} WHERE seq = 5")
    result = verify_chain()
    assert result.first_bad_seq == 5
    assert "#5..#5 are missing" in result.problems[0]


def test_rows_deleted_from_the_end_are_named(org):
    last = AuditEvent.objects.order_by("-seq").first().seq
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table()} WHERE seq >= %s", [last - 1])
    result = verify_chain()
    assert result.first_bad_seq == last - 1
    assert "deleted from the end" in result.problems[0]


def test_rows_reordered_by_sql_are_named(org):
    # Swap the content of events 3 and 4 (keeping their positions), as a reordering would.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table()} SET seq = -3 WHERE seq = 3")
        cursor.execute(f"UPDATE {table()} SET seq = 3 WHERE seq = 4")
        cursor.execute(f"UPDATE {table()} SET seq = 4 WHERE seq = -3")
    result = verify_chain()
    assert result.first_bad_seq == 3
    assert not result.ok


def test_time_rewritten_with_recomputed_hash_still_breaks_the_next_link(org):
    """A forger who recomputes one event's hash still breaks the link to the next event."""
    event = AuditEvent.objects.get(seq=6)
    event.object_repr = "forged"
    forged_hash = event.compute_hash()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table()} SET object_repr = 'forged', hash = %s WHERE seq = 6", [forged_hash])
    result = verify_chain()
    assert result.first_bad_seq == 7
    assert "does not follow event #6" in result.problems[0]
