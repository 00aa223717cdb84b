"""Directory data in the admin is for looking up: changes go through the app and the API,
whose services keep trees, subjects and the audit trail right."""

from django.contrib import admin

from northstar.core.admin import ReadOnlyAdmin
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject


@admin.register(OrgUnit)
class OrgUnitAdmin(ReadOnlyAdmin):
    list_display = ("name", "key", "kind", "parent", "manager", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "key")


@admin.register(Person)
class PersonAdmin(ReadOnlyAdmin):
    list_display = ("name", "employee_id", "email", "job_title", "org_unit", "employment_status")
    list_filter = ("employment_status",)
    search_fields = ("name", "email", "employee_id")


@admin.register(Service)
class ServiceAdmin(ReadOnlyAdmin):
    list_display = ("name", "key", "tier", "owner_team", "is_active")
    list_filter = ("tier", "is_active")
    search_fields = ("name", "key")


@admin.register(Process)
class ProcessAdmin(ReadOnlyAdmin):
    list_display = ("name", "key", "owner_team", "is_active")
    search_fields = ("name", "key")


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin):
    list_display = ("uid", "kind", "__str__")
    list_filter = ("kind",)
