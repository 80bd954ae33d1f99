from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from accounts.signals import account_reconnected
        from messaging.sending import resend_after_reconnect

        # A reconnected account's waiting replies go out again.
        account_reconnected.connect(resend_after_reconnect, dispatch_uid="resend-after-reconnect")
