"""Shapes of the POS API: feed pages and the cursor acknowledgement."""

from rest_framework import serializers

from pos.selectors import DEFAULT_PAGE, MAX_PAGE


class FeedQuery(serializers.Serializer):
    cursor = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="The `cursor` of the previous page; none for the first call (everything).",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE
    )


class FeedPageOutput(serializers.Serializer):
    results = serializers.ListField(
        child=serializers.DictField(),
        help_text='Current entities; a deleted or unsellable one as {"id", "deleted": true}.',
    )
    cursor = serializers.CharField(help_text="Opaque; send it back to get what changed since.")
    has_more = serializers.BooleanField(help_text="More is ready now: ask again at once.")


class AckInput(serializers.Serializer):
    feed = serializers.ChoiceField(choices=["catalog", "prices", "promotions", "stock"])
    cursor = serializers.CharField(max_length=2000)
