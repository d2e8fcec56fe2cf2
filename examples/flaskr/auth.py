"""The app's own users, as in Flask's tutorial: register, log in with a password, log out, `g.user`,
`login_required`. And the same users signed in with Google: `load_google_user` gives the row of the
`user` table for a Google account, and `g.user` is then that row, so both ways reach the same pages."""

import functools
import sqlite3
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.security import check_password_hash, generate_password_hash

from flask_google_signin import GoogleIdentity, GoogleSignIn, current_user, google_identity

from .db import get_db

bp = Blueprint("auth", __name__, url_prefix="/auth")
google_signin = GoogleSignIn()  # create_app mounts it: /google/login, /google/callback, /google/logout


@google_signin.user_loader
def load_google_user(identity: GoogleIdentity) -> sqlite3.Row | None:
    """The user of a Google account: the one linked to its `sub`; else the user with the same email,
    if Google verified it, now linked; else a new user named after the email. The extension asks at
    sign-in and on every signed-in request; `current_user` is then this row."""
    db = get_db()
    user: sqlite3.Row | None = db.execute("SELECT * FROM user WHERE google_sub = ?", (identity.sub,)).fetchone()
    if user is not None:
        return user
    email = identity.email if isinstance(identity.email, str) else None
    # Linking trusts that whoever registered this email here owns it: this app does not check the
    # emails it is given at registration; an app that links accounts by email should.
    found = db.execute("SELECT id FROM user WHERE google_sub IS NULL AND lower(email) = lower(?) ORDER BY id",
                       (email,)).fetchone() if email and identity.email_verified is True else None
    if found is not None:
        db.execute("UPDATE user SET google_sub = ? WHERE id = ?", (identity.sub, found["id"]))
    else:
        db.execute("INSERT INTO user (username, google_sub, email) VALUES (?, ?, ?)",
                   (free_username((email or "").partition("@")[0] or "user"), identity.sub, email))
    db.commit()
    user = db.execute("SELECT * FROM user WHERE google_sub = ?", (identity.sub,)).fetchone()
    return user


def free_username(base: str) -> str:
    """`base`, or `base2`, `base3`... whichever nobody has yet."""
    name, n = base, 1
    while get_db().execute("SELECT 1 FROM user WHERE username = ?", (name,)).fetchone():
        n += 1
        name = f"{base}{n}"
    return name


@bp.before_app_request
def load_logged_in_user() -> None:
    """g.user: the user signed in with Google, else the one whose id a password login put in the session."""
    if google_identity() is not None:  # signed in with Google: current_user is the row load_google_user gave
        g.user = current_user._get_current_object()  # the row itself, not the proxy
        return
    user_id = session.get("user_id")
    g.user = None if user_id is None else get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """The app's own: anyone without a g.user goes to the app's login page (both ways are offered there)."""

    @functools.wraps(view)
    def wrapped_view(**kwargs: Any) -> ResponseReturnValue:
        if g.user is None:
            return redirect(url_for("auth.login"))
        return view(**kwargs)

    return wrapped_view


@bp.route("/register", methods=("GET", "POST"))
def register() -> ResponseReturnValue:
    if request.method == "POST":
        username, password = request.form["username"], request.form["password"]
        email = request.form.get("email", "").strip() or None
        error = None
        if not username:
            error = "Username is required."
        elif not password:
            error = "Password is required."
        else:
            db = get_db()
            try:
                db.execute("INSERT INTO user (username, password, email) VALUES (?, ?, ?)",
                           (username, generate_password_hash(password), email))
                db.commit()
            except db.IntegrityError:
                error = f"User {username} is already registered."
            else:
                return redirect(url_for("auth.login"))
        flash(error)
    return render_template("auth/register.html")


@bp.route("/login", methods=("GET", "POST"))
def login() -> ResponseReturnValue:
    if current_user:  # signed in with Google already; session.clear() below would drop that sign-in unseen
        return redirect(url_for("index"))
    if request.method == "POST":
        username, password = request.form["username"], request.form["password"]
        user = get_db().execute("SELECT * FROM user WHERE username = ?", (username,)).fetchone()
        if user is None:
            error = "Incorrect username."
        elif user["password"] is None or not check_password_hash(user["password"], password):
            error = "Incorrect password."  # (a user made by a Google sign-in has no password)
        else:
            session.clear()
            session["user_id"] = user["id"]
            return redirect(url_for("index"))
        flash(error)
    return render_template("auth/login.html")


@bp.route("/logout")
def logout() -> ResponseReturnValue:
    if current_user:  # a Google sign-in ends with a POST and its token: the extension's page has the button
        return redirect(url_for("google_signin.logout"))
    session.clear()
    return redirect(url_for("index"))
