from django.urls import path

from northstar.measures.views_ingest import ingest_observations

urlpatterns = [
    path("measures/ingest/", ingest_observations, name="ingest_observations"),
]
