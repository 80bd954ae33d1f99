from django.apps import AppConfig


class BroadcastsConfig(AppConfig):
    name = "broadcasts"
    verbose_name = "Broadcasts"

    def ready(self):
        """A broadcast's DMs are a kind of the one outbox (messaging.outbox): the core never
        imports this app."""
        from broadcasts.sending import BroadcastSends, is_broadcast_echo
        from messaging import hooks, outbox

        outbox.register(BroadcastSends())
        hooks.register_echo_sender(is_broadcast_echo)
