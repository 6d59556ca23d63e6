"""The standalone site's database and its own user model."""
import sqlalchemy as sa
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import utcnow
from . import names

#: The site's database; chat's table joins its metadata.
db = SQLAlchemy()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), nullable=False)
    # Names are unique regardless of case (Unicode case folding, see
    # chatapp.standalone.names.key); the index enforces it on every DB.
    username_key = db.Column(db.String(32), nullable=False, unique=True)
    password_hash = db.Column(db.String(255), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def set_password(self, password):
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    @classmethod
    def by_name(cls, name):
        return db.session.execute(
            sa.select(cls).where(cls.username_key == names.key(names.normalize(name)))
        ).scalar_one_or_none()


def search_users(q, limit, exclude=None):
    """Chat's ``search_users`` hook: names containing ``q`` in any case and any
    script, compared on the case-folded key (SQL ``lower()`` folds only ASCII
    on SQLite). A key stored as a digest is matched on the name as typed."""
    stmt = sa.select(User).order_by(User.username_key, User.id)
    if q:
        folded = names.fold(q)
        stmt = stmt.where(User.username_key.contains(folded, autoescape=True)
                          | User.username.contains(names.normalize(q), autoescape=True))
    if exclude is not None:
        stmt = stmt.where(User.id != exclude)
    return list(db.session.execute(stmt.limit(limit)).scalars())
