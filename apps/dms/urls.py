from django.urls import path

from apps.dms import views

app_name = "dms"
urlpatterns = [
    path("", views.feeder_list, name="feeder_list"),
    path("import/", views.feeder_import, name="feeder_import"),
    path("<slug:name>/", views.feeder_detail, name="feeder_detail"),
]
