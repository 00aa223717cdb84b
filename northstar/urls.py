from django.contrib import admin
from django.urls import include, path

from northstar.api.urls import api

urlpatterns = [
    path("", include("northstar.core.urls")),
    path("", include("northstar.directory.urls")),
    path("audit/", include("northstar.audit.urls")),
    path("", include("northstar.measures.urls")),
    path("", include("northstar.goals.urls")),
    path("", include("northstar.scoring.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
