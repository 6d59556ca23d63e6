"""A small forum with its own members, login and live board, plus chat.

The app lives in ``examples.forum.app``; this package imports nothing, so
``python -m examples.forum.wsgi`` can patch the standard library first.
"""
