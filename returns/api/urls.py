"""Routes of the returns API: staff/returns/ and me/returns/."""

from django.urls import re_path

from returns.api import views

NUMBER = r"(?P<number>[A-Za-z0-9-]{1,16})"

urlpatterns = [
    re_path(r"^staff/returns/$", views.StaffReturnsView.as_view(), name="staff-returns"),
    re_path(
        rf"^staff/returns/{NUMBER}/$",
        views.StaffReturnDetailView.as_view(),
        name="staff-return-detail",
    ),
    re_path(
        rf"^staff/returns/{NUMBER}/complete/$",
        views.StaffReturnCompleteView.as_view(),
        name="staff-return-complete",
    ),
    re_path(
        rf"^staff/returns/{NUMBER}/cancel/$",
        views.StaffReturnCancelView.as_view(),
        name="staff-return-cancel",
    ),
    re_path(r"^me/returns/$", views.MyReturnsView.as_view(), name="my-returns"),
    re_path(
        rf"^me/returns/{NUMBER}/$", views.MyReturnDetailView.as_view(), name="my-return-detail"
    ),
    re_path(
        rf"^me/returns/{NUMBER}/cancel/$",
        views.MyReturnCancelView.as_view(),
        name="my-return-cancel",
    ),
]
