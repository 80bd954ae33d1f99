from django.dispatch import Signal

# An account's refused, expired or deauthorized token was replaced by connecting it again:
# the core puts its waiting sends back to work (a receiver, so accounts imports no core app).
# Sent with `account` and `invalid_since` (when its old token stopped working).
account_reconnected = Signal()
