"""A Flask app as you may already have one, two pages of its own, with Google sign-in added.

Its settings come from the environment through Flask's own loader, under Flask's `FLASK_` prefix:
FLASK_SECRET_KEY, FLASK_GOOGLE_CLIENT_ID and FLASK_GOOGLE_CLIENT_SECRET, and any other setting in
docs/configuration.md (FLASK_GOOGLE_SERVER_METADATA_URL, FLASK_GOOGLE_SIGNIN_COOKIE_SECURE, ...).

    flask --app examples/existing_app run         # or, in examples/: gunicorn existing_app:app
"""

from flask import Flask, render_template_string

from flask_google_signin import GoogleSignIn, current_user, login_required

app = Flask(__name__)
app.config.from_prefixed_env()  # FLASK_SECRET_KEY=... becomes app.config["SECRET_KEY"], and so on
GoogleSignIn(app)  # /login, /callback, /logout and sessions; stops here if a setting is missing

# Both pages: who is signed in and a sign-out button (a POST with its CSRF token), or a sign-in link.
PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>{{ title }} · Acme</title>
<nav><a href="/">Home</a> · <a href="/members">Members</a> ·
{% if current_user %}{{ current_user.email }} <form method="post" action="/logout" style="display:inline">
<input type="hidden" name="csrf_token" value="{{ google_signin_csrf_token() }}"><button>Sign out</button></form>
{% else %}<a href="/login">Sign in with Google</a>{% endif %}</nav>
{% for message in get_flashed_messages() %}<p role="status">{{ message }}</p>{% endfor %}
<main><h1>{{ title }}</h1><p>{{ text }}</p></main></html>"""


@app.get("/")
def home() -> str:
    return render_template_string(PAGE, title="Acme", text="Open to everyone.")


@app.get("/members")
@login_required  # anonymous visitors go to /login, and come back here once signed in
def members() -> str:
    name = current_user.name or current_user.email  # current_user: who signed in with Google
    return render_template_string(PAGE, title="Members", text=f"Welcome, {name}.")
