from django.urls import path

from northstar.audit import views

urlpatterns = [
    path("", views.audit_search, name="audit"),
    path("export.csv", views.audit_export, name="audit_export"),
]
