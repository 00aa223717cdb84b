"""Base model, restricted querysets, role grants, API tokens and the worker heartbeat."""

import hashlib
import secrets
import uuid
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from northstar.core.roles import Actor, Role, actor_for

NOTHING = Q(pk__in=[])
EVERYTHING = Q()


class RestrictedQuerySet(models.QuerySet):
    """`Model.objects.restrict(user, action)`: the rows `user` may `action`.

    Each model states its rule in `visibility(actor, action) -> Q`; this is the
    only place that applies it, so views and API handlers cannot forget.
    """

    def restrict(self, user, action: str = "view"):
        if action not in {"view", "change", "delete"}:
            raise ValueError(f"unknown action {action!r}")
        actor = user if isinstance(user, Actor) else actor_for(user)
        if not actor.is_authenticated:
            return self.none()
        return self.filter(self.model.visibility(actor, action))


class BaseModel(models.Model):
    """Created/updated stamps, a public UUID and the restricted manager."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    # Fields recorded as before/after values in audit events.
    audit_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        return EVERYTHING if actor.is_admin else NOTHING

    def audit_snapshot(self) -> dict:
        return {name: json_value(getattr(self, _attname(self, name))) for name in self.audit_fields}


def _attname(obj, name: str) -> str:
    field = obj._meta.get_field(name)
    return field.attname


def json_value(value):
    """A value as plain JSON, identical after a database round trip (for hashing)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


class RoleGrant(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=20, choices=Role.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_role_grant")]

    def __str__(self):
        return f"{self.user} is {self.get_role_display()}"


class ApiToken(models.Model):
    """A bearer token for integrations: shown once, stored as a SHA-256 digest.

    The token is 256 random bits, so a fast digest is enough (no password
    stretching needed); the public prefix finds the row without a scan.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    PREFIX = "nst"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    audit_fields = ("user", "name", "scope", "expires", "revoked")

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.name} ({self.key_id})"

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        if actor.is_admin:
            return EVERYTHING
        return Q(user_id=actor.user_id)

    audit_snapshot = BaseModel.audit_snapshot

    @staticmethod
    def new_secret() -> tuple[str, str, str]:
        """(key_id, secret, full token); the full token is what the client sends."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return key_id, secret, f"{ApiToken.PREFIX}_{key_id}_{secret}"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked is None and self.expires > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires <= timezone.now():
            return "expired"
        return "active"


class WorkerHeartbeat(models.Model):
    """One row per worker process, touched every WORKER_HEARTBEAT_SECONDS."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    started = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.worker_id


class ScheduledJob(models.Model):
    """When a periodic job (northstar.core.schedule) is next due; workers claim a run by moving it."""

    name = models.CharField(max_length=100, unique=True)
    next_run = models.DateTimeField()
    last_run = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name
