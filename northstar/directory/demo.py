"""The demo organisation: a realistic, deterministic company of 200, 5,000 or 100,000 people.

`build_plan(size, seed)` lays the whole organisation out in memory: units, people
(with their reporting lines), services, processes, their subjects and the demo
logins. Primary keys are assigned here, so the materialized paths
("/<root pk>/.../<own pk>/", as `services._place_unit/_place_person` write
them) are known before anything is written. Every random choice and every uuid
comes from one `random.Random(seed)`, so the same seed gives the same company.

`write_plan(plan)` inserts it with bulk_create into an empty directory, in one
transaction, and records a single audit event for the lot.
"""

import math
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils.text import slugify

from northstar.audit.services import Action, record_event
from northstar.core.models import RoleGrant
from northstar.core.roles import Role
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject

SIZES = {"S": 200, "M": 5_000, "L": 100_000}
DEMO_PASSWORD = "northstar-demo"
COMPANY_NAME = "Meridian Group"
EMAIL_DOMAIN = "meridian.example"  # .example never resolves: no demo mail can leave
# Hire dates are counted back from a fixed day, not today, so a seed always gives
# the same organisation.
AS_OF = date(2025, 6, 30)
FOUNDED = date(2011, 3, 1)
HEADQUARTERS = "London"

# Shape: a department with more people than this splits into sub-departments
# (at most MAX_SUBUNITS of them) until its teams fit under one head.
DEPARTMENT_TARGET = 40
DEPARTMENT_MAX = 90
MAX_SUBUNITS = 6
TEAM_MIN, TEAM_MAX = 5, 12  # members, the team lead not counted
ON_LEAVE_SHARE = 0.02
SERVICES_PER_PERSON = 0.1
MAX_SERVICES = 800
INSERT_CHUNK = 5_000
BATCH_SIZE = 1_000


# -- the company's functions ----------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A division: its leaders' titles, departments (with their members' job roles) and team names."""

    name: str
    weight: int  # share of the headcount, in percent
    head_title: str
    director_title: str
    senior_manager_title: str
    manager_title: str
    departments: dict[str, tuple[str, ...]]  # first role the most common
    team_names: tuple[str, ...]


ENGINEERING = Function(
    "Engineering", 32, "Chief Technology Officer", "Director of Engineering",
    "Senior Engineering Manager", "Engineering Manager",
    {
        "Platform": ("Platform Engineer", "Site Reliability Engineer", "Software Engineer"),
        "Payments": ("Software Engineer", "Backend Engineer", "QA Engineer"),
        "Data": ("Data Engineer", "Analytics Engineer", "Machine Learning Engineer"),
        "Mobile": ("Mobile Engineer", "iOS Engineer", "Android Engineer", "QA Engineer"),
        "Web": ("Frontend Engineer", "Software Engineer", "QA Engineer"),
        "Infrastructure": ("Site Reliability Engineer", "Network Engineer", "Database Administrator"),
        "Security": ("Security Engineer", "Application Security Engineer", "Security Analyst"),
        "Developer Experience": ("Software Engineer", "Build Engineer", "Technical Writer"),
        "Search": ("Software Engineer", "Machine Learning Engineer", "Data Engineer"),
        "Identity": ("Backend Engineer", "Security Engineer", "Software Engineer"),
        "Integrations": ("Software Engineer", "Integration Engineer", "QA Engineer"),
        "Core Services": ("Backend Engineer", "Software Engineer", "Site Reliability Engineer"),
    },
    ("API", "Core", "Reliability", "Tooling", "Pipelines", "Storage", "Frontend", "Backend",
     "Automation", "Observability", "Performance", "Foundations"),
)

