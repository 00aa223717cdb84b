"""Pages of evaluation results: a subject's scorecard, the alignment tree, a measure's chart and
the company overview, each with its CSV export. Reads go through `northstar.scoring.queries`.
"""

import logging
import re
from datetime import datetime, timedelta
from functools import cache
from math import isfinite
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from northstar.core.htmx import csv_response, render_page
from northstar.core.roles import actor_for
from northstar.directory.models import Subject
from northstar.goals.models import KeyResult, Objective
from northstar.measures.models import Measure
from northstar.scoring import queries
from northstar.scoring.models import Status

logger = logging.getLogger(__name__)

SUBJECT_PAGES = {
    Subject.Kind.PERSON: ("People", "people", "person"),
    Subject.Kind.ORG_UNIT: ("Org chart", "org_chart", "org_unit"),
    Subject.Kind.SERVICE: ("Services", "services", "service"),
    Subject.Kind.PROCESS: ("Processes", "processes", "process"),
}


def subject_crumbs(subject: Subject) -> list[tuple[str, str]]:
    """Breadcrumbs to the subject's own directory page."""
    label, list_name, page_name = SUBJECT_PAGES[subject.kind]
    return [(label, reverse(list_name)), (str(subject.target), reverse(page_name, args=[subject.target.uid]))]


def _period(request, objectives=None):
    key = request.GET.get("period", "").strip()
    try:
        return queries.choose_period(request.user, key or None, objectives)
    except ValidationError:
        raise Http404(f"No period {key!r}.") from None


def _number(value) -> str:
    """Full precision for CSV: repr of a float, empty for none."""
    return "" if value is None else repr(value)


# -- scorecard -------------------------------------------------------------------------------------


def _visible_subject(request, subject_uid) -> Subject:
    try:
        return queries.visible_subject(request.user, subject_uid)
    except Subject.DoesNotExist:
        raise Http404("No such subject.") from None


@login_required
def scorecard(request, subject_uid):
    subject = _visible_subject(request, subject_uid)
    period = _period(request, queries.subject_objectives(request.user, subject))
    card = queries.scorecard(request.user, subject, period)
    context = {
        "card": card, "subject": subject, "period": period, "periods": queries.periods(request.user),
        "period_last_day": period.end - timedelta(days=1) if period else None,
        "crumbs": subject_crumbs(subject),
        "can_plan": Subject.objects.filter(Subject.plannable_by(actor_for(request.user)), pk=subject.pk).exists(),
    }
    return render_page(request, "scoring/scorecard.html", context)


SCORECARD_HEADER = ["level", "perspective", "objective", "key_result", "measure", "unit", "weight", "actual",
                    "target", "progress", "health", "status", "forecast", "forecast_status", "day"]


@login_required
def scorecard_export(request, subject_uid):
    subject = _visible_subject(request, subject_uid)
    period = _period(request, queries.subject_objectives(request.user, subject))
    card = queries.scorecard(request.user, subject, period, days=0)

    def line(level, perspective, objective, kr, weight, score, target=None):
        measure = kr.measure if kr else None
        return [level, perspective, objective, kr.title if kr else "", measure.key if measure else "",
                measure.unit if measure else "", _number(weight), _number(score.actual), _number(target),
                _number(score.score), _number(score.health), score.status, _number(score.forecast),
                score.forecast_status, score.day or ""]

    def lines():
        yield line("scorecard", "", "", None, None, card.score)
        for block in card.perspectives:
            name = block.perspective.name if block.perspective else "No perspective"
            if block.perspective:
                yield line("perspective", name, "", None, block.perspective.weight, block.score)
            for row in block.objectives:
                yield line("objective", name, row.objective.title, None, row.objective.weight, row.score)
                for kr in row.key_results:
                    yield line("key_result", name, row.objective.title, kr.key_result, kr.key_result.weight,
                               kr.score, kr.target.target if kr.target else None)

    key = queries.subject_key(subject)
    return csv_response(f"scorecard-{key}-{period.key if period else 'none'}.csv", SCORECARD_HEADER, lines())


