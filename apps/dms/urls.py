from django.urls import path

from apps.dms import dispatch_views, feeder_der_views, views

app_name = "dms"
urlpatterns = [
    path("", views.feeder_list, name="feeder_list"),
    path("import/", views.feeder_import, name="feeder_import"),
    path("<slug:name>/", views.feeder_detail, name="feeder_detail"),
    path("<slug:name>/ders/<str:element>/enroll/", feeder_der_views.file_der_enroll, name="file_der_enroll"),
    path("<slug:name>/dispatch/", dispatch_views.dispatch_runs, name="dispatch_runs"),
    path("<slug:name>/dispatch/<int:run_id>/", dispatch_views.dispatch_detail, name="dispatch_detail"),
    path(
        "<slug:name>/dispatch/<int:run_id>/approve/", dispatch_views.dispatch_approve, name="dispatch_approve"
    ),
    path("<slug:name>/dispatch-mode/", dispatch_views.dispatch_mode, name="dispatch_mode"),
]
