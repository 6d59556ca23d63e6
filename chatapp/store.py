"""Writing messages: the hot path of every send.

``insert`` returns only after the row is committed, so an ack that follows it
never promises a message the database could lose.
"""
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .models import utcnow


class MessageStore:
    def __init__(self, state):
        self.state = state

    def find_by_client_id(self, sender, client_id):
        t = self.state.table
        with self.state.engine.connect() as conn:
            return conn.execute(
                sa.select(t).where(t.c.sender_id == sender, t.c.client_id == client_id)
            ).first()

    def insert(self, sender, to, content, client_id):
        """Commit one message; return ``(row, created)``."""
        t = self.state.table
        values = {"sender_id": sender, "recipient_id": to, "content": content,
                  "sent_at": utcnow(), "client_id": client_id, "read_at": None}
        try:
            with self.state.engine.begin() as conn:
                new_id = conn.execute(t.insert().values(values)).inserted_primary_key[0]
        except IntegrityError:
            # Another send with this client_id won the race: answer with its row.
            row = client_id is not None and self.find_by_client_id(sender, client_id)
            if not row:
                raise
            return row, False
        return SimpleNamespace(id=new_id, **values), True

