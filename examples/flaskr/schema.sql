-- The app's own tables. Run at every start (each table only if missing); `flask init-db` drops them first.
CREATE TABLE IF NOT EXISTS user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  password TEXT,  -- a werkzeug.security hash; NULL for a user who only ever signed in with Google
  google_sub TEXT UNIQUE,  -- the Google account's `sub`, once linked; NULL for a password-only user
  email TEXT
);

CREATE TABLE IF NOT EXISTS post (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  author_id INTEGER NOT NULL REFERENCES user (id),
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  title TEXT NOT NULL,
  body TEXT NOT NULL
);
