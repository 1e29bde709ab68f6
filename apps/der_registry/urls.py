from django.urls import path

from apps.der_registry import group_views, maintenance_views, views

app_name = "der_registry"
urlpatterns = [
    path("", views.der_list, name="list"),
    path("groups/", group_views.group_list, name="groups"),
    path("groups/<int:pk>/", group_views.group_detail, name="group"),
    path("groups/<int:pk>/control/", group_views.group_control, name="group_control"),
    path("groups/<int:pk>/primacy/", group_views.group_primacy, name="group_primacy"),
    path("groups/<int:pk>/default-mode/", group_views.group_default_mode, name="group_default_mode"),
    path(
        "groups/<int:pk>/control/<int:control_id>/cancel/",
        group_views.group_control_cancel,
        name="group_control_cancel",
    ),
    path("<int:pk>/alarms-out-of-service/", maintenance_views.der_out_of_service, name="out_of_service"),
    path("<int:pk>/alarms-in-service/", maintenance_views.der_return_to_service, name="return_to_service"),
    path("enroll/", views.der_enroll, name="enroll"),
    path("export.csv", views.der_export, name="export"),
    path("import/", views.der_import, name="import"),
    path("import/<int:pk>/", views.der_import_preview, name="import_preview"),
    path("<int:pk>/", views.der_detail, name="detail"),
    path("<int:pk>/edit/", views.der_edit, name="edit"),
    path("<int:pk>/lifecycle/", views.der_transition, name="transition"),
    path("<int:pk>/agree/", views.der_agree, name="agree"),
    path("<int:pk>/setpoint/", views.der_setpoint, name="setpoint"),
    path("<int:pk>/default-mode/", views.der_default_mode, name="default_mode"),
]
