import pytest

from northstar.goals.services import do_create_fiscal_year
from northstar.measures.services import do_create_measure, do_set_target


@pytest.fixture
def year(org):
    """FY2026 with its quarters and months (fiscal year = calendar year by default)."""
    periods = do_create_fiscal_year(2026, acting_user=org.hr)
    return {p.key: p for p in periods}


@pytest.fixture
def measures(org, year):
    """A sum KPI, a ratio KPI and a last-value KPI on the Platform team, with FY2026 targets."""
    subject = org.units.platform.subject
    made = {
        "deploys": do_create_measure(key="deploys", name="Deploys", unit="deploys", subject=subject,
                                     aggregation="sum", acting_user=org.admin),
        "availability": do_create_measure(key="availability", name="Availability", subject=subject,
                                          aggregation="ratio", acting_user=org.admin),
        "latency": do_create_measure(key="latency", name="p95 latency", unit="ms", subject=subject,
                                     aggregation="last", polarity="decrease", acting_user=org.admin),
    }
    do_set_target(made["deploys"], year["fy2026"], target=1200, acting_user=org.admin)
    do_set_target(made["availability"], year["fy2026"], target=0.999, acting_user=org.admin)
    do_set_target(made["latency"], year["fy2026"], target=200, baseline=400, acting_user=org.admin)
    return made
