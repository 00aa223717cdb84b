from django.urls import path

from northstar.goals import views

urlpatterns = [
    path("goals/", views.my_goals, name="my_goals"),
    path("goals/export.csv", views.my_goals_export, name="my_goals_export"),
    path("goals/new/", views.objective_new, name="objective_new"),
    path("goals/<uuid:uid>/", views.objective, name="objective"),
    path("goals/<uuid:uid>/key-results/", views.key_result_new, name="key_result_new"),
    path("goals/<uuid:uid>/check-in/", views.check_in, name="check_in"),
]
