from __future__ import annotations

from django.urls import path

from crest_web.accounts import user_views

urlpatterns = [
    path("", user_views.user_list, name="users"),
    path("add/", user_views.user_add, name="user_add"),
    path("<int:pk>/", user_views.user_detail, name="user_detail"),
    path("<int:pk>/role/", user_views.user_role, name="user_role"),
    path("<int:pk>/active/", user_views.user_active, name="user_active"),
    path("<int:pk>/password/", user_views.user_password, name="user_password"),
]
