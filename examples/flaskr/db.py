"""The app's SQLite database (stdlib sqlite3), one connection per request, as in Flask's tutorial."""

import sqlite3

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
    db: sqlite3.Connection = g.db
    return db


def close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def create_tables(drop: bool = False) -> None:
    db = get_db()
    if drop:
        db.executescript("DROP TABLE IF EXISTS post; DROP TABLE IF EXISTS user;")
    with current_app.open_resource("schema.sql", "r", encoding="utf-8") as f:
        db.executescript(f.read())


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Clear the existing data and create new tables."""
    create_tables(drop=True)
    click.echo("Initialized the database.")


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
    with app.app_context():  # the first start creates the tables (the database file too) if missing
        create_tables()
