from django.urls import path

from apps.cycle import views

app_name = "cycle"
urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("<int:pk>/", views.cycle_detail, name="detail"),
    path("trends/", views.trends, name="trends"),
    path("run-now/", views.run_now, name="run_now"),
    path("interval/", views.set_interval, name="interval"),
    path("pause/", views.pause, name="pause"),
]
