"""Every write to pull sources (admins only), plus running one now and the dry run.

The connection URL may carry credentials. It is stored and used by the worker,
never shown back, never logged, and never put in the audit trail: the create
and update events record `PullSource.audit_fields` (the URL is left out), and a
changed URL adds one event holding only the redacted URLs (`url_redacted`,
password and token as ***) and whether the credentials changed.

When updating, `***` in place of the password (what `url_redacted` shows) keeps
the stored password, but only if scheme, host, port and user are unchanged, so
an admin can fix a path or option without retyping it, and a stored secret can
never be sent to a different server.
"""

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from northstar.audit.services import Action, record_event
from northstar.core.permissions import require, require_role
from northstar.core.roles import Role
from northstar.core.writes import create_object, delete_object, update_object
from northstar.measures.connectors import MASK, SECRET_PARAM, prometheus, redact_url, sql
from northstar.measures.connectors.runner import PullResult, run_pull
from northstar.measures.models import Measure, PullSource

PULL_FIELDS = {"measure", "kind", "url", "query", "mode", "step_seconds", "every_seconds", "is_active"}
MIN_EVERY_SECONDS = 10
MAX_STEP_SECONDS = 31 * 86400
MAX_URL_LENGTH = PullSource._meta.get_field("url").max_length
CONFIGURE = "configure pull sources"


def _defaults() -> dict:
    return {name: PullSource._meta.get_field(name).get_default()
            for name in ("mode", "step_seconds", "every_seconds", "is_active")}


def check_pull_source(values: dict) -> None:
    """Raise ValidationError naming each bad field of a complete pull source configuration."""
    errors: dict[str, list[str]] = {}
    kind, mode, url, query = values.get("kind"), values.get("mode"), values.get("url"), values.get("query")
    measure = values.get("measure")
    if not isinstance(measure, Measure):
        errors["measure"] = ["A measure is required."]
    elif measure.is_manual:
        errors["measure"] = ["A manual measure is fed by check-ins; it cannot have a pull."]
    if kind not in PullSource.Kind.values:
        errors["kind"] = [f"Choose one of: {', '.join(PullSource.Kind.values)}."]
    if mode not in PullSource.Mode.values:
        errors["mode"] = [f"Choose one of: {', '.join(PullSource.Mode.values)}."]
    if not isinstance(url, str) or not url.strip():
        errors["url"] = ["A URL is required."]
    elif len(url) > MAX_URL_LENGTH:
        errors["url"] = [f"At most {MAX_URL_LENGTH} characters."]
    elif url != url.strip():
        errors["url"] = ["The URL has leading or trailing spaces."]
    elif kind in PullSource.Kind.values:
        try:
            (prometheus if kind == PullSource.Kind.PROMETHEUS else sql).check_url(url)
        except ValueError as error:
            errors["url"] = [str(error)]
    if not isinstance(query, str) or not query.strip():
        errors["query"] = ["A query is required."]
    every, step = values.get("every_seconds"), values.get("step_seconds")
    if not isinstance(every, int) or isinstance(every, bool) or every < MIN_EVERY_SECONDS:
        errors["every_seconds"] = [f"At least {MIN_EVERY_SECONDS} seconds."]
    if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= MAX_STEP_SECONDS:
        errors["step_seconds"] = [f"Between 1 and {MAX_STEP_SECONDS} seconds."]
    if errors:
        raise ValidationError(errors)


def do_create_pull_source(*, acting_user, **values) -> PullSource:
    require_role(acting_user, Role.ADMIN, to=CONFIGURE)
    values = {**_defaults(), **values}
    check_pull_source(values)
    if values["is_active"]:
        values["next_run"] = timezone.now()  # due at once
    return create_object(PullSource, values, acting_user=acting_user, editable=PULL_FIELDS | {"next_run"},
                         may_create=lambda obj: None)


def do_update_pull_source(source: PullSource, *, acting_user, **values) -> PullSource:
    require(acting_user, "change", source)
    values = dict(values)
    url = values.pop("url", None)
    if url is not None:
        url = keep_stored_secrets(url, source.url)
    merged = {name: getattr(source, name) for name in PULL_FIELDS}
    merged.update(values)
    if url is not None:
        merged["url"] = url
    check_pull_source(merged)
    internal = {}
    if "measure" in values and values["measure"].pk != source.measure_id:
        internal["last_ts"] = None  # a new measure starts its history afresh
    now = timezone.now()
    if values.get("is_active") and not source.is_active:
        internal["next_run"] = now
    elif "every_seconds" in values and source.next_run:
        sooner = now + timedelta(seconds=values["every_seconds"])
        if source.next_run > sooner:
            internal["next_run"] = sooner  # a shorter interval takes effect now, not after the old one
    with transaction.atomic():
        if url is not None and url != source.url:
            _change_url(source, url, acting_user)
        if values:
            source = update_object(source, {**values, **internal}, acting_user=acting_user,
                                   editable=PULL_FIELDS | set(internal))
    return source


def _change_url(source: PullSource, url: str, acting_user) -> None:
    old = source.url
    source.url = url
    source.save(update_fields=["url", "updated"])
    record_event(Action.UPDATE, acting_user=acting_user, obj=source,
                 before={"url_redacted": redact_url(old)},
                 after={"url_redacted": redact_url(url), "credentials_changed": _secrets(old) != _secrets(url)})


def _secrets(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.password, sorted(pair for pair in parse_qsl(parts.query) if SECRET_PARAM.search(pair[0]))


def keep_stored_secrets(new_url: str, old_url: str) -> str:
    """`new_url` with *** (as shown by url_redacted) replaced by the stored secrets of `old_url`."""
    if MASK not in new_url:
        return new_url
    try:
        new, old = urlsplit(new_url), urlsplit(old_url)
        same_server = (new.scheme, new.hostname, new.port, new.username) == (
            old.scheme, old.hostname, old.port, old.username)
    except ValueError:
        same_server = False
    if not same_server:
        raise ValidationError({"url": [f"{MASK} keeps the stored password only when scheme, host, port and user "
                                       f"are unchanged; type the password."]})
    netloc = new.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, password = userinfo.partition(":")
        if has_password and password == MASK:
            if old.password is None:
                raise ValidationError({"url": ["There is no stored password to keep; type the password."]})
            old_userinfo = old.netloc.rpartition("@")[0]
            netloc = f"{user}:{old_userinfo.partition(':')[2]}@{host}"
    query = new.query
    if query and MASK in query:
        stored = dict(parse_qsl(old.query, keep_blank_values=True))
        pairs = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if value == MASK:
                if name not in stored:
                    raise ValidationError({"url": [f"There is no stored value of {name} to keep; type it."]})
                value = stored[name]
            pairs.append((name, value))
        query = urlencode(pairs)
    return urlunsplit((new.scheme, netloc, new.path, query, new.fragment))


def do_delete_pull_source(source: PullSource, *, acting_user) -> None:
    """The observations it pulled stay: they belong to the measure (their batches name the source)."""
    delete_object(source, acting_user=acting_user)


def do_run_pull_source(source: PullSource, *, acting_user) -> PullResult:
    """Run the pull now (outside its schedule); the outcome is recorded on the source as usual."""
    require(acting_user, "change", source)
    return run_pull(source, acting_user=acting_user)


def do_test_pull_source(source: PullSource, *, acting_user) -> PullResult:
    """Dry run: fetch and validate the points, write nothing, leave the source's state untouched."""
    require(acting_user, "change", source)
    return run_pull(source, acting_user=acting_user, dry_run=True)