FUNCTIONS = (
    ENGINEERING,
    Function(
        "Product", 7, "Chief Product Officer", "Director of Product", "Group Product Manager",
        "Product Lead",
        {
            "Product Management": ("Product Manager", "Technical Product Manager", "Product Analyst"),
            "Design": ("Product Designer", "UX Designer", "Content Designer"),
            "Research": ("UX Researcher", "Research Operations Specialist"),
        },
        ("Discovery", "Growth", "Core", "Mobile", "Platform", "Insights", "Design Systems",
         "Onboarding", "Monetisation", "Retention", "Experience", "Accessibility"),
    ),
    Function(
        "Sales", 18, "Chief Revenue Officer", "Sales Director", "Regional Sales Director",
        "Sales Manager",
        {
            "Enterprise Sales": ("Account Executive", "Enterprise Account Executive", "Sales Engineer"),
            "Mid-Market Sales": ("Account Executive", "Account Manager"),
            "Sales Development": ("Sales Development Representative", "Business Development Representative"),
            "Solutions Engineering": ("Solutions Engineer", "Solutions Architect"),
            "Partnerships": ("Partner Manager", "Channel Account Manager"),
            "Sales Operations": ("Sales Operations Analyst", "Deal Desk Analyst", "CRM Administrator"),
        },
        ("UK & Ireland", "DACH", "France", "Benelux", "Nordics", "Iberia", "US East", "US West",
         "US Central", "Canada", "ANZ", "Japan"),
    ),
    Function(
        "Marketing", 8, "Chief Marketing Officer", "Marketing Director", "Senior Marketing Manager",
        "Marketing Manager",
        {
            "Product Marketing": ("Product Marketing Manager", "Competitive Intelligence Analyst"),
            "Demand Generation": ("Growth Marketer", "Campaign Manager", "Marketing Analyst"),
            "Brand & Content": ("Content Strategist", "Copywriter", "Graphic Designer"),
            "Marketing Operations": ("Marketing Operations Specialist", "Marketing Analyst"),
            "Communications": ("Communications Manager", "Social Media Manager", "Events Coordinator"),
        },
        ("Campaigns", "Content", "Web", "Events", "Analytics", "Social", "Brand", "Press",
         "Lifecycle", "Partners", "Field", "Community"),
    ),
    Function(
        "Customer Success", 14, "VP Customer Success", "Director of Customer Success",
        "Senior Support Manager", "Support Team Lead",
        {
            "Customer Support": ("Support Specialist", "Support Engineer", "Technical Support Engineer"),
            "Customer Success": ("Customer Success Manager", "Renewals Specialist"),
            "Onboarding": ("Implementation Consultant", "Onboarding Specialist"),
            "Technical Account Management": ("Technical Account Manager", "Support Engineer"),
            "Support Operations": ("Support Operations Analyst", "Knowledge Manager"),
        },
        ("Tier 1", "Tier 2", "Enterprise", "SMB", "Escalations", "EMEA", "Americas", "APAC",
         "Strategic", "Digital", "Renewals", "Quality"),
    ),
    Function(
        "Finance", 6, "Chief Financial Officer", "Finance Director", "Senior Finance Manager",
        "Finance Manager",
        {
            "Accounting": ("Accountant", "Accounts Payable Specialist", "Accounts Receivable Specialist"),
            "Financial Planning & Analysis": ("Financial Analyst", "Senior Financial Analyst"),
            "Procurement": ("Procurement Specialist", "Buyer"),
            "Internal Audit": ("Internal Auditor", "Risk Analyst"),
            "Treasury": ("Treasury Analyst", "Cash Manager"),
        },
        ("Payables", "Receivables", "Reporting", "Tax", "Planning", "Revenue", "Close", "Controls",
         "Sourcing", "Compliance", "Consolidation", "Billing"),
    ),
    Function(
        "People", 6, "Chief People Officer", "HR Director", "Senior HR Manager", "HR Manager",
        {
            "HR Business Partners": ("HR Business Partner", "HR Generalist"),
            "Talent Acquisition": ("Recruiter", "Technical Recruiter", "Recruiting Coordinator"),
            "People Operations": ("People Operations Specialist", "HRIS Analyst", "Payroll Specialist"),
            "Learning & Development": ("Learning & Development Specialist", "Instructional Designer"),
            "Total Rewards": ("Compensation Analyst", "Benefits Specialist"),
        },
        ("Recruiting", "Onboarding", "Benefits", "Employee Relations", "Compensation", "HR Systems",
         "People Analytics", "Programs", "Wellbeing", "Mobility", "Sourcing", "Engagement"),
    ),
    Function(
        "Operations", 9, "Chief Operating Officer", "Director of Operations",
        "Senior Operations Manager", "Operations Manager",
        {
            "IT": ("IT Support Specialist", "Systems Administrator", "IT Asset Coordinator"),
            "Business Operations": ("Business Analyst", "Operations Analyst", "Project Manager"),
            "Legal & Compliance": ("Legal Counsel", "Compliance Analyst", "Paralegal"),
            "Workplace": ("Facilities Coordinator", "Office Manager", "Workplace Specialist"),
            "Program Management": ("Program Manager", "Project Manager"),
        },
        ("Service Desk", "Endpoints", "Workplace", "Contracts", "Compliance", "Programs",
         "Vendor Management", "Analytics", "Collaboration Tools", "Access", "Travel", "Privacy"),
    ),
)
FUNCTION_BY_NAME = {function.name: function for function in FUNCTIONS}

