"""Routes of the pricing API."""

urlpatterns: list = []