# -- alignment -------------------------------------------------------------------------------------


@login_required
def alignment(request):
    period = _period(request, Objective.objects.restrict(request.user, "view"))
    roots = queries.alignment(request.user, period) if period else []
    context = {"roots": roots, "period": period, "periods": queries.periods(request.user), "crumbs": [],
               "count": sum(1 for _row in queries.flatten(roots))}
    return render_page(request, "scoring/alignment.html", context)


ALIGNMENT_HEADER = ["depth", "key", "title", "parent_key", "aligned_to", "subject", "subject_kind", "owner",
                    "perspective", "rolls_up", "weight", "progress", "health", "status", "day"]


@login_required
def alignment_export(request):
    period = _period(request, Objective.objects.restrict(request.user, "view"))
    roots = queries.alignment(request.user, period) if period else []

    def lines():
        for row in queries.flatten(roots):
            o, s = row.objective, row.score
            yield [row.depth, o.key, o.title, o.parent.key if row.depth else "",
                   row.parent_elsewhere.key if row.parent_elsewhere else "", queries.subject_key(o.subject),
                   o.subject.kind, o.owner.name if o.owner else "", o.perspective.key if o.perspective else "",
                   "yes" if o.rolls_up else "no", _number(o.weight), _number(s.score), _number(s.health), s.status,
                   s.day or ""]

    return csv_response(f"alignment-{period.key if period else 'none'}.csv", ALIGNMENT_HEADER, lines())


# -- a measure -------------------------------------------------------------------------------------

# Band fills: the chips' background colours (northstar.css), so chart and chips agree.
BAND_FILL = {Status.ON_TRACK: "#e2f3e8", Status.AT_RISK: "#fcf0d6", Status.OFF_TRACK: "#fbe5e4"}
LINE = {"accent": "#2c5bc4", "muted": "#5d6778", "target": "#1a6a3a", "forecast": "#815300", "grid": "#eceef2"}
PACE_SAMPLES = 48


def _measure_period(request, measure):
    key = request.GET.get("period", "").strip()
    if key:
        try:
            return queries.period_by_key(request.user, key)
        except ValidationError:
            raise Http404(f"No period {key!r}.") from None
    return queries.measure_default_period(request.user, measure)


def _visible_measure(request, uid) -> Measure:
    return get_object_or_404(Measure.objects.restrict(request.user, "view").select_related(
        "subject__person", "subject__org_unit", "subject__service", "subject__process"), uid=uid)


def _stamp(moment: datetime) -> str:
    """A time as plotly reads it on a date axis (in the organisation's time zone)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _path_stamp(moment: datetime) -> str:
    """A time inside a shape's SVG path on a date axis: plotly wants the space as an underscore."""
    return _stamp(moment).replace(" ", "_")