# Nested departments take a region, then a compass point, after their parent's name.
QUALIFIERS = (
    ("Americas", "EMEA", "APAC", "LATAM", "Nordics", "ANZ"),
    ("North", "South", "East", "West", "Central", "Metro"),
)

SENIORITY = (("Associate ", 2), ("", 5), ("Senior ", 3), ("Lead ", 1))

LOCATIONS = ("London", "Lisbon", "Berlin", "Amsterdam", "Dublin", "New York", "Austin", "Toronto",
             "São Paulo", "Singapore", "Sydney", "Bangalore", "Remote")

FIRST_NAMES = (
    "Aaliyah", "Adrian", "Aisha", "Akira", "Alejandro", "Alice", "Amara", "Amir", "Ana", "Andrea",
    "Anika", "Arjun", "Astrid", "Ben", "Bianca", "Bruno", "Camila", "Carlos", "Chen", "Chloe",
    "Chidi", "Clara", "Daniel", "Daria", "David", "Diego", "Dmitri", "Elena", "Elif", "Emeka",
    "Emma", "Erik", "Fatima", "Felix", "Freya", "Gabriel", "Grace", "Hana", "Hannah", "Hassan",
    "Ines", "Ingrid", "Isaac", "Isabel", "Ivan", "Jack", "Jamal", "James", "Jana", "Javier",
    "Jin", "João", "Julia", "Kai", "Karim", "Kavya", "Kenji", "Kofi", "Lars", "Laura", "Leila",
    "Leo", "Lina", "Lucas", "Lucy", "Luis", "Maya", "Mei", "Mateo", "Matteo", "Mia", "Miguel",
    "Mohammed", "Nadia", "Naomi", "Nia", "Nikhil", "Nina", "Noah", "Olga", "Oliver", "Omar",
    "Priya", "Rafael", "Rahul", "Rania", "Ravi", "Rosa", "Ruth", "Sakura", "Samuel", "Sara",
    "Sebastian", "Sofia", "Sophie", "Tariq", "Thabo", "Theo", "Tomás", "Valentina", "Victor",
    "Wei", "Yara", "Yusuf", "Zainab", "Zoe",
)

LAST_NAMES = (
    "Abara", "Adeyemi", "Ahmed", "Almeida", "Andersen", "Bakker", "Becker", "Bianchi", "Brown",
    "Campbell", "Castro", "Chen", "Costa", "Dubois", "Dumont", "Eriksson", "Evans", "Fernandes",
    "Fischer", "García", "Gonzalez", "Gupta", "Haddad", "Hansen", "Hoffmann", "Horvat", "Hughes",
    "Ivanova", "Jansen", "Jones", "Kapoor", "Kato", "Kelly", "Khan", "Kim", "Kowalski", "Kumar",
    "Larsen", "Lee", "Lindqvist", "Lopez", "Mahlangu", "Martin", "Martins", "Mendes", "Meyer",
    "Moreau", "Morris", "Müller", "Murphy", "Nakamura", "Nguyen", "Novak", "Nowak", "O'Brien",
    "Okafor", "Okonkwo", "Olsen", "Park", "Patel", "Pereira", "Petrov", "Popescu", "Reddy",
    "Ribeiro", "Richter", "Rossi", "Sánchez", "Santos", "Schmidt", "Schneider", "Sharma", "Silva",
    "Singh", "Smith", "Sokolova", "Suzuki", "Tanaka", "Taylor", "Thompson", "Tran", "Van Dijk",
    "Varga", "Walker", "Wang", "Weber", "Williams", "Wilson", "Wójcik", "Yamamoto", "Yilmaz",
    "Zhang", "Zhou",
)

