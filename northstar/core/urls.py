from django.contrib.auth.views import LogoutView
from django.urls import path

from northstar.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.NorthstarLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<uuid:uid>/revoke/", views.revoke_token, name="revoke_token"),
    path("health", views.health, name="health"),
]
