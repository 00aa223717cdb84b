"""The hash-chained audit trail.

Each event stores the SHA-256 of its own content together with the previous
event's hash, so changing, deleting or reordering any row behind the
application's back breaks the chain at that row (`northstar audit verify`).
`AuditHead` keeps the last sequence number and hash, so removing events from
the end is detected too. Events are append-only through the application: the
model, its queryset, the admin and the API refuse to change or delete them.
"""

import hashlib
import json

from django.db import models
from django.db.models import Q

from northstar.core.models import EVERYTHING, NOTHING
from northstar.core.roles import AUDIT_READER_ROLES, Actor

GENESIS_HASH = "0" * 64


class AuditImmutableError(Exception):
    """Raised on any attempt to change or delete an audit event through the ORM."""


class AuditQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view"):
        from northstar.core.roles import actor_for

        actor = user if isinstance(user, Actor) else actor_for(user)
        if action != "view" or not actor.has_role(*AUDIT_READER_ROLES):
            return self.none()
        return self

    def update(self, **kwargs):
        raise AuditImmutableError("audit events cannot be changed")

    def delete(self):
        raise AuditImmutableError("audit events cannot be deleted")

    def bulk_update(self, *args, **kwargs):
        raise AuditImmutableError("audit events cannot be changed")


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        DEACTIVATE = "deactivate", "Deactivated"
        IMPORT = "import", "Imported"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logged out"
        PERMISSION_DENIED = "permission_denied", "Permission denied"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"

    # The sequence number is the primary key: assigned by the application under a
    # lock, one higher than the previous event, and part of the hashed content.
    seq = models.BigIntegerField(primary_key=True)
    time = models.DateTimeField(db_index=True)
    # Plain values, not foreign keys: deleting a user must not rewrite history.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.CharField(max_length=45, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action", "time"], name="audit_action_time"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.actor or 'system'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutableError("audit events cannot be changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError("audit events cannot be deleted")

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return EVERYTHING if action == "view" and actor.has_role(*AUDIT_READER_ROLES) else NOTHING

    def content(self) -> dict:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "actor_id": self.actor_id,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "client_ip": self.client_ip,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field that differs."""
        before, after = self.before or {}, self.after or {}
        names = list(dict.fromkeys([*before, *after]))
        return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


class AuditHead(models.Model):
    """The chain's tip: one row, updated in the same transaction as each append."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self):
        return f"audit head #{self.seq}"
