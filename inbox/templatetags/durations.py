"""`{{ seconds|duration }}`: an answer time in seconds as people read it (inbox.durations)."""

from django import template

from inbox import durations

register = template.Library()


@register.filter
def duration(seconds):
    return durations.readable(seconds)
