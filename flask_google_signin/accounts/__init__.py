"""What the sign-in gives the rest of the site: each user's sessions (index.py, devices.py), Google
access on the user's behalf (google_api.py), and Cross-Account Protection's security events (risc.py)."""
