"""Routes of the customers API."""

urlpatterns: list = []
