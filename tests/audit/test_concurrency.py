"""Concurrent writers append to one unbroken chain (PostgreSQL: row lock on the chain's tip)."""

import threading

import pytest
from django.db import connection, connections

from northstar.audit.models import AuditEvent
from northstar.audit.services import Action, record_event, verify_chain

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers by itself (IMMEDIATE transactions)"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_intact():
    errors = []

    def append(worker: int):
        try:
            for i in range(25):
                record_event(Action.UPDATE, acting_user=None, object_type="test.thing",
                             object_id=f"{worker}-{i}", object_repr=f"thing {worker}-{i}")
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.filter(object_type="test.thing").count() == 100
    result = verify_chain()
    assert result.ok, result.problems
