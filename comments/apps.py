from django.apps import AppConfig


class CommentsConfig(AppConfig):
    name = "comments"
    verbose_name = "Comments"

    def ready(self):
        from comments.mentions import MentionReplies
        from comments.replying import PrivateReplies, PublicReplies
        from messaging import outbox

        for kind in (PrivateReplies(), PublicReplies(), MentionReplies()):
            outbox.register(kind)
