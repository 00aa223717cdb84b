from django.urls import path

from northstar.directory import views

urlpatterns = [
    path("people/", views.people, name="people"),
]
