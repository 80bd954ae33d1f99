from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Reply rules"

    def ready(self):
        from rules.matching import forget_matcher
        from rules.models import ResponseRule

        post_save.connect(forget_matcher, sender=ResponseRule, dispatch_uid="rules-changed-save")
        post_delete.connect(
            forget_matcher, sender=ResponseRule, dispatch_uid="rules-changed-delete"
        )
