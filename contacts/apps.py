from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts and flows"

    def ready(self):
        from contacts import recording
        from contacts.external_requests import ExternalRequests
        from contacts.models import ContactField, ReplyVariant, RuleAction
        from messaging import hooks, outbox

        hooks.on_customer_message(recording.customer_message, batch=recording.customer_messages)
        hooks.on_profile(recording.profile_fetched)
        # Flows' external requests: a kind of the one outbox, sent after the event.
        outbox.register(ExternalRequests())
        for model, signals in [
            (RuleAction, (post_save, post_delete)),
            (ReplyVariant, (post_save, post_delete)),
            # Before a field goes: its actions lose it (SET_NULL) as it is deleted.
            (ContactField, (post_save, pre_delete)),
        ]:
            for signal in signals:
                signal.connect(flow_changed, sender=model, dispatch_uid=f"flow-{model.__name__}")


def flow_changed(sender, instance, **kwargs):
    """An action, a variant or a field a flow uses changed: its rules changed, for every
    process's matcher and the flows read with it (they watch the rules' updated_at)."""
    from django.utils import timezone

    from contacts.models import ContactField
    from rules.matching import forget_matcher
    from rules.models import ResponseRule

    if isinstance(instance, ContactField):
        rules = ResponseRule.objects.filter(actions__field_id=instance.pk)
    else:
        rules = ResponseRule.objects.filter(pk=instance.rule_id)
    ResponseRule.objects.filter(pk__in=list(rules.values_list("pk", flat=True))).update(
        updated_at=timezone.now()
    )
    forget_matcher()
