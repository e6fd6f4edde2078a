"""Routes of the orders API: carts/, checkout/, orders/, me/orders/, staff/ (the pickup queue,
order actions, and staff carts for selling on a customer's behalf)."""

from django.urls import path, re_path

from orders.api import assisted_views, views

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
    # selling on a customer's behalf (store tablets, call centre)
    path("staff/carts/", assisted_views.StaffCartCreateView.as_view(), name="staff-cart-create"),
    path(
        "staff/carts/<str:token>/",
        assisted_views.StaffCartDetailView.as_view(),
        name="staff-cart-detail",
    ),
    path(
        "staff/carts/<str:token>/lines/",
        assisted_views.StaffCartLinesView.as_view(),
        name="staff-cart-lines",
    ),
    path(
        "staff/carts/<str:token>/lines/<str:sku>/",
        assisted_views.StaffCartLineView.as_view(),
        name="staff-cart-line",
    ),
    path(
        "staff/carts/<str:token>/confirmation/",
        assisted_views.StaffCartConfirmationView.as_view(),
        name="staff-cart-confirmation",
    ),
    path(
        "staff/carts/<str:token>/confirmation/confirm/",
        assisted_views.StaffCartConfirmView.as_view(),
        name="staff-cart-confirm",
    ),
    path("staff/checkout/", assisted_views.StaffCheckoutView.as_view(), name="staff-checkout"),
    path("staff/pickups/", views.StaffPickupQueueView.as_view(), name="staff-pickups"),
    path(
        "staff/orders/<str:number>/reroute/",
        views.StaffOrderRerouteView.as_view(),
        name="staff-order-reroute",
    ),
    path(
        "staff/orders/<str:number>/goods-at-store/",
        views.StaffOrderGoodsAtStoreView.as_view(),
        name="staff-order-goods-at-store",
    ),
    re_path(
        r"^staff/orders/(?P<number>[A-Za-z0-9-]+)/(?P<action>ready|handover|cancel|ship|deliver)/$",
        views.StaffOrderActionView.as_view(),
        name="staff-order-action",
    ),
]
