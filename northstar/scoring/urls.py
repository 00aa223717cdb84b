from django.urls import path

from northstar.scoring import views

urlpatterns = [
    path("scorecards/<uuid:subject_uid>/", views.scorecard, name="scorecard"),
    path("scorecards/<uuid:subject_uid>/export.csv", views.scorecard_export, name="scorecard_export"),
    path("alignment/", views.alignment, name="alignment"),
    path("alignment/export.csv", views.alignment_export, name="alignment_export"),
    path("measures/<uuid:uid>/", views.measure, name="measure"),
    path("measures/<uuid:uid>/export.csv", views.measure_export, name="measure_export"),
    path("charts/plotly.css", views.plotly_css, name="plotly_css"),
    path("overview/", views.overview, name="overview"),
    path("overview/export.csv", views.overview_export, name="overview_export"),
]
