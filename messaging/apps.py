from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from messaging import outbox
        from messaging.sending import DirectMessages

        # First: a pass of the sender takes due DMs before replies to comments.
        outbox.register(DirectMessages())
