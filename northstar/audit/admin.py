from django.contrib import admin

from northstar.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail cannot be changed through the admin."""

    list_display = ("seq", "time", "actor", "action", "object_type", "object_repr", "client_ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_repr", "object_id", "request_id")
    date_hierarchy = "time"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
