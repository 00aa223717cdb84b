"""The directory: org units, people, IT services, business processes, and subjects.

Trees are stored with materialized paths of primary keys ("/1/7/42/"), so a
subtree or a reporting chain is one indexed prefix query on SQLite and
PostgreSQL alike. Services in `services.py` keep the paths right.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from northstar.core.models import EVERYTHING, NOTHING, BaseModel
from northstar.core.roles import Actor, Role


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


class OrgUnit(BaseModel):
    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        DIVISION = "division", "Division"
        DEPARTMENT = "department", "Department"
        TEAM = "team", "Team"

    key = models.SlugField(max_length=64, unique=True, help_text="Stable code, e.g. from the HR system")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TEAM)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=400, db_index=True, blank=True, editable=False)
    manager = models.ForeignKey(
        "Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_units"
    )
    is_active = models.BooleanField(default=True)

    audit_fields = ("key", "name", "kind", "parent", "manager", "is_active")

    class Meta:
        ordering = ["name"]
        verbose_name = "org unit"

    def __str__(self):
        return self.name

    @property
    def depth(self) -> int:
        return len(path_ids(self.path)) - 1

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        # The organisation's structure is known to everyone in it.
        if action == "view":
            return EVERYTHING
        if action == "change" and actor.has_role(Role.ADMIN, Role.HR):
            return EVERYTHING
        return EVERYTHING if actor.is_admin else NOTHING


class Person(BaseModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ON_LEAVE = "on_leave", "On leave"
        TERMINATED = "terminated", "Terminated"

    # Only the person, their management chain and the read-all roles see these.
    PRIVATE_FIELDS = ("employment_status", "hire_date", "location")

    employee_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(db_index=True)
    job_title = models.CharField(max_length=200, blank=True)
    job_role = models.CharField(max_length=200, blank=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_reports"
    )
    manager_path = models.CharField(max_length=1000, db_index=True, blank=True, editable=False)
    org_unit = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="people")
    location = models.CharField(max_length=200, blank=True)
    employment_status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    hire_date = models.DateField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="person"
    )

    audit_fields = (
        "employee_id", "name", "email", "job_title", "job_role", "manager", "org_unit",
        "location", "employment_status", "hire_date", "user",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.employment_status != self.Status.TERMINATED

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        if action == "view":
            if actor.reads_everything:
                return EVERYTHING
            if actor.person_id is None:
                return NOTHING
            # Themselves and their whole reporting chain, their managers up to the
            # top, and the people in their own team.
            chain_up = path_ids(actor.person_path)
            visible = Q(manager_path__startswith=actor.person_path) | Q(pk__in=chain_up)
            if actor.org_unit_id is not None:
                visible |= Q(org_unit_id=actor.org_unit_id)
            return visible
        if action == "change" and actor.has_role(Role.ADMIN, Role.HR):
            return EVERYTHING
        return EVERYTHING if actor.is_admin else NOTHING

    def visible_to(self, actor: Actor) -> bool:
        """`visibility(actor, "view")` for one loaded row, without a query (kept equal by a test)."""
        if actor.reads_everything:
            return True
        if actor.person_id is None:
            return False
        return (
            self.manager_path.startswith(actor.person_path)
            or self.pk in path_ids(actor.person_path)
            or (actor.org_unit_id is not None and self.org_unit_id == actor.org_unit_id)
        )

    def private_visible_to(self, actor: Actor) -> bool:
        if actor.reads_everything:
            return True
        if actor.person_id is None:
            return False
        # Themselves, or someone in their reporting chain.
        return self.manager_path.startswith(actor.person_path)


def _owner_team_rule(cls, actor: Actor, action: str) -> Q:
    """Services and processes: seen by all; changed by admins and their owner team's owners."""
    if action == "view":
        return EVERYTHING
    if actor.is_admin:
        return EVERYTHING
    if action == "change" and actor.has_role(Role.SERVICE_OWNER) and actor.org_unit_path:
        return Q(owner_team__path__startswith=actor.org_unit_path)
    return NOTHING


class Service(BaseModel):
    class Tier(models.IntegerChoices):
        TIER_0 = 0, "Tier 0: mission critical"
        TIER_1 = 1, "Tier 1: business critical"
        TIER_2 = 2, "Tier 2: business operational"
        TIER_3 = 3, "Tier 3: administrative"

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.TIER_2)
    owner_team = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="services")
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    audit_fields = ("key", "name", "tier", "owner_team", "description", "is_active")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    visibility = classmethod(_owner_team_rule)


