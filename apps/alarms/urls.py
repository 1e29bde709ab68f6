from django.urls import path

from apps.alarms import views

app_name = "alarms"
urlpatterns = [
    path("", views.alarm_list, name="list"),
    path("acknowledge-all/", views.alarm_acknowledge_all, name="acknowledge_all"),
    path("<int:pk>/acknowledge/", views.alarm_acknowledge, name="acknowledge"),
]