# Services: a few platform systems owned by the platform team, then domain x component.
PLATFORM_SERVICES = (
    ("Kubernetes Platform", Service.Tier.TIER_0, "Container platform that runs every production workload."),
    ("Single Sign-On", Service.Tier.TIER_0, "Identity provider for employee and customer logins."),
    ("API Gateway", Service.Tier.TIER_0, "Routes, authenticates and rate-limits public API traffic."),
    ("CI/CD Pipelines", Service.Tier.TIER_1, "Builds, tests and deploys every repository."),
    ("Observability Stack", Service.Tier.TIER_1, "Metrics, logs and traces for all services."),
)
SERVICE_DOMAINS = (
    "Payments", "Checkout", "Billing", "Invoicing", "Identity", "Search", "Notifications", "Catalog",
    "Inventory", "Orders", "Pricing", "Ledger", "Customer Profile", "Recommendations", "Shipping",
    "Fraud Detection", "Feature Flags", "Messaging", "Subscriptions", "Loyalty", "Reviews",
    "Returns", "Tax", "Refunds", "Promotions", "Analytics", "Data Warehouse", "Document Storage",
    "Scheduling", "Onboarding", "Partner Portal", "Mobile Backend", "Storefront", "Support Desk",
    "Knowledge Base", "CRM", "Payroll", "Expenses", "HR Records", "Contracts",
)
SERVICE_COMPONENTS = (
    ("API", "REST API for {d}, used by the web and mobile apps."),
    ("Service", "Core business logic for {d}."),
    ("Worker", "Background jobs that process {d} events."),
    ("Database", "Primary database cluster holding {d} data."),
    ("Cache", "Read cache in front of {d}."),
    ("Event Stream", "Topics carrying {d} events to other services."),
    ("Admin Console", "Internal console for operating {d}."),
    ("Batch Jobs", "Nightly batch processing for {d}."),
    ("Gateway", "Edge gateway for {d} traffic."),
    ("Scheduler", "Time-based triggers for {d}."),
    ("Webhooks", "Notifies partners of {d} changes."),
    ("Search Index", "Search index over {d} records."),
    ("Reports", "Reports and exports of {d} data."),
    ("Sync", "Keeps {d} in step with external systems."),
    ("Scoring Model", "Machine-learning scoring used by {d}."),
    ("Web App", "Web front end for {d}."),
    ("Mobile API", "Backend-for-frontend serving {d} to the mobile apps."),
    ("Audit Log", "Tamper-evident history of {d} changes."),
    ("Importer", "Loads {d} data from partner files."),
    ("Archive", "Long-term archive of {d} data."),
)
# Tiers 0..3, most services business operational.
TIER_WEIGHTS = (5, 20, 50, 25)

# Business processes per function, round-robin so the small demo covers them all.
PROCESSES = {
    "Sales": (
        ("Lead qualification", "Scores inbound leads and routes them to the right sales team."),
        ("Quote to cash", "From quote through contract and invoice to cash collected."),
        ("Deal desk approval", "Reviews non-standard discounts and terms before signature."),
        ("Contract renewal", "Renews customer contracts before they lapse."),
        ("Sales forecasting", "Weekly forecast of bookings by region."),
    ),
    "Customer Success": (
        ("Customer onboarding", "Takes a new customer from signature to first value."),
        ("Support ticket triage", "Classifies and assigns incoming support tickets."),
        ("Incident communication", "Keeps customers informed during service incidents."),
        ("Churn risk review", "Monthly review of accounts at risk and their rescue plans."),
        ("Customer escalation", "Handles escalated customer issues to resolution."),
    ),
    "Finance": (
        ("Month-end close", "Closes the books within five working days of month end."),
        ("Procure to pay", "From purchase request through approval to supplier payment."),
        ("Invoice processing", "Receives, matches and approves supplier invoices."),
        ("Expense reimbursement", "Checks and pays employee expense claims."),
        ("Annual budgeting", "Builds and approves next year's budget."),
    ),
    "People": (
        ("Recruiting to hire", "From approved vacancy to signed offer."),
        ("Employee onboarding", "Prepares new joiners' accounts, equipment and first weeks."),
        ("Performance review cycle", "Runs the half-yearly review and calibration."),
        ("Employee offboarding", "Removes access and settles final pay for leavers."),
        ("Payroll run", "Calculates and pays monthly salaries."),
    ),
    "Marketing": (
        ("Campaign launch", "Plans, approves and launches marketing campaigns."),
        ("Lead handoff to sales", "Passes qualified marketing leads to sales development."),
        ("Content publishing", "Reviews and publishes web and social content."),
        ("Event management", "Organises conferences, webinars and customer events."),
    ),
    "Operations": (
        ("Access request", "Grants and reviews access to internal systems."),
        ("Laptop provisioning", "Orders, configures and ships employee laptops."),
        ("Vendor onboarding", "Assesses and registers new suppliers."),
        ("Contract review", "Legal review of customer and supplier contracts."),
        ("Business continuity test", "Yearly test of the business continuity plan."),
    ),
    "Product": (
        ("Feature request intake", "Collects, deduplicates and prioritises feature requests."),
        ("Release planning", "Plans and communicates the quarterly release train."),
        ("User research", "Recruits participants and shares research findings."),
    ),
}
PROCESS_REGIONS = ("EMEA", "Americas", "APAC")
PROCESSES_PER_PERSON = 1 / 15
MIN_PROCESSES = 10


