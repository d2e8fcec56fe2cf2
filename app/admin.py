"""`/admin`: for members of the Google group ADMIN_GROUP names (the extension's `group_required`).

The route exists only with ADMIN_GROUP set: unset, `/admin` is the app's 404 like any unknown path.
"""

from __future__ import annotations

from flask import Flask, current_app, render_template

from flask_google_signin import current_user, group_required, member_of

GOOGLE_GROUPS_API = "https://cloudidentity.googleapis.com"


def admin_page() -> str:
    """Who is signed in, and which group let them in (group_required just checked it: no call). Groups
    from another API than Google's (`make run`'s stand-in) are labelled samples."""
    group = current_app.config["ADMIN_GROUP"]
    sample = not str(current_app.config.get("GOOGLE_SIGNIN_CLOUD_IDENTITY_URL") or GOOGLE_GROUPS_API).startswith(
        GOOGLE_GROUPS_API)
    return render_template("admin.html", user=current_user, groups=member_of(group), sample=sample)


def init_admin(app: Flask) -> None:
    group = app.config.get("ADMIN_GROUP")
    if group:
        app.add_url_rule("/admin", endpoint="admin", view_func=group_required(group)(admin_page))
