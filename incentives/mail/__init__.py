"""E-mail: an outbox of messages queued inside the caller's transaction, rendered in the recipient's language and
sent by a job through SMTP_URL; users' e-mail settings; signed one-click action and unsubscribe links.

Other domains call `incentives.mail.outbox.queue` (or `queue_many`) next to their in-app notice. The mail domain
knows users (accounts) and nothing above: what a message says comes from its template and the context passed in.
"""
