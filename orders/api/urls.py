"""Routes of the orders API: carts/, checkout/, orders/, me/orders/, staff/."""

from django.urls import path, re_path

from orders.api import views

urlpatterns = [
    path("carts/", views.CartCreateView.as_view(), name="cart-create"),
    path("carts/current/", views.CartCurrentView.as_view(), name="cart-current"),
    path("carts/<str:token>/", views.CartDetailView.as_view(), name="cart-detail"),
    path("carts/<str:token>/lines/", views.CartLinesView.as_view(), name="cart-lines"),
    path("carts/<str:token>/lines/<str:sku>/", views.CartLineView.as_view(), name="cart-line"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
    path("orders/<str:number>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:number>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("me/orders/", views.MyOrdersView.as_view(), name="my-orders"),
    path("staff/pickups/", views.StaffPickupQueueView.as_view(), name="staff-pickups"),
    path(
        "staff/orders/<str:number>/reroute/",
        views.StaffOrderRerouteView.as_view(),
        name="staff-order-reroute",
    ),
    re_path(
        r"^staff/orders/(?P<number>[A-Za-z0-9-]+)/(?P<action>ready|handover|cancel|ship|deliver)/$",
        views.StaffOrderActionView.as_view(),
        name="staff-order-action",
    ),
]
