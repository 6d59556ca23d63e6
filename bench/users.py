"""Register benchmark users over HTTP, as a browser would, and keep their cookies."""
import secrets
from concurrent.futures import ThreadPoolExecutor

import requests

PASSWORD = "bench-" + secrets.token_hex(6)


def register_one(url, name):
    s = requests.Session()
    r = s.post(url + "/auth/register", json={"username": name, "password": PASSWORD},
               timeout=60)
    if r.status_code != 201:
        raise RuntimeError(f"register {name}: {r.status_code} {r.text[:200]}")
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    return {"id": r.json()["user"]["id"], "name": name, "cookie": cookie}


def register(url, count, concurrency=8):
    """``count`` new users on the server at ``url``, in order."""
    tag = "b" + secrets.token_hex(3)
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda i: register_one(url, f"{tag}_{i}"), range(count)))
