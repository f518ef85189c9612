#!/usr/bin/env python3
"""Per-file durable write rate of a directory's filesystem, one writer.

For each size, writes files the way a careful archive stores one object:
write to a temporary name, fsync the file, rename it into place, fsync the
directory. Prints JSON: {name: {"size", "files", "seconds", "files_per_s",
"mb_per_s"}}. This is what a server that makes every object durable on its
own (no group commit, one writer) can reach at that object size; dd's
streaming rate is the other bound.
"""
import argparse
import json
import os
import time


def rate(directory: str, size: int, budget_bytes: int) -> dict:
    os.makedirs(directory, exist_ok=True)
    count = max(50, min(500, budget_bytes // max(size, 1)))
    payload = bytes((i * 7) & 0xFF for i in range(min(size, 65536)))
    payload = (payload * (size // len(payload) + 1))[:size]
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        t0 = time.perf_counter()
        for i in range(count):
            tmp = os.path.join(directory, f".tmp{i}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(directory, f"obj{i}"))
            os.fsync(dfd)
        secs = time.perf_counter() - t0
    finally:
        os.close(dfd)
    # The files are left for the caller to remove after its measurements:
    # deleting them now would slow the file creations that follow on some
    # file systems (bench/README.md).
    return {
        "size": size,
        "files": count,
        "seconds": round(secs, 3),
        "files_per_s": round(count / secs, 1),
        "mb_per_s": round(count * size / 1e6 / secs, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sizes", required=True, help="comma-separated byte sizes")
    ap.add_argument("--names", required=True, help="comma-separated names, one per size")
    ap.add_argument("--budget-mb", type=int, default=64)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    names = a.names.split(",")
    if len(sizes) != len(names):
        ap.error("--sizes and --names differ in length")
    out = {n: rate(os.path.join(a.dir, n), s, a.budget_mb * 1_000_000) for n, s in zip(names, sizes)}
    json.dump(out, fp=__import__("sys").stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
