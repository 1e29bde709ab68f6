from django.urls import path

from apps.training import views

app_name = "training"
urlpatterns = [
    path("", views.panel, name="panel"),
    path("<int:pk>/end/", views.end, name="end"),
]
