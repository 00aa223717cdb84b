"""Appending to the audit trail and verifying it.

`record_event` is called by every service inside its own transaction, so a write
and its audit event commit or roll back together.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils import timezone

from northstar.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from northstar.core.context import current_request

Action = AuditEvent.Action


@dataclass
class EventSpec:
    """One audit event before it is chained."""

    action: str
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    before: dict | None = None
    after: dict | None = None


def spec_for(action: str, obj: models.Model | None, before=None, after=None) -> EventSpec:
    if obj is None:
        return EventSpec(action=action, before=before, after=after)
    return EventSpec(
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(getattr(obj, "uid", None) or obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )


def record_event(
    action: str, *, acting_user, obj=None, before=None, after=None, actor_label: str = "", **fields
) -> AuditEvent:
    """One event; `fields` override the object columns (object_type, object_id, object_repr)."""
    spec = spec_for(action, obj, before, after)
    for name, value in fields.items():
        setattr(spec, name, value)
    return record_events([spec], acting_user=acting_user, actor_label=actor_label)[0]


def record_events(specs: Iterable[EventSpec], *, acting_user, actor_label: str = "") -> list[AuditEvent]:
    """Chain and store events in order; one lock and one bulk insert for all of them."""
    specs = list(specs)
    if not specs:
        return []
    context = current_request()
    actor_id = getattr(acting_user, "pk", None)
    actor = actor_label or (acting_user.get_username() if acting_user is not None else "system")
    now = timezone.now()
    with transaction.atomic():
        head = _locked_head()
        events = []
        seq, prev_hash = head.seq, head.hash
        for spec in specs:
            seq += 1
            event = AuditEvent(
                seq=seq,
                time=now,
                actor_id=actor_id,
                actor=actor[:150],
                action=spec.action,
                object_type=spec.object_type,
                object_id=spec.object_id,
                object_repr=spec.object_repr[:200],
                before=spec.before,
                after=spec.after,
                request_id=context.request_id,
                client_ip=context.client_ip,
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = event.compute_hash()
            events.append(event)
        AuditEvent.objects.bulk_create(events, batch_size=1000)
        AuditHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return events


def _locked_head() -> AuditHead:
    """The chain's tip, locked for this transaction; created on first use (e.g. after a flush)."""
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditHead.objects.get_or_create(pk=1)
        head = AuditHead.objects.select_for_update().get(pk=1)
    return head


@dataclass
class VerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(progress=None) -> VerifyResult:
    """Recompute every hash in sequence order; name the first event that was tampered with.

    - changed: the stored hash no longer matches the row's content;
    - deleted: a gap in the sequence, or the chain's tip recorded in AuditHead
      is past the last row;
    - reordered or replaced: a row's prev_hash is not the hash of the row before it.
    """
    result = VerifyResult()
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in _events_in_order():
        result.checked += 1
        if progress is not None:
            progress(result.checked)
        problem = None
        if event.seq != expected_seq:
            problem = (
                f"events #{expected_seq}..#{event.seq - 1} are missing (deleted)"
                if event.seq > expected_seq
                else f"event #{event.seq} is out of sequence"
            )
        elif event.compute_hash() != event.hash:
            problem = f"event #{event.seq} was changed: its content no longer matches its hash"
        elif event.prev_hash != prev_hash:
            problem = (
                f"event #{event.seq} does not follow event #{event.seq - 1}: "
                "the chain was reordered or an event was replaced"
            )
        if problem:
            result.problems.append(problem)
            result.first_bad_seq = min(expected_seq, event.seq)
            return result
        expected_seq, prev_hash = event.seq + 1, event.hash
    head = AuditHead.objects.filter(pk=1).first() or AuditHead(pk=1)
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        if head.seq >= expected_seq:
            result.problems.append(
                f"events #{expected_seq}..#{head.seq} are missing (deleted from the end of the trail)"
            )
            result.first_bad_seq = expected_seq
        else:
            result.problems.append(
                f"the chain's recorded tip (#{head.seq}) does not match its last event (#{expected_seq - 1})"
            )
            result.first_bad_seq = head.seq + 1
    return result


def _events_in_order() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=5000)
