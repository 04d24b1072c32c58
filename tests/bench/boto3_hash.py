#!/usr/bin/env python3
"""The post-export script users write today, kept as the benchmark baseline for `bench-hash`.

Lists every object under a prefix and SHA-256-hashes each one with boto3 and a thread pool,
streaming the body through hashlib in 1 MiB chunks. Prints one JSON line:
{"objects": N, "bytes": B, "seconds": S, "errors": E}  (seconds: hashing only, listing excluded).
"""

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="S3 endpoint URL, e.g. http://127.0.0.1:8333")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()

    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=args.region,
        config=Config(max_pool_connections=args.workers, retries={"mode": "standard"}),
    )

    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=args.prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))

    def sha256_of(key):
        body = s3.get_object(Bucket=args.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
        return key, size, digest.hexdigest()

    started = time.perf_counter()
    total = 0
    errors = 0
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for future in [pool.submit(sha256_of, key) for key in keys]:
            try:
                _, size, _ = future.result()
                total += size
            except Exception as error:  # a user's script logs and carries on
                print(f"error: {error}", file=sys.stderr)
                errors += 1
    seconds = time.perf_counter() - started

    print(json.dumps({"objects": len(keys), "bytes": total, "seconds": seconds, "errors": errors}))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
