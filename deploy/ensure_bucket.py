"""Create the media bucket if the S3-compatible store has none yet (the compose stack's
`migrate` step runs this before `manage.py doctor`, which checks that files can be written).

A fresh MinIO starts empty and the node never creates buckets itself: in production a bucket
is the operator's to create, with its own policy. This script is only for the bundled store.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
from botocore.client import Config as BotoConfig  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from united.config import load  # noqa: E402


def main() -> int:
    config = load()
    if config.storage_backend != "s3":
        print("storage is local: no bucket to create")
        return 0
    client = boto3.client(
        "s3",
        endpoint_url=config.s3_endpoint,
        aws_access_key_id=config.s3_access_key,
        aws_secret_access_key=config.s3_secret_key,
        region_name=config.s3_region or "us-east-1",
        config=BotoConfig(s3={"addressing_style": "path" if config.s3_path_style else "virtual"}),
    )
    try:
        client.head_bucket(Bucket=config.s3_bucket)
        print(f"bucket {config.s3_bucket} exists")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise
        client.create_bucket(Bucket=config.s3_bucket)
        print(f"bucket {config.s3_bucket} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
