"""Which comment rule answers a comment: the reply rules' matcher (rules.matching, the one
keyword matcher), plus the rule's post.

The active comment rules of an account are few and a comment is rare next to a DM, so the
matcher is built per comment, from the rules as they are now: no cache to go stale.
"""

import logging

from django.db.models import Q

from comments.models import Comment, CommentRule
from rules.matching import Matcher, RuleSpec

logger = logging.getLogger(__name__)


def choose_comment_rule(account, comment: Comment, *, bind: bool = True) -> CommentRule | None:
    """The best active rule for `comment` on `account` (None: the environment's account), or
    None. A rule waiting for the next post is bound to this comment's post when it is that
    post (unless `bind` is off: the admin's "Try a comment" changes nothing)."""
    on_posts = active_rules(account).exclude(scope=CommentRule.Scope.MENTION)
    rules = {rule.pk: rule for rule in on_posts}
    matcher = Matcher(_spec(rule) for rule in rules.values())
    passed_over: set[int] = set()
    while True:
        spec = matcher.match(
            comment.text,
            account.pk if account else None,
            accepts=lambda spec: spec.id not in passed_over and applies(rules[spec.id], comment),
        )
        if spec is None:
            return None
        rule = rules[spec.id]
        if rule.scope != CommentRule.Scope.NEXT_POST or rule.media_id or not bind:
            return rule
        if rule.bind_to(comment.media_id):
            logger.info("Comment rule %s now answers on the new post %s", rule.pk, rule.media_id)
            return rule
        passed_over.add(rule.pk)  # another comment bound it to another post meanwhile


def choose_mention_rule(account, text: str) -> CommentRule | None:
    """The best active mention rule for a mention saying `text`: the best of those whose
    keywords match (the one matcher) and of those without keywords (every mention)."""
    rules = list(active_rules(account).filter(scope=CommentRule.Scope.MENTION))
    matcher = Matcher(_spec(rule) for rule in rules if rule.keyword_list())
    spec = matcher.match(text, account.pk if account else None)
    candidates = [rule for rule in rules if rule.pk == getattr(spec, "id", None)]
    candidates += [rule for rule in rules if not rule.keyword_list()]
    return min(
        candidates, key=lambda rule: (-rule.priority, rule.created_at, rule.pk), default=None
    )


def active_rules(account):
    """The active rules of `account` (None: the environment's account) and of every account."""
    for_account = Q(account__isnull=True) | (Q(account=account) if account else Q())
    return CommentRule.objects.filter(for_account, is_active=True)


def applies(rule: CommentRule, comment: Comment) -> bool:
    """Whether the rule's scope takes in the comment's post."""
    if rule.scope == CommentRule.Scope.ANY_POST:
        return True
    if rule.media_id:
        return rule.media_id == comment.media_id
    return rule.scope == CommentRule.Scope.NEXT_POST and is_new_post(rule, comment)


def is_new_post(rule: CommentRule, comment: Comment) -> bool:
    """Whether the comment's post came after the rule began waiting for the next post: it was
    not among the account's posts then, and no comment on it had come before."""
    if not comment.media_id or comment.is_live:
        return False
    if comment.media_id in rule.media_known_at_arming:
        return False
    earlier = Comment.objects.filter(
        instagram_account_id=comment.instagram_account_id,
        media_id=comment.media_id,
        commented_at__lt=rule.armed_at or rule.created_at,
    ).exclude(pk=comment.pk)
    return not earlier.exists()


def _spec(rule: CommentRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        keywords=tuple(rule.keyword_list()),
        match_type=rule.match_type,
        priority=rule.priority,
        created_at=rule.created_at,
        response_text=rule.private_reply_text,
        account_id=rule.account_id,
    )
