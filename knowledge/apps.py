from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self):
        from knowledge.answering import answer_from_knowledge
        from knowledge.index import forget_indexes
        from knowledge.models import KnowledgeEntry
        from rules.matching import register_answerer

        # Asked after the rules, before the fallback.
        register_answerer(answer_from_knowledge)
        post_save.connect(forget_indexes, sender=KnowledgeEntry, dispatch_uid="knowledge-save")
        post_delete.connect(forget_indexes, sender=KnowledgeEntry, dispatch_uid="knowledge-del")
