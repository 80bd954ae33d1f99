from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self):
        from knowledge.answering import ASKING_STEP, answer_from_knowledge
        from knowledge.asking import ask_awaited
        from knowledge.index import forget_knowledge
        from knowledge.models import KnowledgeEntry, KnowledgeSettings
        from messaging.worker_pass import Stage, register_step
        from rules.matching import register_answerer

        # Asked after the rules, before the fallback.
        register_answerer(answer_from_knowledge)
        # The assistant, asked after the DM's transaction committed (after the deliveries of
        # the same pass: right after the commit that recorded it as awaited, which wakes the
        # step; while nothing is awaited it rests, as the outbox's look does).
        register_step(Stage.WORK, ASKING_STEP, ask_awaited, rests=True)
        for model in (KnowledgeEntry, KnowledgeSettings):
            uid = f"knowledge-{model.__name__}"
            post_save.connect(forget_knowledge, sender=model, dispatch_uid=f"{uid}-save")
            post_delete.connect(forget_knowledge, sender=model, dispatch_uid=f"{uid}-delete")
