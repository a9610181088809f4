#!/usr/bin/env python3
"""Checks tests/fakes/webhdfs_server.py against a real WebHDFS client: HdfsCLI (PyPI `hdfs`).

Usage: check_webhdfs_with_hdfscli.py --url http://127.0.0.1:<namenode port> --root <the fake's --root>
                                     [--datanode-port N]
Every operation goes through HdfsCLI, and each result is compared with the files the fake stores on
disk. Prints "hdfscli check: ok" and exits 0 when all agree; a failed assertion exits non-zero.
"""
import argparse
import os
import sys

from hdfs import InsecureClient
from hdfs.util import HdfsError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--datanode-port", type=int, default=None)
    ap.add_argument("--user", default="hashtrend")
    a = ap.parse_args()
    root = a.root
    c = InsecureClient(a.url, user=a.user)

    def local(p):
        return os.path.join(root, p.lstrip("/"))

    # makedirs
    c.makedirs("/check/trends/dt=2024-05-01/hour=13")
    assert os.path.isdir(local("/check/trends/dt=2024-05-01/hour=13")), "makedirs did not create the directory"

    # write: HdfsCLI does the two-step CREATE itself (PUT to the namenode, follow Location, PUT data)
    payload = bytes(range(256)) * 1000
    c.write("/check/_tmp/part.tmp", data=payload, overwrite=True)
    with open(local("/check/_tmp/part.tmp"), "rb") as f:
        assert f.read() == payload, "stored bytes differ from what HdfsCLI wrote"
    # overwrite=False on an existing file is refused (FileAlreadyExistsException)
    try:
        c.write("/check/_tmp/part.tmp", data=b"x", overwrite=False)
        raise AssertionError("write(overwrite=False) over an existing file succeeded")
    except HdfsError as e:
        assert "already exists" in str(e), str(e)

    # status
    st = c.status("/check/_tmp/part.tmp")
    assert st["type"] == "FILE" and st["length"] == len(payload), st
    assert c.status("/check/none", strict=False) is None

    # rename into the table; a second rename onto an existing name is refused
    final = "/check/trends/dt=2024-05-01/hour=13/trends+0+000+009.parquet"
    c.rename("/check/_tmp/part.tmp", final)
    assert not os.path.exists(local("/check/_tmp/part.tmp")) and os.path.isfile(local(final))
    c.write("/check/_tmp/other.tmp", data=b"other", overwrite=True)
    try:
        c.rename("/check/_tmp/other.tmp", final)
        raise AssertionError("rename onto an existing file succeeded")
    except HdfsError:
        pass
    with open(local(final), "rb") as f:
        assert f.read() == payload, "a refused rename changed the destination"

    # list
    names = c.list("/check/trends/dt=2024-05-01/hour=13")
    assert names == sorted(os.listdir(local("/check/trends/dt=2024-05-01/hour=13"))), names
    detailed = dict(c.list("/check/trends/dt=2024-05-01/hour=13", status=True))
    assert detailed["trends+0+000+009.parquet"]["length"] == len(payload)

    # read (OPEN follows the redirect to the datanode), whole and a range
    with c.read(final) as r:
        assert r.read() == payload
    with c.read(final, offset=1000, length=24) as r:
        assert r.read() == payload[1000:1024]

    # content summary is not served by the fake: make sure unsupported ops fail loudly, not silently
    try:
        c.content("/check")
        raise AssertionError("GETCONTENTSUMMARY unexpectedly succeeded")
    except HdfsError:
        pass

    # delete
    assert c.delete("/check/_tmp/other.tmp") is True
    assert c.delete("/check/_tmp/other.tmp") is False
    try:
        c.delete("/check/trends", recursive=False)
        raise AssertionError("non-recursive delete of a non-empty directory succeeded")
    except HdfsError:
        pass
    assert c.delete("/check", recursive=True) is True
    assert not os.path.exists(local("/check"))
    print("hdfscli check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
