"""Routes of the orders API."""

urlpatterns: list = []