def _y_range(series: queries.Series) -> tuple[float, float]:
    values = []
    for p in series.points:
        values += [p.low, p.high, p.actual, p.value]
    target = series.target
    if target is not None:
        values += [target.target, target.baseline, target.lower, target.upper]
    for band in series.bands:
        values += [band.lower, band.upper]
    values.append(series.latest.forecast if not series.closed else None)
    finite = [v for v in values if v is not None and isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return low - pad, high + pad


def measure_figure(series: queries.Series) -> dict:
    """The plotly figure (plain JSON) of a measure in a period: what the page's data block carries."""
    measure, unit = series.measure, series.measure.unit
    y_low, y_high = _y_range(series)
    xs = [_stamp(p.ts) for p in series.points]
    cumulative = measure.aggregation in (Measure.Aggregation.SUM, Measure.Aggregation.COUNT)
    data, shapes, annotations = [], [], []
    observation_name = "Per bucket" if series.downsampled else "Observations"
    if cumulative:
        data.append({"type": "bar", "name": f"{observation_name} (right axis)", "x": xs,
                     "y": [p.n if measure.aggregation == Measure.Aggregation.COUNT else p.value * p.n
                           if series.downsampled and p.value is not None else p.value for p in series.points],
                     "yaxis": "y2", "marker": {"color": "#c4cbd5"}, "hovertemplate": "%{y:.4~g}<extra></extra>"})
    elif series.downsampled:
        data.append({"type": "scatter", "mode": "lines", "name": "Range per bucket", "x": xs + xs[::-1],
                     "y": [p.high for p in series.points] + [p.low for p in series.points][::-1],
                     "fill": "toself", "fillcolor": "rgba(44, 91, 196, 0.12)", "line": {"width": 0},
                     "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "lines", "name": "Mean per bucket", "x": xs,
                     "y": [p.value for p in series.points], "line": {"color": "#8da6dd", "width": 1}})
    else:
        data.append({"type": "scatter", "mode": "markers", "name": observation_name, "x": xs,
                     "y": [p.value for p in series.points], "marker": {"color": LINE["accent"], "size": 6}})
    if measure.aggregation != Measure.Aggregation.LAST or series.downsampled:
        data.append({"type": "scatter", "mode": "lines", "name": "Period actual", "x": xs,
                     "y": [p.actual for p in series.points], "line": {"color": LINE["accent"], "width": 2.5,
                                                                       "shape": "hv"}})
    start, end = _stamp(series.start), _stamp(series.end)
    target = series.target
    if target is not None:
        if series.paced:
            shapes += _paced_bands(series, y_low, y_high)
        else:
            for band in series.bands:
                shapes.append({"type": "rect", "xref": "x", "yref": "y", "x0": start, "x1": end,
                               "y0": y_low if band.lower is None else band.lower,
                               "y1": y_high if band.upper is None else band.upper,
                               "fillcolor": BAND_FILL[band.status], "opacity": 0.75, "line": {"width": 0},
                               "layer": "below"})
        for value, label in ((target.target, "Target"), (target.lower, "Lower bound"), (target.upper, "Upper bound")):
            if value is None or (label == "Target" and measure.polarity == Measure.Polarity.RANGE):
                continue
            shapes.append({"type": "line", "xref": "x", "yref": "y", "x0": start, "x1": end, "y0": value,
                           "y1": value, "line": {"color": LINE["target"], "width": 2, "dash": "dash"}})
            annotations.append({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": value,
                                "yanchor": "bottom", "text": f"{label} {value:g} {unit}".strip(),
                                "showarrow": False, "font": {"color": LINE["target"], "size": 12}})
    if not series.closed and series.latest.forecast is not None and series.latest.actual is not None:
        origin = series.points[-1].ts if series.points else timezone.now()
        data.append({"type": "scatter", "mode": "lines+markers", "name": "Forecast", "x": [_stamp(origin), end],
                     "y": [series.latest.actual, series.latest.forecast],
                     "line": {"color": LINE["forecast"], "width": 2, "dash": "dot"},
                     "marker": {"size": [0, 8], "color": LINE["forecast"]}})
    if not series.closed:
        now = _stamp(timezone.now())
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": now, "x1": now, "y0": 0, "y1": 1,
                       "line": {"color": LINE["muted"], "width": 1, "dash": "dot"}})
        annotations.append({"xref": "x", "x": now, "yref": "paper", "y": 1, "yanchor": "bottom", "text": "Today",
                            "showarrow": False, "font": {"color": LINE["muted"], "size": 11}})
    if not series.points:
        annotations.append({"xref": "paper", "x": 0.5, "yref": "paper", "y": 0.5, "showarrow": False,
                            "text": "No observations in this period yet", "font": {"color": LINE["muted"],
                                                                                   "size": 14}})
    layout = {
        "height": 400, "margin": {"l": 64, "r": 64 if cumulative else 24, "t": 24, "b": 40},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "font": {"family": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', "size": 12,
                 "color": "#1c2330"},
        "xaxis": {"type": "date", "range": [start, end], "gridcolor": LINE["grid"], "linecolor": "#c4cbd5"},
        "yaxis": {"range": [y_low, y_high], "title": {"text": unit or measure.name}, "gridcolor": LINE["grid"],
                  "zeroline": False},
        "legend": {"orientation": "h", "y": -0.14, "x": 0},
        "hovermode": "x unified", "shapes": shapes, "annotations": annotations, "showlegend": True,
    }
    if cumulative:
        layout["yaxis2"] = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                            "tickmode": "auto", "nticks": 5, "zeroline": False,
                            "title": {"text": "Per bucket" if series.downsampled else "Per observation"}}
    # No mode bar: it styles its buttons with a <style> element per chart, which the CSP refuses.
    # Zoom by dragging, reset with a double click.
    config = {"responsive": True, "displayModeBar": False}
    return {"data": data, "layout": layout, "config": config}


