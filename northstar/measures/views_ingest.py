"""The observation upload page: choose a file, preview what it stores (a dry run), apply it.

As on the people import page, the server keeps nothing between preview and
apply: the page is one form, htmx swaps only the outcome area so the chosen file
stays selected, and "Store observations" re-posts the same file with the
fingerprint of the file and options the preview showed. A different file or
option gets a fresh preview instead, so nothing is stored unseen.
"""

import hashlib

from django.contrib.auth.decorators import login_required

from northstar.core.htmx import render_page
from northstar.core.permissions import deny
from northstar.directory.importer import MAX_FILE_BYTES
from northstar.measures.files import FileIngest, ingest_file
from northstar.measures.models import Measure

SHOWN_ERRORS = 200


@login_required
def ingest_observations(request):
    if not Measure.objects.restrict(request.user, "change").filter(is_active=True).exists():
        raise deny(request.user, "upload", "observations (you may change no measure)")
    context = {"crumbs": [], "partial": False, "max_mb": MAX_FILE_BYTES // (1024 * 1024)}
    if request.method == "POST":
        context.update(_ingest(request))
    return render_page(request, "measures/ingest.html", context)


def _ingest(request) -> dict:
    partial = request.POST.get("partial") == "on"
    upload = request.FILES.get("file")
    if upload is None:
        return {"partial": partial, "problem": "Choose a CSV or XLSX file of observations."}
    if upload.size > MAX_FILE_BYTES:
        return {"partial": partial, "problem": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."}
    data = upload.read()
    fingerprint = _fingerprint(data, partial)
    apply = request.POST.get("action") == "apply"
    notice = ""
    if apply and request.POST.get("fingerprint") != fingerprint:
        apply = False
        notice = "The file or the options changed since the preview. Check this preview, then store it."
    outcome = ingest_file(upload.name, data, acting_user=request.user, dry_run=not apply, partial=partial)
    return {"partial": partial, "outcome": outcome, "fingerprint": fingerprint, "notice": notice,
            **_view(outcome)}


def _fingerprint(data: bytes, partial: bool) -> str:
    # Not a secret: it only ties "Store" to what the preview showed.
    return hashlib.sha256(data + (b"\0partial" if partial else b"\0all")).hexdigest()


def _view(outcome: FileIngest) -> dict:
    stopped = bool(outcome.read.errors) or (bool(outcome.errors) and not outcome.partial)
    return {
        "stopped": stopped,
        "errors": outcome.errors[:SHOWN_ERRORS],
        "more_errors": max(0, len(outcome.errors) - SHOWN_ERRORS),
        "columns": list(outcome.read.columns.items()),
        "can_apply": outcome.dry_run and not stopped and outcome.written > 0,
    }

