"""Form fields the admin's forms share: numbers and ids read as the API reads them
(instabot.numbers).

Django's IntegerField reads "\\u0661" (an Arabic-Indic one) as 1 and "1_0" as 10, and its
ModelChoiceField takes "\\u0661" for the object with id 1; an id or a number typed so is the
client's mistake, said as a field error, never silently another value.
"""

from django import forms
from django.db import models

from instabot.numbers import read_id, read_whole_number


class AsciiIntegerField(forms.IntegerField):
    default_error_messages = {"invalid": "Enter a whole number in the digits 0-9."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return read_whole_number(value if isinstance(value, int) else str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def _refuse_unreadable_id(field, value) -> None:
    if field.to_field_name is None and read_id(value) is None:
        raise forms.ValidationError(
            field.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


class AsciiModelChoiceField(forms.ModelChoiceField):
    """A menu of objects whose submitted id must be ASCII digits (not "\\u0661" for 1)."""

    def to_python(self, value):
        if value not in self.empty_values and not isinstance(value, models.Model):
            _refuse_unreadable_id(self, value)
        return super().to_python(value)


class AsciiModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    def _check_values(self, value):
        for pk in value:
            if not isinstance(pk, models.Model) and self.to_field_name is None:
                if read_id(pk) is None:
                    raise forms.ValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": pk},
                    )
        return super()._check_values(value)


# For a ModelAdmin's or an inline's formfield_overrides (every one of ours: a test checks).
ASCII_NUMBERS = {
    **{
        field: {"form_class": AsciiIntegerField}
        for field in (
            models.IntegerField,
            models.SmallIntegerField,
            models.BigIntegerField,
            models.PositiveIntegerField,
            models.PositiveSmallIntegerField,
            models.PositiveBigIntegerField,
        )
    },
    models.ForeignKey: {"form_class": AsciiModelChoiceField},
    models.OneToOneField: {"form_class": AsciiModelChoiceField},
    models.ManyToManyField: {"form_class": AsciiModelMultipleChoiceField},
}
