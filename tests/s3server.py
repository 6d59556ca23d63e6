"""A real S3-compatible server for the tests that store in a bucket: moto's
server mode, started as a subprocess on a free loopback port (one per test
module), and a fresh bucket per test."""
import subprocess
import sys
import time
import uuid

import pytest
import requests

from helpers import free_port, stop_process

S3_OPTIONS = {"region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test"}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while True:
        try:
            requests.get(url + "/moto-api/", timeout=1)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.time() > deadline:
                stop_process(proc)
                raise RuntimeError("moto server did not start")
            time.sleep(0.2)
    yield url
    stop_process(proc)
    log.close()


@pytest.fixture
def bucket(s3_server):
    """``(name, boto3 client)`` of a new, empty bucket, emptied and removed afterwards."""
    import boto3

    name = f"chat-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, **S3_OPTIONS)
    client.create_bucket(Bucket=name)
    yield name, client
    for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)