def _paced_bands(series: queries.Series, y_low: float, y_high: float) -> list[dict]:
    """Linear tracking: status is judged on pace, so each band's bounds grow with the elapsed fraction f."""
    start, end = series.start, series.end
    length = (end - start).total_seconds()
    times = [start + timedelta(seconds=length * max(k, 0.02 * PACE_SAMPLES) / PACE_SAMPLES)
             for k in range(PACE_SAMPLES + 1)]
    fractions = [(t - start).total_seconds() / length for t in times]
    per_time = [queries.threshold_bands(series.measure, series.target, fraction=f) for f in fractions]
    shapes = []
    for status in (Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK):
        lows, highs, when = [], [], []
        for moment, bands in zip(times, per_time, strict=True):
            band = next((b for b in bands if b.status == status), None)
            if band is None:
                continue
            lows.append(min(max(y_low if band.lower is None else band.lower, y_low), y_high))
            highs.append(min(max(y_high if band.upper is None else band.upper, y_low), y_high))
            when.append(_path_stamp(moment))
        if len(when) < 2:
            continue
        top = [f"{x},{y!r}" for x, y in zip(when, highs, strict=True)]
        bottom = [f"{x},{y!r}" for x, y in zip(reversed(when), reversed(lows), strict=True)]
        shapes.append({"type": "path", "xref": "x", "yref": "y", "path": "M" + " L".join(top + bottom) + " Z",
                       "fillcolor": BAND_FILL[status], "opacity": 0.75, "line": {"width": 0}, "layer": "below"})
    return shapes


# plotly.js adds its global style rules in a <style> element, which the Content-Security-Policy
# (style-src 'self') refuses. It skips that when the page has an element with the id
# "plotly.js-style-global" and the class "no-inline-styles": the measure page links this
# stylesheet with both, made of the very rules the installed plotly.min.js carries.
_PLOTLY_RULES = re.compile(r"""\{"X,X div":.*?\};for\(""", re.S)
_STRING_PAIR = re.compile(r"""(["'])((?:\\.|(?!\1).)*)\1:(["'])((?:\\.|(?!\3).)*)\3""")


# The bundled map library (maplibre) also adds its CSS in a <style> element when plotly.min.js loads,
# unless an element with the id it checks for exists; no chart here draws maps, so the page puts an
# empty element with that id.
_MAPLIBRE_GUARD = re.compile(r"""getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)""")


@cache
def _plotly_bundle() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


@cache
def plotly_style_guards() -> tuple[str, ...]:
    """Ids of elements whose presence keeps plotly.min.js from adding <style> elements when it loads."""
    return tuple(_MAPLIBRE_GUARD.findall(_plotly_bundle()))


