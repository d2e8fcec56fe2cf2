"""Redis memory per pending sign-in (docs/deployment.md, "Redis memory"): the record, its entry in the
pending index and its entries in the per-network books, from `used_memory` before and after 20,000
sign-ins, from 20,000 networks and from one.

    .venv/bin/python bench/pending_memory.py      (needs redis-server on PATH)
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time

from flask_google_signin.store import digest, namespace
from flask_google_signin.store.redis import RedisRecords, make_redis

COUNT = 20_000
BLOB = 400  # bytes: a sealed pending sign-in (state, nonce, PKCE verifier, redirect URI, next) is 300-400


def main() -> None:
    port = 6000 + secrets.randbelow(1000)
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                   "--dir", folder], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            client = make_redis(f"redis://127.0.0.1:{port}", 2)
            records = RedisRecords(client, namespace("bench"))
            for label, networks in (("one network each", COUNT), ("all from one network", 1)):
                client.flushall()
                before = client.info("memory")["used_memory"]
                for i in range(COUNT):
                    key = records.pending_key(digest(secrets.token_urlsafe(32)))
                    records.add_pending(key, os.urandom(BLOB), 600, 10 * COUNT, (), digest(str(i % networks))[:16])
                each = (client.info("memory")["used_memory"] - before) / COUNT
                print(f"{label}: {each:.0f} bytes per pending sign-in")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
