"""The web layer: the blueprints (signin.py, sessions_page.py, risc.py), who is signed in
(guard.py), the error page (pages.py), `flask risc` (cli.py) and the templates."""