@cache
def plotly_stylesheet() -> str:
    import plotly

    bundle = _plotly_bundle()
    found = _PLOTLY_RULES.search(bundle)
    if found is None:
        logger.warning("plotly.min.js: its style rules were not found; charts will lack plotly's own styles")
        return ""
    rules = []
    for _q1, selector, _q2, declarations in _STRING_PAIR.findall(found.group(0)):
        # As plotly.js expands them (src/css/_*.scss, lib/index.js addStyleRule).
        full = re.sub(r"^,", " ,", selector).replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{full} {{{declarations}}}")
    heading = f"/* plotly {plotly.__version__}: the style rules its plotly.min.js would inject */"
    return "\n".join([heading, *rules]) + "\n"


def plotly_css(request):
    response = HttpResponse(plotly_stylesheet(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
def measure(request, uid):
    subject_measure = _visible_measure(request, uid)
    period = _measure_period(request, subject_measure)
    series = queries.measure_series(request.user, subject_measure, period) if period else None
    subject = subject_measure.subject
    crumbs = [*subject_crumbs(subject), ("Scorecard", reverse("scorecard", args=[subject.uid]))]
    context = {
        "measure": subject_measure, "period": period, "series": series, "crumbs": crumbs,
        "periods": queries.measure_periods(request.user, subject_measure),
        "figure": measure_figure(series) if series else None,
        "plotly_style_guards": plotly_style_guards(),
        "recent_days": [queries.Score.of(s) for s in reversed(series.history[-14:])] if series else [],
        "key_results": KeyResult.objects.restrict(request.user, "view").filter(measure=subject_measure)
        .select_related("objective__period"),
    }
    return render_page(request, "scoring/measure.html", context)


@login_required
def measure_export(request, uid):
    subject_measure = _visible_measure(request, uid)
    period = _measure_period(request, subject_measure)
    if period is None:
        raise Http404("There is no period yet.")
    series = queries.measure_series(request.user, subject_measure, period)
    header = ["ts", "value", "low", "high", "n", "period_actual"]
    rows = ([p.ts.isoformat(), _number(p.value), _number(p.low), _number(p.high), p.n, _number(p.actual)]
            for p in series.points)
    return csv_response(f"measure-{subject_measure.key}-{period.key}.csv", header, rows)


# -- company overview -----------------------------------------------------------------------------


def _overview(request):
    key = request.GET.get("unit", "").strip()
    try:
        unit = queries.unit_by_key(request.user, key) if key else None
    except ValidationError:
        raise Http404(f"No org unit {key!r}.") from None
    period = _period(request, Objective.objects.restrict(request.user, "view"))
    return queries.overview(request.user, period, unit), unit


@login_required
def overview(request):
    data, asked = _overview(request)
    crumbs = [("Overview", reverse("overview"))] if asked else []
    crumbs += [(u.name, f"{reverse('overview')}?unit={u.key}") for u in data.ancestors[1:]] if asked else []
    context = {"overview": data, "period": data.period, "periods": queries.periods(request.user),
               "crumbs": crumbs, "statuses": [(s, queries.status_label(s), queries.status_tone(s))
                                              for s in queries.STATUS_ORDER]}
    return render_page(request, "scoring/overview.html", context)


@login_required
def overview_export(request):
    data, _asked = _overview(request)
    header = ["unit_key", "unit", "kind", *queries.STATUS_ORDER, "total"]

    def lines():
        for row in data.rows:
            yield [row.unit.key, row.unit.name, row.unit.kind, *[row.counts.get(s) for s in queries.STATUS_ORDER],
                   row.counts.total]
        if data.unit is not None and data.own.total:
            yield [data.unit.key, f"{data.unit.name} (itself)", data.unit.kind,
                   *[data.own.get(s) for s in queries.STATUS_ORDER], data.own.total]

    unit = data.unit.key if data.unit else "all"
    return csv_response(f"overview-{unit}-{data.period.key if data.period else 'none'}.csv", header, lines())
