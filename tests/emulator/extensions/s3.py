"""S3 buckets.

What moto 5.2.5 gets wrong, and what this module does about it:

* CreateBucket ignored the ``Tags`` of ``CreateBucketConfiguration``: AWS applies them to the
  new bucket (general purpose buckets too), so a bucket is tagged from the moment it exists.
  They are applied now.
"""

from __future__ import annotations

from typing import Any

import xmltodict
from moto.s3.responses import S3Response

from ._support import override


def _creation_tags(body: Any) -> dict[str, str]:
    if not body:
        return {}
    try:
        parsed = xmltodict.parse(body, force_list={"Tag": True})
    except Exception:  # noqa: BLE001 - moto answers a malformed body itself
        return {}
    config = parsed.get("CreateBucketConfiguration") or {}
    tags = (config.get("Tags") or {}).get("Tag") or []
    return {tag["Key"]: tag.get("Value") or "" for tag in tags if isinstance(tag, dict) and "Key" in tag}


def register() -> None:
    @override(S3Response, "_bucket_response_put")
    def bucket_response_put(original: Any, self: S3Response, request: Any, bucket_name: str,
                            querystring: dict[str, Any]) -> Any:
        result = original(self, request, bucket_name, querystring)
        if not querystring:
            tags = _creation_tags(self.body)
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return result
