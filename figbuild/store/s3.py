"""The team's store on S3 or any S3-compatible service, through boto3.

boto3 because its ``put_object(IfNoneMatch="*")`` is the conditional write claims
and write-once objects need (answered 412 when the key exists: by AWS S3, MinIO,
R2 and moto alike), it reads credentials and the endpoint from the standard AWS
chain (``AWS_ACCESS_KEY_ID``…, ``AWS_PROFILE``, ``~/.aws``, ``AWS_ENDPOINT_URL``)
without figbuild ever handling them, and AWS maintains it. It is imported only
here, when a remote is configured: ``status`` and the no-op path never load it.

Nothing here logs or formats a credential: errors are reduced to the service's
error code and the remote's URL.
"""

from __future__ import annotations

from typing import Any

from figbuild.store.remote import Unreachable

#: Seconds to connect, and to wait for an answer: an unreachable remote costs a sync
#: seconds, not minutes (it then works from the local store).
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0


class S3Bucket:
    """``s3://bucket/prefix`` as a :class:`~figbuild.store.remote.Bucket`."""

    def __init__(self, url: str) -> None:
        import boto3
        from botocore.config import Config

        self.url = url
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        try:
            self._client: Any = boto3.session.Session().client("s3", config=config)
        except Exception as exc:  # botocore raises many kinds for a bad profile or region
            raise Unreachable(self._why(exc)) from None
        import botocore.exceptions

        self._errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

    def create(self, key: str, data: bytes) -> bool:
        try:
            self._client.put_object(Bucket=self._bucket, Key=self._prefix + key, Body=data, IfNoneMatch="*")
        except self._errors as exc:
            if _status(exc) in (409, 412):  # 409: a concurrent conditional write won
                return False
            raise Unreachable(self._why(exc)) from None
        return True

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self._bucket, Key=self._prefix + key, Body=data)
        except self._errors as exc:
            raise Unreachable(self._why(exc)) from None

    def get(self, key: str, limit: int) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._prefix + key)
            if int(answer.get("ContentLength") or 0) > limit:
                raise Unreachable(f"{self.url}: {key} is larger than figbuild accepts")
            data: bytes = answer["Body"].read(limit + 1)
        except self._errors as exc:
            if _status(exc) == 404:
                return None
            raise Unreachable(self._why(exc)) from None
        if len(data) > limit:
            raise Unreachable(f"{self.url}: {key} is larger than figbuild accepts")
        return data

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(self._prefix) :] for item in page.get("Contents", []))
        except self._errors as exc:
            raise Unreachable(self._why(exc)) from None
        return keys

    def _why(self, exc: Exception) -> str:
        """The reason in words: the service's error code or the kind of failure, never
        the request (whose headers carry a signature)."""
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code") or _status(exc)
            return f"{self.url}: {code}"
        return f"{self.url}: {type(exc).__name__}"


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status is None:
        code = response.get("Error", {}).get("Code")
        return {"NoSuchKey": 404, "PreconditionFailed": 412, "ConditionalRequestConflict": 409}.get(code)
    return int(status)
