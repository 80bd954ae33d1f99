from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils import timezone


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Reply rules"

    def ready(self):
        from rules.matching import forget_matcher
        from rules.models import ResponseRule, RuleMessage

        post_save.connect(forget_matcher, sender=ResponseRule, dispatch_uid="rules-changed-save")
        post_delete.connect(
            forget_matcher, sender=ResponseRule, dispatch_uid="rules-changed-delete"
        )
        post_save.connect(rule_message_changed, sender=RuleMessage, dispatch_uid="rule-msg-save")
        post_delete.connect(
            rule_message_changed, sender=RuleMessage, dispatch_uid="rule-msg-delete"
        )


def rule_message_changed(sender, instance, **kwargs):
    """A rule's extra message changed: its rule changed, for every process's matcher (they
    watch the rules' updated_at)."""
    from rules.matching import forget_matcher
    from rules.models import ResponseRule

    ResponseRule.objects.filter(pk=instance.rule_id).update(updated_at=timezone.now())
    forget_matcher()