@dataclass(frozen=True)
class LoginSpec:
    username: str
    role: str | None  # granted through RoleGrant; None: the person's position says it all
    description: str
    superuser: bool = False


LOGINS = (
    LoginSpec("admin", Role.ADMIN, "administrator (superuser)", superuser=True),
    LoginSpec("hr", Role.HR, "HR business partner"),
    LoginSpec("exec", Role.EXECUTIVE, "the CEO, reads everything"),
    LoginSpec("auditor", Role.AUDITOR, "internal auditor, reads the audit trail"),
    LoginSpec("owner", Role.SERVICE_OWNER, "platform engineer owning services"),
    LoginSpec("manager", None, "department head with a reporting chain"),
    LoginSpec("employee", None, "team member"),
)


# -- the plan --------------------------------------------------------------------------------


@dataclass
class Team:
    unit: OrgUnit
    function: Function
    lead: Person
    members: list[Person]


@dataclass
class DemoPlan:
    size: str
    seed: int
    units: list[OrgUnit] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    logins: dict[str, Person] = field(default_factory=dict)  # username -> person

    def counts(self) -> dict[str, int]:
        return {
            "people": len(self.people), "org_units": len(self.units), "services": len(self.services),
            "processes": len(self.processes), "subjects": len(self.subjects), "logins": len(self.logins),
        }


def build_plan(size: str, seed: int = 1) -> DemoPlan:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    return _Planner(DemoPlan(size=size, seed=seed)).build(SIZES[size])