class Process(BaseModel):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    owner_team = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="processes")
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    audit_fields = ("key", "name", "owner_team", "description", "is_active")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "processes"

    def __str__(self):
        return self.name

    visibility = classmethod(_owner_team_rule)


class Subject(BaseModel):
    """What goals, measures, SLOs and actions attach to: exactly one of four kinds."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        ORG_UNIT = "org_unit", "Org unit"
        SERVICE = "service", "Service"
        PROCESS = "process", "Process"

    KIND_FIELDS = {Kind.PERSON: "person", Kind.ORG_UNIT: "org_unit", Kind.SERVICE: "service",
                   Kind.PROCESS: "process"}

    kind = models.CharField(max_length=20, choices=Kind.choices)
    person = models.OneToOneField(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="subject")
    org_unit = models.OneToOneField(
        OrgUnit, null=True, blank=True, on_delete=models.CASCADE, related_name="subject"
    )
    service = models.OneToOneField(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="subject"
    )
    process = models.OneToOneField(
        Process, null=True, blank=True, on_delete=models.CASCADE, related_name="subject"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="subject_exactly_one_target",
                condition=(
                    Q(kind="person", person__isnull=False, org_unit__isnull=True, service__isnull=True,
                      process__isnull=True)
                    | Q(kind="org_unit", person__isnull=True, org_unit__isnull=False, service__isnull=True,
                        process__isnull=True)
                    | Q(kind="service", person__isnull=True, org_unit__isnull=True, service__isnull=False,
                        process__isnull=True)
                    | Q(kind="process", person__isnull=True, org_unit__isnull=True, service__isnull=True,
                        process__isnull=False)
                ),
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.target}"

    @property
    def target(self):
        return getattr(self, self.KIND_FIELDS[self.kind])

    @classmethod
    def for_target(cls, target) -> "Subject":
        kind = {Person: cls.Kind.PERSON, OrgUnit: cls.Kind.ORG_UNIT, Service: cls.Kind.SERVICE,
                Process: cls.Kind.PROCESS}[type(target)]
        return cls(kind=kind, **{cls.KIND_FIELDS[kind]: target})

    @classmethod
    def plannable_by(cls, actor: Actor) -> Q:
        """The subjects whose plan (objectives, measures, targets) `actor` may change.

        People plan for themselves and their reporting chain; unit heads for their
        units and everything below; executives for every unit; service owners for
        what their team owns; admins for everything.
        """
        if actor.is_admin:
            return EVERYTHING
        rule = NOTHING
        if actor.person_id is not None:
            rule |= Q(kind=cls.Kind.PERSON, person__manager_path__startswith=actor.person_path)
        if actor.has_role(Role.EXECUTIVE):
            rule |= Q(kind=cls.Kind.ORG_UNIT)
        team_paths = list(actor.headed_unit_paths)
        for path in actor.headed_unit_paths:
            rule |= Q(kind=cls.Kind.ORG_UNIT, org_unit__path__startswith=path)
        if actor.has_role(Role.SERVICE_OWNER) and actor.org_unit_path:
            team_paths.append(actor.org_unit_path)
        for path in team_paths:
            rule |= Q(kind=cls.Kind.SERVICE, service__owner_team__path__startswith=path)
            rule |= Q(kind=cls.Kind.PROCESS, process__owner_team__path__startswith=path)
        return rule

    @classmethod
    def visibility(cls, actor: Actor, action: str) -> Q:
        """A subject is visible, changeable or deletable as its target is."""
        rule = NOTHING
        for kind, name in cls.KIND_FIELDS.items():
            model = cls._meta.get_field(name).related_model
            target_rule = model.visibility(actor, action)
            if target_rule == EVERYTHING:
                rule |= Q(kind=kind)
            elif target_rule != NOTHING:
                rule |= Q(kind=kind, **{f"{name}__in": model.objects.filter(target_rule).values("pk")})
        return rule


def through_subject(actor: Actor, action: str, field: str = "subject") -> Q:
    """The rule for anything that belongs to a subject (plans, measures, scores):
    seen by whoever sees the subject; changed by whoever plans for it."""
    rule = Subject.visibility(actor, "view") if action == "view" else Subject.plannable_by(actor)
    if rule == EVERYTHING:
        return EVERYTHING
    if rule == NOTHING:
        return NOTHING
    return Q(**{f"{field}__in": Subject.objects.filter(rule).values("pk")})
