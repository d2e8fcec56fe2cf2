"""Sessions and pending sign-ins, over the store: Flask-Session's interface with sealed conditional
records (interface.py), one-time pending sign-ins (pending.py), and the rate limits counted beside
them (limits.py)."""
