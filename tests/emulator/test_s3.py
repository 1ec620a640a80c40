"""S3 calls made by the provider that moto needed help with."""

from __future__ import annotations


def test_create_bucket_applies_the_tags_of_its_configuration(client, name):
    s3 = client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={
        "Tags": [{"Key": "unifiedetl:pipeline", "Value": "orders"}, {"Key": "team", "Value": "etl"}]})
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags == {"unifiedetl:pipeline": "orders", "team": "etl"}


def test_create_bucket_without_tags_has_none(client, name):
    s3 = client("s3")
    s3.create_bucket(Bucket=name)
    try:
        s3.get_bucket_tagging(Bucket=name)
        raise AssertionError("a tag set")
    except s3.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchTagSet"
