"""Delivery only: push events to users' rooms, close a user's sockets.

Every connection joins the room of its user, so pushing to a user reaches all
of that user's tabs and devices, on every process when a message queue is set.
"""


def room(user_id):
    return f"user:{user_id}"


def push(state, user_ids, event, data, skip_sid=None):
    """Emit ``event`` to every connection of each user in ``user_ids``."""
    rooms = [room(u) for u in dict.fromkeys(user_ids)]
    if not rooms:
        return
    state.socketio.emit(event, data, to=rooms if len(rooms) > 1 else rooms[0],
                        namespace=state.namespace, skip_sid=skip_sid)


def disconnect_user(state, user_id):
    """Close every chat socket of a user (on every process with a queue)."""
    for sid in state.presence.sids(user_id):
        state.socketio.server.disconnect(sid, namespace=state.namespace)
