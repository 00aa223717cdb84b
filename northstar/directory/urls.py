from django.urls import path

from northstar.directory import views
from northstar.directory.views_import import import_people

urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/export.csv", views.people_export, name="people_export"),
    path("people/<uuid:uid>/", views.person, name="person"),
    path("org/", views.org_chart, name="org_chart"),
    path("org/<uuid:uid>/", views.org_unit, name="org_unit"),
    path("org/<uuid:uid>/children/", views.org_children, name="org_children"),
    path("services/", views.services, name="services"),
    path("services/export.csv", views.services_export, name="services_export"),
    path("services/<uuid:uid>/", views.service, name="service"),
    path("processes/", views.processes, name="processes"),
    path("processes/export.csv", views.processes_export, name="processes_export"),
    path("processes/<uuid:uid>/", views.process, name="process"),
    path("people/import/", import_people, name="import_people"),
]
