"""The forum's forms; Flask-WTF adds a CSRF token to each."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp


class JoinForm(FlaskForm):
    handle = StringField("Handle", validators=[
        DataRequired(), Length(max=32), Regexp(r"^[A-Za-z0-9_.-]+$")])
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=256)])
    accepts_messages = BooleanField("Other members may message me", default=True)


class LoginForm(FlaskForm):
    handle = StringField("Handle", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class PostForm(FlaskForm):
    body = TextAreaField("Say something", validators=[DataRequired(), Length(max=2000)])
