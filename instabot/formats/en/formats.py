"""Dates and times as staff read them everywhere (the admin's fields, its lists, the thread):
one 24-hour format, the one the conversation thread uses, not "9:22 p.m." beside "21:22"."""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
