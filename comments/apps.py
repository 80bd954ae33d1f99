from django.apps import AppConfig


class CommentsConfig(AppConfig):
    name = "comments"
    verbose_name = "Comments"

    def ready(self):
        """Plug comments into the core (messaging.hooks, messaging.worker_pass): the core
        never imports this app."""
        from comments import handling, payloads
        from comments.mentions import MentionReplies, record_mention
        from comments.posts import fetch_missing_posts
        from comments.replying import PrivateReplies, PublicReplies
        from messaging import hooks, outbox
        from messaging.worker_pass import Stage, register_step

        hooks.register_change_parser(
            payloads.COMMENT_FIELDS | payloads.MENTION_FIELDS, payloads.parse_change
        )
        hooks.register_event_handler(payloads.CommentEvent, handling.handle_comment)
        hooks.register_event_handler(payloads.MentionEvent, record_mention)
        hooks.register_echo_sender(handling.is_private_reply_echo)

        # Replies to comments and answers to mentions: kinds of the one outbox.
        for kind in (PrivateReplies(), PublicReplies(), MentionReplies()):
            outbox.register(kind)
        register_step(Stage.WHEN_IDLE, "Fetching missing posts", fetch_missing_posts)
