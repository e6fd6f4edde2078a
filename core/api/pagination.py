"""Cursor (keyset) pagination: stable pages under concurrent inserts, no COUNT(*)."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
