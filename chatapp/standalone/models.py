"""The standalone site's database and its own user model."""
import sqlalchemy as sa
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import utcnow

#: The standalone site's database; chat's table joins its metadata.
db = SQLAlchemy()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), nullable=False)
    # Names are unique regardless of case; the index enforces it on every DB.
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
            sa.select(cls).where(cls.username_key == name.lower())
        ).scalar_one_or_none()
