"""Serializer fields stricter than DRF's where clients send money, stock or points counts."""

from rest_framework import serializers


class WholeNumberField(serializers.IntegerField):
    """A JSON integer, and only that: DRF's IntegerField also takes "3", "3.0" and "٣"
    (Arabic-Indic three, which `int()` reads as 3); a quantity typed as text is a client bug
    that should be seen, not guessed at."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
