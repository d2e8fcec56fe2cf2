"""The OpenID Connect client: Authlib's Google client with the checks it leaves to the app
(client.py), and HTTP to the provider under a hard deadline (http.py)."""
