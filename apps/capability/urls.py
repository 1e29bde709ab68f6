from django.urls import path

from apps.capability import views

app_name = "capability"
urlpatterns = [
    path("", views.capability_index, name="index"),
    path("feeder/<slug:name>/", views.feeder_studies, name="feeder_studies"),
    path("compare/", views.study_compare, name="compare"),
    path("<int:pk>/", views.study_detail, name="study"),
    path("<int:pk>/cancel/", views.study_cancel, name="cancel"),
    path("<int:pk>/export.<str:fmt>", views.study_export, name="export"),
]
