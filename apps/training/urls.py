from django.urls import path

from apps.training import truth, views

app_name = "training"
urlpatterns = [
    path("", views.panel, name="panel"),
    path("<int:pk>/end/", views.end, name="end"),
    path("truth/", truth.truth_page, name="truth"),
]
