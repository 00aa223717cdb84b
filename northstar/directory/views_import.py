"""The people import page: upload a file, preview what it changes, apply it.

Between preview and apply the server keeps nothing. The page is one form: htmx
swaps only the outcome area below the file input, so the chosen file stays
selected and "Apply import" posts the same file again. The preview carries a
fingerprint of the file and options it showed; apply goes ahead only when the
re-posted file and options have that fingerprint, otherwise the page shows a
fresh preview. So nothing is applied unseen, no upload sits in the session or
on one app server's disk, and any app server can take the second request.
"""

import hashlib

from django.contrib.auth.decorators import login_required
from django.urls import reverse

from northstar.core.htmx import render_page
from northstar.core.permissions import require_role
from northstar.directory.importer import IMPORT_ROLES, LABELS, MAX_FILE_BYTES, ImportResult, do_import_people

PREVIEW_ROWS = 20  # people shown per section; the counts have the totals
SHOWN_ERRORS = 200


@login_required
def import_people(request):
    require_role(request.user, *IMPORT_ROLES, to="import people")
    context = {"crumbs": [("People", reverse("people"))], "deactivate_missing": True}
    if request.method == "POST":
        context.update(_import(request))
    return render_page(request, "directory/import.html", context)


def _import(request) -> dict:
    deactivate_missing = request.POST.get("deactivate_missing") == "on"
    upload = request.FILES.get("file")
    if upload is None:
        return {"deactivate_missing": deactivate_missing, "problem": "Choose a CSV or XLSX file to import."}
    if upload.size > MAX_FILE_BYTES:
        return {"deactivate_missing": deactivate_missing,
                "problem": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."}
    data = upload.read()
    fingerprint = _fingerprint(data, deactivate_missing)
    apply = request.POST.get("action") == "apply"
    notice = ""
    if apply and request.POST.get("fingerprint") != fingerprint:
        apply = False
        notice = "The file or the options changed since the preview. Check this preview, then apply it."
    result = do_import_people(upload.name, data, acting_user=request.user, dry_run=not apply,
                              deactivate_missing=deactivate_missing)
    return {"deactivate_missing": deactivate_missing, "result": result, "fingerprint": fingerprint,
            "notice": notice, **_outcome(result)}


def _fingerprint(data: bytes, deactivate_missing: bool) -> str:
    # Not a secret: it only ties "Apply" to what the preview showed. The user may
    # import any file they like anyway; the point is that they saw it first.
    return hashlib.sha256(data + (b"\0deactivate" if deactivate_missing else b"\0keep")).hexdigest()


def _outcome(result: ImportResult) -> dict:
    plan, done = result.plan, result.applied
    sections = [
        _section("Created" if done else "To create", "ok", plan.creates, lambda p: ""),
        _section("Updated" if done else "To update", "warn", plan.updates, _changes),
        _section("Deactivated" if done else "To deactivate", "bad", plan.deactivations, lambda p: ""),
    ]
    return {
        "sections": [s for s in sections if s["count"]],
        "counts": plan.counts,
        "errors": result.errors[:SHOWN_ERRORS],
        "more_errors": max(0, len(result.errors) - SHOWN_ERRORS),
        "columns": [(header, LABELS.get(name, name.replace("_", " "))) for name, header in plan.columns.items()],
        "can_apply": result.ok and result.dry_run and plan.has_changes,
    }


def _section(title: str, tone: str, people: list, detail) -> dict:
    rows = [{"line": p.line, "employee_id": p.employee_id, "name": p.name, "detail": detail(p)}
            for p in people[:PREVIEW_ROWS]]
    return {"title": title, "tone": tone, "count": len(people), "rows": rows,
            "more": max(0, len(people) - PREVIEW_ROWS), "has_detail": any(r["detail"] for r in rows),
            "has_line": any(r["line"] for r in rows)}  # people to deactivate are not in the file


def _changes(person) -> str:
    return "; ".join(f"{LABELS.get(name, name)}: {before or '(empty)'} → {after or '(empty)'}"
                     for name, (before, after) in person.changes.items())
