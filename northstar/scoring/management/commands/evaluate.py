"""`northstar evaluate [--as-of T] [--period P] [--json]`: score everything and print it."""

import json as json_module

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from northstar.goals.models import Period
from northstar.scoring.evaluate import evaluate
from northstar.scoring.report import result_rows

ORDER = {"scorecard": 0, "perspective": 1, "objective": 2, "key_result": 3, "measure": 4}


def _instant(text: str):
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--as-of: {text!r} is not an ISO 8601 date or time")
        moment = timezone.datetime.combine(day, timezone.datetime.max.time())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _fmt(value, percent=False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:,.4g}"


class Command(BaseCommand):
    help = "Evaluate measures, key results, objectives, perspectives and scorecards, store the snapshots, print them."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO 8601 time or date (default: now)")
        parser.add_argument("--period", action="append", help="Period key (repeatable; default: the open periods)")
        parser.add_argument("--json", action="store_true", help="Print JSON (see docs/evaluation.md)")
        parser.add_argument("--no-store", action="store_true", help="Do not store snapshots")

    def handle(self, *args, as_of=None, period=None, json=False, no_store=False, **options):
        t = _instant(as_of) if as_of else timezone.now()
        if period:
            unknown = set(period) - set(Period.objects.filter(key__in=period).values_list("key", flat=True))
            if unknown:
                raise CommandError(f"--period: unknown period {', '.join(sorted(unknown))}")
        result = evaluate(as_of=t, period_keys=period, store=not no_store)
        rows = sorted(result_rows(result), key=lambda r: (r["period"], r["subject"], ORDER[r["kind"]], r["key"]))
        if json:
            self.stdout.write(_json({"as_of": t.isoformat(), "periods": [p.key for p in result.periods],
                                     "results": rows}))
            return
        self.stdout.write(f"Evaluated as of {t.isoformat()}: {len(rows)} results in "
                          f"{', '.join(p.key for p in result.periods) or 'no open period'}.")
        header = f"{'kind':<12} {'key':<32} {'period':<12} {'actual':>10} {'attain':>8} {'score':>8} " \
                 f"{'health':>8} {'status':<10} {'forecast':>10}"
        self.stdout.write(header)
        for r in rows:
            self.stdout.write(
                f"{r['kind']:<12} {r['key'][:32]:<32} {r['period']:<12} {_fmt(r['actual']):>10} "
                f"{_fmt(r['attainment'], True):>8} {_fmt(r['score'], True):>8} {_fmt(r['health'], True):>8} "
                f"{r['status']:<10} {_fmt(r['forecast']):>10}"
            )


def _json(data) -> str:
    return json_module.dumps(data, indent=2, allow_nan=False)
