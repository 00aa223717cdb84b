"""Roles and the acting user's view of the organisation.

A user's roles are explicit grants (RoleGrant); *manager* is not a role but
follows from the reporting line: whoever has people reporting to them (directly
or transitively) sees that whole chain.
"""

from dataclasses import dataclass

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    HR = "hr", "HR"
    EXECUTIVE = "executive", "Executive"
    AUDITOR = "auditor", "Auditor"
    SERVICE_OWNER = "service_owner", "Service owner"
    EMPLOYEE = "employee", "Employee"


# Roles that may read all directory data, private fields included.
READ_ALL_ROLES = frozenset({Role.ADMIN, Role.HR, Role.EXECUTIVE, Role.AUDITOR})
# Roles that may read the audit trail.
AUDIT_READER_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


@dataclass(frozen=True)
class Actor:
    """Who is acting: resolved once per user object and cached on it."""

    user_id: int | None
    username: str
    roles: frozenset[str]
    person_id: int | None = None
    person_path: str = ""
    org_unit_id: int | None = None
    org_unit_path: str = ""
    # Paths of the org units this person heads: they plan for those units and all below.
    headed_unit_paths: tuple[str, ...] = ()

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def reads_everything(self) -> bool:
        return bool(self.roles & READ_ALL_ROLES)

    @property
    def is_read_only(self) -> bool:
        """Auditors and executives read; they never change domain data by role alone."""
        return not (self.roles - {Role.AUDITOR, Role.EXECUTIVE})

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


ANONYMOUS = Actor(user_id=None, username="", roles=frozenset())


def actor_for(user) -> Actor:
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    cached = getattr(user, "_northstar_actor", None)
    if cached is not None:
        return cached
    from northstar.core.models import RoleGrant
    from northstar.directory.models import OrgUnit, Person

    roles = set(RoleGrant.objects.filter(user_id=user.pk).values_list("role", flat=True))
    if user.is_superuser:
        roles.add(Role.ADMIN)
    person = (
        Person.objects.filter(user_id=user.pk)
        .select_related("org_unit")
        .only("id", "manager_path", "org_unit__id", "org_unit__path")
        .first()
    )
    if person is not None:
        roles.add(Role.EMPLOYEE)
    actor = Actor(
        user_id=user.pk,
        username=user.get_username(),
        roles=frozenset(roles),
        person_id=person.pk if person else None,
        person_path=person.manager_path if person else "",
        org_unit_id=person.org_unit_id if person else None,
        org_unit_path=person.org_unit.path if person and person.org_unit_id else "",
        headed_unit_paths=tuple(
            OrgUnit.objects.filter(manager_id=person.pk, is_active=True).values_list("path", flat=True)
        ) if person else (),
    )
    user._northstar_actor = actor
    return actor


def forget_actor(user) -> None:
    """Drop the cached actor after the user's roles or person link changed."""
    if user is not None and hasattr(user, "_northstar_actor"):
        del user._northstar_actor
