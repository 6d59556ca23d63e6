"""The forum's pages: the board, joining, logging in and out."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .extensions import db, socketio
from .forms import JoinForm, LoginForm, PostForm
from .models import Member, Post

bp = Blueprint("forum", __name__)


@bp.route("/", methods=["GET", "POST"])
def board():
    """The latest posts, the members, and a box to post in."""
    form = PostForm()
    if form.validate_on_submit():
        if not current_user.is_authenticated:
            return redirect(url_for("forum.login"))
        post = Post(author_id=current_user.id, body=form.body.data.strip())
        db.session.add(post)
        db.session.commit()
        # Everyone watching the board sees the post at once.
        socketio.emit("new-post", {"id": post.id, "author": current_user.display_name,
                                   "body": post.body}, namespace="/forum")
        return redirect(url_for("forum.board"))
    posts = db.session.execute(db.select(Post).order_by(Post.id.desc()).limit(50)).scalars()
    members = db.session.execute(db.select(Member).order_by(Member.handle)).scalars()
    return render_template("forum/board.html", form=form, posts=list(posts),
                           members=list(members))


@bp.route("/join", methods=["GET", "POST"])
def join():
    """Become a member."""
    form = JoinForm()
    if form.validate_on_submit():
        if db.session.execute(db.select(Member).filter_by(handle=form.handle.data)).first():
            form.handle.errors.append("That handle is taken.")
        else:
            member = Member(handle=form.handle.data, display_name=form.display_name.data,
                            accepts_messages=form.accepts_messages.data)
            member.set_password(form.password.data)
            db.session.add(member)
            db.session.commit()
            login_user(member)
            return redirect(url_for("forum.board"))
    return render_template("forum/form.html", form=form, title="Join the forum")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The forum's own login page."""
    form = LoginForm()
    if form.validate_on_submit():
        member = db.session.execute(
            db.select(Member).filter_by(handle=form.handle.data)).scalar_one_or_none()
        if member is not None and member.check_password(form.password.data):
            login_user(member)
            return redirect(url_for("forum.board"))
        flash("Wrong handle or password.")
    return render_template("forum/form.html", form=form, title="Log in")


@bp.post("/logout")
@login_required
def logout():
    """Log out: a form post, so CSRFProtect checks its token."""
    logout_user()
    return redirect(url_for("forum.board"))
