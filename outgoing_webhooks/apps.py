from django.apps import AppConfig


class OutgoingWebhooksConfig(AppConfig):
    name = "outgoing_webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        """Business events (messaging.hooks) become deliveries, a kind of the one outbox:
        the core never imports this app."""
        from django.db.models.signals import post_delete, post_save

        from messaging import hooks, outbox
        from outgoing_webhooks.delivering import EndpointDeliveries, forget_endpoints, queue_event
        from outgoing_webhooks.models import WebhookEndpoint

        outbox.register(EndpointDeliveries())
        hooks.on_business_event(queue_event)
        for signal in (post_save, post_delete):
            signal.connect(forget_endpoints, sender=WebhookEndpoint, dispatch_uid="endpoints")
