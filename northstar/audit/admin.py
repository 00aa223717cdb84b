from django.contrib import admin

from northstar.audit.models import AuditEvent
from northstar.core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the trail cannot be changed through the admin."""

    list_display = ("seq", "time", "actor", "action", "object_type", "object_repr", "client_ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_repr", "object_id", "request_id")
    date_hierarchy = "time"
