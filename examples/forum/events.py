"""The forum's own Socket.IO namespace: the live board."""
from flask_login import current_user
from flask_socketio import Namespace


class ForumNamespace(Namespace):
    """Anyone may watch the board; ``new-post`` is pushed from the post view."""

    def on_ping(self, data=None):
        """Tell a client who the server thinks it is."""
        who = current_user.display_name if current_user.is_authenticated else None
        return {"pong": data, "member": who}
