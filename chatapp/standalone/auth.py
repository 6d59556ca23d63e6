"""The standalone site's accounts: JSON endpoints under /auth and the HTML forms."""
import logging

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .. import errors, realtime, services, transport, users
from ..errors import ChatError
from ..i18n import _l
from ..inputs import json_body
from ..models import storable
from . import names
from .models import User, db
from .throttle import Throttled

bp = Blueprint("auth", __name__)
log = logging.getLogger("chatapp")
NAME_RULE = _l("1 to 32 letters or digits in any script, or _ . - ; no spaces.")


bp.register_error_handler(ChatError, errors.response)


@bp.errorhandler(Throttled)
def handle_throttled(exc):
    """429 with ``Retry-After``: JSON for the API, the form again for pages."""
    if request.path.startswith("/auth/"):
        response = jsonify(errors.rate_limited(exc.message).to_dict())
    else:
        flash(str(exc.message))
        form = LoginForm() if request.endpoint == "auth.login_page" else RegisterForm()
        template = "chat/login.html" if request.endpoint == "auth.login_page" \
            else "chat/register.html"
        response = current_app.make_response(render_template(template, form=form))
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def throttle():
    return current_app.extensions["login_throttle"]


@bp.before_request
def same_origin_json():
    if request.path.startswith("/auth/"):
        transport.check_same_origin(current_app.extensions["chat"])


def check_credentials(name, password):
    """The name in its stored (NFKC) form; ``invalid`` unless both follow the rules."""
    cleaned = names.clean(name)
    if cleaned is None:
        raise errors.invalid(_l("Names are 1 to 32 letters or digits in any script, "
                                "or _ . - ; no spaces."))
    if not isinstance(password, str) or not 8 <= len(password) <= 256 or not storable(password):
        raise errors.invalid(_l("Passwords are 8 to 256 characters."))
    return cleaned


def register_user(name, password):
    """Create and return a user; ``taken`` if the name exists in any case."""
    name = check_credentials(name, password)
    if User.by_name(name) is not None:
        raise errors.taken()
    user = User(username=name, username_key=names.key(name))
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise errors.taken() from None
    return user


def register_from_request(name, password):
    """``register_user`` for a visitor: registrations per address are limited."""
    address = request.remote_addr or ""
    throttle().register(address)
    user = register_user(name, password)
    throttle().succeeded(name, address)  # logged in from here: an address the owner uses
    return user


def authenticate(name, password):
    """The user with this name and password; throttled per address and account."""
    address = request.remote_addr or ""
    throttle().check_login(name, address)
    cleaned = names.clean(name)
    user = User.by_name(cleaned) if cleaned is not None else None
    if user is None or not isinstance(password, str) or not storable(password) \
            or not user.check_password(password):
        throttle().failed(name, address)
        raise errors.unauthorized(_l("Wrong name or password."))
    throttle().succeeded(name, address)
    return user


def end_session():
    """Log out and end every session of this user, on every device: cookies
    issued before stop working and the user's sockets close (Flask-Login's
    ``user_logged_out``, which chat listens to)."""
    if current_user.is_authenticated:
        user = db.session.get(User, current_user.id)
        if user is not None:
            user.end_sessions()
            db.session.commit()
        logout_user()


@bp.post("/auth/register")
def api_register():
    """Register and log in."""
    body = json_body()
    user = register_from_request(body.get("username"), body.get("password"))
    login_user(user)
    log.info("user %s registered", user.id)
    return {"user": users.to_dict(current_app.extensions["chat"], user)}, 201


@bp.post("/auth/login")
def api_login():
    """Log in with name and password."""
    body = json_body()
    user = authenticate(body.get("username"), body.get("password"))
    login_user(user)
    return {"user": users.to_dict(current_app.extensions["chat"], user)}


@bp.post("/auth/logout")
def api_logout():
    """Log out; open sockets of this user are closed."""
    json_body()  # a non-JSON body is refused (415) before anything changes
    end_session()
    return "", 204


@bp.post("/auth/password")
def api_change_password():
    """Change the password; every other session of the user ends."""
    if not current_user.is_authenticated:
        raise errors.unauthorized()
    body = json_body()
    user = db.session.get(User, current_user.id)
    current, new = body.get("password"), body.get("new_password")
    address = request.remote_addr or ""
    # A stolen session must not become a way to guess the password.
    throttle().check_login(user.username, address)
    if not isinstance(current, str) or not storable(current) or not user.check_password(current):
        throttle().failed(user.username, address)
        raise errors.forbidden(_l("The current password is wrong."))
    check_credentials(user.username, new)
    user.set_password(new)
    user.end_sessions()
    db.session.commit()
    realtime.disconnect_user(current_app.extensions["chat"], user.id)
    login_user(user)  # this session goes on under the new generation
    return "", 204


@bp.delete("/auth/account")
def api_delete_account():
    """Delete the logged-in account and its messages."""
    if not current_user.is_authenticated:
        raise errors.unauthorized()
    json_body()  # a non-JSON body is refused (415) before anything changes
    state = current_app.extensions["chat"]
    user = db.session.get(User, current_user.id)
    user_id = user.id
    services.forget_user(state, user_id)  # messages, files, groups, conversations, blocks
    db.session.delete(user)
    db.session.commit()
    logout_user()
    realtime.disconnect_user(state, user_id)  # the row is gone: no user object to signal
    return "", 204


REQUIRED = _l("Fill in this field.")


class LoginForm(FlaskForm):
    username = StringField(_l("Name"), validators=[
        DataRequired(REQUIRED), Length(max=128, message=_l("That name is too long."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(REQUIRED), Length(max=256, message=_l("Passwords are 8 to 256 characters."))])


def valid_name(form, field):
    if names.clean(field.data or "") is None:
        raise ValidationError(NAME_RULE)


class RegisterForm(FlaskForm):
    username = StringField(_l("Name"), validators=[DataRequired(REQUIRED), valid_name],
                           description=NAME_RULE)
    password = PasswordField(_l("Password"), validators=[
        DataRequired(REQUIRED),
        Length(min=8, max=256, message=_l("Passwords are 8 to 256 characters."))])


def _form_page(form, act, template):
    """Validate ``form``, log in whom ``act`` returns, else show the form again."""
    if form.validate_on_submit():
        try:
            login_user(act(form.username.data, form.password.data))
            return redirect(url_for("index"))
        except ChatError as exc:
            flash(str(exc.message))
    return render_template(template, form=form)


@bp.route("/login", methods=["GET", "POST"])
def login_page():
    """The login form."""
    return _form_page(LoginForm(), authenticate, "chat/login.html")


@bp.route("/register", methods=["GET", "POST"])
def register_page():
    """The registration form."""
    return _form_page(RegisterForm(), register_from_request, "chat/register.html")


@bp.post("/logout")
def logout_page():
    """Log out from a form and go to the login page."""
    end_session()
    return redirect(url_for("auth.login_page"))
