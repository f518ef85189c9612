#!/usr/bin/env python3
"""How long creating an empty file takes in a directory's file system, now.

A canary for the benchmarks: on ext4 without a journal, creating a file
after thousands were deleted in the last minutes costs several times what it
normally does (new inodes skip the recently freed ones, reading the inode
table for each: bench/README.md, "Deleting slows the next run"). Every server
creates at least one file per stored instance, so the bench records this at
its start and end. Prints JSON: {"files", "us_per_create"}. The files are
left for the caller to remove after its measurements.
"""
import argparse
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True, help="a new directory to create the files in")
    ap.add_argument("--files", type=int, default=500)
    a = ap.parse_args()
    os.makedirs(a.dir)
    t0 = time.perf_counter()
    for i in range(a.files):
        os.close(os.open(os.path.join(a.dir, f"f{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    secs = time.perf_counter() - t0
    json.dump({"files": a.files, "us_per_create": round(secs / a.files * 1e6, 1)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
