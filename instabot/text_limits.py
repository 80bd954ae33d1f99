"""Caps on what staff write for the bot to send: what a person would send in a DM.

Without them a 2 MB reply would be accepted and go out as some 2,000 messages (Meta takes
1,000 bytes a message). Admin forms and the API both refuse more, with a field error.
"""

# A rule's reply, an account's fallback reply, a staff reply: at most a few messages.
REPLY_MAX_LENGTH = 2_000

# A rule's keywords: a list a person can read through, each a word or a phrase.
KEYWORDS_PER_RULE = 50
KEYWORD_MAX_LENGTH = 100
# The keywords text as typed: the keywords, their commas and some spaces.
KEYWORDS_MAX_LENGTH = KEYWORDS_PER_RULE * (KEYWORD_MAX_LENGTH + 2)

# A note staff leave on a conversation for each other (never sent): a few paragraphs.
NOTE_MAX_LENGTH = 5_000
