from __future__ import annotations

from django.urls import path

from apps.ems import dso_views

urlpatterns = [
    path("", dso_views.dso_list, name="ems_dsos"),
    path("add/", dso_views.dso_add, name="ems_dso_add"),
    path("<int:pk>/", dso_views.dso_edit, name="ems_dso_edit"),
    path("<int:pk>/delete/", dso_views.dso_delete, name="ems_dso_delete"),
]
