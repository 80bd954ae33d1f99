from django.apps import AppConfig
from django.conf import settings


class CommentsConfig(AppConfig):
    name = "comments"
    verbose_name = "Comments"

    def ready(self):
        """Plug comments into the core (messaging.hooks, messaging.worker_pass): the core
        never imports this app."""
        from comments import handling, payloads
        from comments.mentions import answer_due_mentions, record_mention
        from comments.posts import fetch_missing_posts
        from comments.replying import send_due_replies, sweep_stalled_replies
        from messaging import hooks
        from messaging.worker_pass import Stage, register_step

        hooks.register_change_parser(
            payloads.COMMENT_FIELDS | payloads.MENTION_FIELDS, payloads.parse_change
        )
        hooks.register_event_handler(payloads.CommentEvent, handling.handle_comment)
        hooks.register_event_handler(payloads.MentionEvent, record_mention)
        hooks.register_echo_sender(handling.is_private_reply_echo)

        # Replies to comments and mentions are sent from their own tables until the one
        # outbox sends them with every other kind.
        register_step(Stage.WORK, "Sending due replies to comments", send_due_replies)
        register_step(Stage.WORK, "Answering due mentions", answer_due_mentions)
        register_step(
            Stage.UPKEEP,
            "Sweeping stalled comment replies",
            sweep_stalled_replies,
            every=lambda: settings.REPLY_SWEEP_INTERVAL,
        )
        register_step(Stage.WHEN_IDLE, "Fetching missing posts", fetch_missing_posts)
