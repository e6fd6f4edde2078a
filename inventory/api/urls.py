"""Routes of the inventory API under /api/v1/inventory/."""

from django.urls import path

from inventory.api import views

urlpatterns = [
    path("locations/", views.LocationListView.as_view(), name="inventory-locations"),
    path("locations/<str:code>/", views.LocationDetailView.as_view(), name="inventory-location"),
    path("availability/", views.AvailabilityView.as_view(), name="inventory-availability"),
    path("receipts/", views.ReceiptView.as_view(), name="inventory-receipts"),
    path("adjustments/", views.AdjustmentView.as_view(), name="inventory-adjustments"),
    path("counts/", views.CountView.as_view(), name="inventory-counts"),
    path("transfers/", views.TransferCreateView.as_view(), name="inventory-transfers"),
    path("transfers/<str:number>/", views.TransferDetailView.as_view(), name="inventory-transfer"),
    path(
        "transfers/<str:number>/receive/",
        views.TransferReceiveView.as_view(),
        name="inventory-transfer-receive",
    ),
]
