"""Routes of the loyalty API."""

urlpatterns: list = []
