from django.urls import path

from apps.cycle import views

app_name = "cycle"
urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("<int:pk>/", views.cycle_detail, name="detail"),
]