class _Planner:
    def __init__(self, plan: DemoPlan):
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.teams: list[Team] = []
        self.department_heads: dict[str, Person] = {}  # top-level department name -> head
        self._keys: set[tuple[type, str]] = set()
        self._email_counts: dict[str, int] = {}

    # ---- ids, keys, names

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def key(self, model: type, name: str) -> str:
        """A unique slug; long names are cut, so two may share a start and get a number."""
        base = slugify(name)[:56].strip("-")
        key, number = base, 1
        while (model, key) in self._keys:
            number += 1
            key = f"{base}-{number}"
        self._keys.add((model, key))
        return key

    def email(self, first: str, last: str) -> str:
        local = _ascii(f"{first}.{last}").lower().replace(" ", "").replace("'", "")
        count = self._email_counts.get(local, 0) + 1
        self._email_counts[local] = count
        return f"{local}@{EMAIL_DOMAIN}" if count == 1 else f"{local}{count}@{EMAIL_DOMAIN}"

    def subject(self, target) -> None:
        subject = Subject.for_target(target)
        subject.uid = self.uid()
        self.plan.subjects.append(subject)

    # ---- rows

    def unit(self, kind: str, name: str, parent: OrgUnit | None) -> OrgUnit:
        pk = len(self.plan.units) + 1
        unit = OrgUnit(
            pk=pk, uid=self.uid(), key=self.key(OrgUnit, name), name=name, kind=kind,
            parent_id=parent.pk if parent else None,
            path=f"{parent.path if parent else '/'}{pk}/",
        )
        self.plan.units.append(unit)
        self.subject(unit)
        return unit

    def person(self, unit: OrgUnit, manager: Person | None, title: str, role: str, location: str,
               leader: bool) -> Person:
        pk = len(self.plan.people) + 1
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        span = (AS_OF - FOUNDED).days
        # Leaders have been around longer; the company keeps growing, so most
        # others joined in the last few years.
        days_back = self.rng.randint(span // 3, span) if leader else min(span, int(self.rng.expovariate(1 / 700)))
        on_leave = not leader and self.rng.random() < ON_LEAVE_SHARE
        person = Person(
            pk=pk, uid=self.uid(), employee_id=f"E{pk:06d}", name=f"{first} {last}",
            email=self.email(first, last), job_title=title, job_role=role,
            manager_id=manager.pk if manager else None,
            manager_path=f"{manager.manager_path if manager else '/'}{pk}/",
            org_unit_id=unit.pk, location=location,
            employment_status=Person.Status.ON_LEAVE if on_leave else Person.Status.ACTIVE,
            hire_date=AS_OF - timedelta(days=days_back),
        )
        self.plan.people.append(person)
        self.subject(person)
        return person

    def head(self, unit: OrgUnit, manager: Person | None, title: str) -> Person:
        head = self.person(unit, manager, title, title, self.rng.choice(LOCATIONS[:6]), leader=True)
        unit.manager_id = head.pk
        return head

    # ---- the organisation

    def build(self, total: int) -> DemoPlan:
        company = self.unit(OrgUnit.Kind.COMPANY, COMPANY_NAME, None)
        ceo = self.head(company, None, "Chief Executive Officer")
        ceo.location = HEADQUARTERS
        budgets = _apportion(total - 1, [function.weight for function in FUNCTIONS])
        for function, budget in zip(FUNCTIONS, budgets, strict=True):
            self.division(company, ceo, function, budget)
        self.services()
        self.processes()
        self.choose_logins(ceo)
        return self.plan

    def division(self, company: OrgUnit, ceo: Person, function: Function, budget: int) -> None:
        unit = self.unit(OrgUnit.Kind.DIVISION, function.name, company)
        head = self.head(unit, ceo, function.head_title)
        remaining = budget - 1
        count = max(1, min(len(function.departments), round(remaining / DEPARTMENT_TARGET)))
        names = list(function.departments)[:count]
        for name, share in zip(names, _apportion(remaining, [1] * count), strict=True):
            self.department(unit, head, function, name, name, share, depth=0)

    def department(self, parent: OrgUnit, boss: Person, function: Function, area: str, name: str,
                   budget: int, depth: int) -> None:
        unit = self.unit(OrgUnit.Kind.DEPARTMENT, name, parent)
        head = self.head(unit, boss, function.director_title if depth == 0 else function.senior_manager_title)
        if depth == 0:
            self.department_heads[area] = head
        remaining = budget - 1
        if remaining > DEPARTMENT_MAX:
            count = min(MAX_SUBUNITS, math.ceil(remaining / DEPARTMENT_MAX))
            for i, share in enumerate(_apportion(remaining, [1] * count)):
                qualifier = QUALIFIERS[depth][i] if depth < len(QUALIFIERS) else f"Group {i + 1}"
                self.department(unit, head, function, area, f"{name} {qualifier}", share, depth + 1)
        else:
            self.teams_of(unit, head, function, area, remaining)

    def teams_of(self, department: OrgUnit, head: Person, function: Function, area: str,
                 people: int) -> None:
        roles = function.departments[area]
        if people < TEAM_MIN + 1:
            # Too few for a team: they work directly for the department head.
            for _ in range(people):
                self.member(department, head, roles, self.rng.choice(LOCATIONS))
            return
        count = max(1, round(people / ((TEAM_MIN + TEAM_MAX) / 2 + 1)))
        count = max(min(count, people // (TEAM_MIN + 1)), math.ceil(people / (TEAM_MAX + 1)))
        sizes = self.team_sizes(people - count, count)
        names = self.rng.sample(function.team_names, count) if count <= len(function.team_names) \
            else [f"Team {i + 1}" for i in range(count)]
        for team_name, size in zip(names, sizes, strict=True):
            unit = self.unit(OrgUnit.Kind.TEAM, f"{department.name} {team_name}", department)
            location = self.rng.choice(LOCATIONS[:-1])
            lead = self.person(unit, head, function.manager_title, function.manager_title, location,
                               leader=True)
            unit.manager_id = lead.pk
            members = [
                # Most of a team sits together; some are elsewhere or remote.
                self.member(unit, lead, roles, location if self.rng.random() < 0.85 else self.rng.choice(LOCATIONS))
                for _ in range(size)
            ]
            self.teams.append(Team(unit, function, lead, members))

    def team_sizes(self, members: int, teams: int) -> list[int]:
        """`members` split over `teams`, each between TEAM_MIN and TEAM_MAX."""
        sizes = [TEAM_MIN] * teams
        open_teams = list(range(teams))
        for _ in range(members - TEAM_MIN * teams):
            i = self.rng.randrange(len(open_teams))
            sizes[open_teams[i]] += 1
            if sizes[open_teams[i]] == TEAM_MAX:
                open_teams.pop(i)
        return sizes

    def member(self, unit: OrgUnit, manager: Person, roles: tuple[str, ...], location: str) -> Person:
        # The first role of a department is the most common one.
        role = self.rng.choices(roles, weights=range(len(roles) + 1, 1, -1))[0]
        level = self.rng.choices([s for s, _ in SENIORITY], weights=[w for _, w in SENIORITY])[0]
        return self.person(unit, manager, f"{level}{role}", role, location, leader=False)

    # ---- services and processes

    def services(self) -> None:
        platform_team = self.first_team("Platform", ENGINEERING)
        engineering_teams = [team.unit for team in self.teams if team.function is ENGINEERING]
        wanted = min(MAX_SERVICES, max(len(PLATFORM_SERVICES), round(len(self.plan.people) * SERVICES_PER_PERSON)))
        for name, tier, description in PLATFORM_SERVICES[:wanted]:
            self.service(name, tier, platform_team.unit, description)
        combos = [(d, c, text) for d in SERVICE_DOMAINS for c, text in SERVICE_COMPONENTS]
        self.rng.shuffle(combos)
        for domain, component, text in combos[: wanted - len(self.plan.services)]:
            tier = self.rng.choices(list(Service.Tier), weights=TIER_WEIGHTS)[0]
            self.service(f"{domain} {component}", tier, self.rng.choice(engineering_teams),
                         text.format(d=domain))

    def service(self, name: str, tier: int, owner: OrgUnit, description: str) -> None:
        service = Service(pk=len(self.plan.services) + 1, uid=self.uid(), key=self.key(Service, name),
                          name=name, tier=tier, owner_team_id=owner.pk, description=description)
        self.plan.services.append(service)
        self.subject(service)

    def processes(self) -> None:
        base = _round_robin(list(PROCESSES.items()))
        regional = [(function, f"{name} ({region})", f"{text} {region} only.")
                    for region in PROCESS_REGIONS for function, name, text in base]
        catalogue = [(function, name, text) for function, name, text in base] + regional
        wanted = min(len(catalogue), max(MIN_PROCESSES, round(len(self.plan.people) * PROCESSES_PER_PERSON)))
        teams_by_function: dict[str, list[OrgUnit]] = {}
        for team in self.teams:
            teams_by_function.setdefault(team.function.name, []).append(team.unit)
        for function, name, text in catalogue[:wanted]:
            owner = self.rng.choice(teams_by_function[function])
            process = Process(pk=len(self.plan.processes) + 1, uid=self.uid(), key=self.key(Process, name),
                              name=name, owner_team_id=owner.pk, description=text)
            self.plan.processes.append(process)
            self.subject(process)

    # ---- who the demo logins are

    def first_team(self, department: str | None, function: Function, required: bool = True) -> Team | None:
        """The first team of `function`, inside `department` (a top-level department name) if given."""
        for team in self.teams:
            if team.function is function and (department is None or team.unit.name.startswith(department)):
                return team
        if required:
            raise LookupError(f"the demo has no team in {department or function.name}")
        return None

    def choose_logins(self, ceo: Person) -> None:
        platform = self.first_team("Platform", ENGINEERING)
        finance = FUNCTION_BY_NAME["Finance"]
        # A small demo has no Internal Audit department: anyone in Finance will do.
        audit_team = self.first_team("Internal Audit", finance, required=False) or self.first_team(None, finance)
        picks = {
            "admin": (self.first_team(None, FUNCTION_BY_NAME["Operations"]).members[0],
                      "IT Systems Administrator", "Systems Administrator"),
            "hr": (self.first_team(None, FUNCTION_BY_NAME["People"]).members[0],
                   "Senior HR Business Partner", "HR Business Partner"),
            "exec": (ceo, None, None),
            "auditor": (audit_team.members[0],
                        "Internal Auditor", "Internal Auditor"),
            "owner": (platform.members[0], "Senior Platform Engineer", "Platform Engineer"),
            "manager": (self.department_heads["Platform"], None, None),
            "employee": (platform.members[1], None, None),
        }
        for username, (person, title, role) in picks.items():
            if title:
                person.job_title, person.job_role = title, role
            person.employment_status = Person.Status.ACTIVE
            self.plan.logins[username] = person


def _apportion(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, summing exactly to `total` (largest remainder)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    shares = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _round_robin(groups: list[tuple[str, tuple]]) -> list[tuple[str, str, str]]:
    """(function, name, description) taking one from each function in turn."""
    rows = []
    for i in range(max(len(items) for _, items in groups)):
        rows.extend((function, *items[i]) for function, items in groups if i < len(items))
    return rows


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


# -- writing ---------------------------------------------------------------------------------


class DirectoryNotEmpty(Exception):
    """The demo only goes into an empty directory; the message says what is there."""


def existing_directory() -> dict[str, int]:
    """What already stands in the demo's way, by kind; empty when there is nothing."""
    counts = {
        "people": Person.objects.count(), "org units": OrgUnit.objects.count(),
        "services": Service.objects.count(), "processes": Process.objects.count(),
        "users named like a demo login": get_user_model().objects.filter(
            username__in=[spec.username for spec in LOGINS]).count(),
    }
    return {kind: count for kind, count in counts.items() if count}


def write_plan(plan: DemoPlan, progress=None) -> dict[str, int]:
    """Insert the plan in one transaction; `progress.advance(n)` is called as rows go in."""
    with transaction.atomic():
        existing = existing_directory()
        if existing:
            raise DirectoryNotEmpty(", ".join(f"{count:,} {kind}" for kind, count in existing.items()))
        _create_logins(plan)
        # Units point at their heads and people at their units: the foreign keys are
        # checked at commit (deferred on SQLite and PostgreSQL), so the order is free.
        for model, rows in ((OrgUnit, plan.units), (Person, plan.people), (Service, plan.services),
                            (Process, plan.processes), (Subject, plan.subjects)):
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start:start + INSERT_CHUNK]
                model.objects.bulk_create(chunk, batch_size=BATCH_SIZE)
                if progress is not None:
                    progress.advance(len(chunk))
        _reset_sequences([OrgUnit, Person, Service, Process])
        counts = plan.counts()
        # The demo is seed data, not a series of user actions: one event says it was
        # loaded, instead of one per row (100,000 events for size L).
        record_event(Action.CREATE, acting_user=None, actor_label="northstar demo",
                     object_repr=f"demo organisation size {plan.size}", after={**counts, "seed": plan.seed})
    return counts


def _create_logins(plan: DemoPlan) -> None:
    User = get_user_model()
    # One hash for all: hashing is deliberately slow, and every demo login shares
    # the published password anyway.
    password = make_password(DEMO_PASSWORD)
    grants = []
    for spec in LOGINS:
        person = plan.logins[spec.username]
        first, _, last = person.name.partition(" ")
        user = User(username=spec.username, password=password, email=person.email, first_name=first,
                    last_name=last, is_superuser=spec.superuser, is_staff=spec.superuser)
        user.save()
        person.user_id = user.pk
        if spec.role:
            grants.append(RoleGrant(user=user, role=spec.role))
    RoleGrant.objects.bulk_create(grants)


def _reset_sequences(models: list) -> None:
    """Primary keys were given explicitly; move PostgreSQL's sequences past them (no-op on SQLite)."""
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def login_rows() -> list[tuple[str, str, str]]:
    """(username, what the login is, the person behind it) for the demo logins that exist."""
    people = {
        person.user.username: person
        for person in Person.objects.filter(user__username__in=[s.username for s in LOGINS]).select_related("user")
    }
    rows = []
    for spec in LOGINS:
        person = people.get(spec.username)
        if person is not None:
            rows.append((spec.username, spec.description, f"{person.name}, {person.job_title}"))
    return rows
