"""Form fields the admin's forms share: numbers in ASCII digits only, as the API takes them.

Django's IntegerField reads "٣" (an Arabic-Indic three) and "²" as numbers; an id or a
position typed so is the client's mistake, said as a field error, never silently a 3.
"""

from django import forms
from django.db import models


class AsciiIntegerField(forms.IntegerField):
    default_error_messages = {"invalid": "Enter a whole number in the digits 0-9."}

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not value.strip().lstrip("+-").isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


# For a ModelAdmin's or an inline's formfield_overrides.
ASCII_NUMBERS = {
    field: {"form_class": AsciiIntegerField}
    for field in (
        models.IntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
    )
}
