"""chatapp: real-time one-to-one chat for Flask sites.

``Chat`` is the Flask extension (``chatapp.extension``) that uses the host's
users, login, database and Socket.IO; ``create_app`` builds the standalone
demo site (``chatapp.standalone``), one host among others.
"""
from .extension import Chat

__all__ = ["Chat", "create_app"]


def create_app(test_config=None):
    """The standalone chat site (``chatapp.standalone.create_app``)."""
    from .standalone import create_app

    return create_app(test_config)
