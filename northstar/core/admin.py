"""The Django admin, for administrators: every change through it is audited too."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from northstar.audit.services import Action, record_event
from northstar.core.models import ApiToken, RoleGrant, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown to administrators, changed only through the application."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Writes made in the admin leave the same audit events as the services'."""

    def save_model(self, request, obj, form, change):
        snapshot = _snapshot
        before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record_event(Action.UPDATE if change else Action.CREATE, acting_user=request.user, obj=obj,
                         before=before, after=snapshot(obj))

    def delete_model(self, request, obj):
        with transaction.atomic():
            record_event(Action.DELETE, acting_user=request.user, obj=obj, before=_snapshot(obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def _snapshot(obj) -> dict:
    if hasattr(obj, "audit_snapshot") and getattr(obj, "audit_fields", ()):
        return obj.audit_snapshot()
    if isinstance(obj, get_user_model()):
        # Never anything of the password hash.
        return {"username": obj.username, "email": obj.email, "is_active": obj.is_active,
                "is_staff": obj.is_staff, "is_superuser": obj.is_superuser}
    return {"repr": str(obj)}


@admin.register(RoleGrant)
class RoleGrantAdmin(AuditedAdmin):
    list_display = ("user", "role", "created")
    list_filter = ("role",)
    search_fields = ("user__username",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created where their secret can be shown once, and never edited: a changed
    owner, scope or expiry would silently change what an integration may do. Revoke only."""

    list_display = ("name", "user", "key_id", "scope", "expires", "revoked", "last_used")
    list_filter = ("scope",)
    search_fields = ("name", "user__username", "key_id")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from northstar.core.services import do_revoke_api_token

        for token in queryset:
            do_revoke_api_token(token, acting_user=request.user)

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.is_superuser  # the list and its revoke action only


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "hostname", "started", "last_seen")


# Accounts changed in the admin (passwords, staff flags) are audited like everything else.
User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass
