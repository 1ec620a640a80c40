"""Lambda functions, without Docker (there is none on the test machines).

What moto 5.2.5 lacks or gets wrong, and what this module does about it:

* Invoke (and moto's own ESM/SNS/SQS deliveries) tries to run the function in Docker: the
  emulator switches moto to its Docker-free Lambda backend (``lambda.use_docker = False``),
  whose Invoke answers a canned payload. Functions are never run.
* UpdateFunctionCode ignored ``Architectures``.
* UpdateFunctionCode/UpdateFunctionConfiguration left ``LastModified`` unchanged, and no
  response carried ``RevisionId``: both now change on every update.
* A ZipFile that is not a zip archive was accepted (AWS: InvalidParameterValueException
  "Could not unzip uploaded file...").
* MemorySize (128..10240) and Timeout (1..900) were not range-checked (ValidationException).
* UpdateFunctionConfiguration with ``Environment: {}`` crashed (HTTP 500).
* moto only checked that the execution role exists; AWS also refuses a role whose trust
  policy does not let ``lambda.amazonaws.com`` assume it (InvalidParameterValueException
  "The role defined for the function cannot be assumed by Lambda."), on CreateFunction and
  on UpdateFunctionConfiguration with a new Role.

* ``LoggingConfig`` (advanced logging controls) was dropped: CreateFunction and
  UpdateFunctionConfiguration now keep it and every configuration reports it as AWS does —
  ``LogFormat`` ``Text`` and ``LogGroup`` ``/aws/lambda/<name>`` by default; with ``JSON``,
  ``ApplicationLogLevel`` and ``SystemLogLevel`` ``INFO`` unless given. A level with ``Text``
  is refused with AWS's message (InvalidParameterValueException "LogLevel is not supported
  when LogFormat is set to "Text". ..."), as are values outside the enums.
* PublishVersion numbered a new version one past the count of versions left, so a version
  published after a deletion took the number of one that had been (version 2 again after
  version 1 was deleted); Lambda never reuses a version number. UpdateFunctionCode with
  ``Publish`` then configured the version it had published once more (a new RevisionId for an
  immutable version): it now publishes the updated code once, as Lambda does.

The ZipFile check decodes the package; moto then decoded it again (~30 ms for a 4 MB package):
it now takes the bytes the check decoded, in the same request's thread. The check decodes with
pybase64 (SIMD; the standard library took 26 ms for a 4 MB package's 5.5 MB of text, pybase64
3 ms), and moto's ``json_body`` is parsed once per request (CreateFunction read it twice,
8 ms each for such a package).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import io
import json
import threading
import zipfile
from typing import Any
from urllib.parse import unquote

import pybase64
from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException, ValidationException
from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage
from moto.awslambda.responses import LambdaResponse
from moto.core.config import default_user_config
from moto.core.utils import iso_8601_datetime_with_nanoseconds
from moto.moto_api._internal import mock_random as random
from moto.utilities.utils import get_partition

from ._support import override

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."


# The package the last ZipFile check of this thread decoded: (the base64 text, its bytes).
_decoded = threading.local()


def _check_zip(encoded: Any) -> None:
    if not isinstance(encoded, str):
        return
    try:
        # The same result as base64.b64decode(encoded, validate=False), eight times faster.
        raw = pybase64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise InvalidParameterValueException(UNZIP_ERROR)
    if not raw or not zipfile.is_zipfile(io.BytesIO(raw)):
        raise InvalidParameterValueException(UNZIP_ERROR)
    _decoded.last = (encoded, raw)


def _zipfile_content(original: Any, content: str | bytes) -> tuple[bytes, int, str, str]:
    """moto's decoding of a ZipFile, skipped for the text the check just decoded."""
    last = getattr(_decoded, "last", None)
    _decoded.last = None
    if last is None or last[0] is not content:
        return original(content)
    raw = last[1]
    digest = hashlib.sha256(raw)
    return raw, len(raw), base64.b64encode(digest.digest()).decode("utf-8"), digest.hexdigest()


def _check_sizes(spec: dict[str, Any]) -> None:
    memory = spec.get("MemorySize")
    if memory is not None:
        if memory < 128:
            raise ValidationException(str(memory), "memorySize", "Member must have value greater than or equal to 128")
        if memory > 10240:
            raise ValidationException(str(memory), "memorySize", "Member must have value less than or equal to 10240")
    timeout = spec.get("Timeout")
    if timeout is not None:
        if timeout < 1:
            raise ValidationException(str(timeout), "timeout", "Member must have value greater than or equal to 1")
        if timeout > 900:
            raise ValidationException(str(timeout), "timeout", "Member must have value less than or equal to 900")


ROLE_ERROR = "The role defined for the function cannot be assumed by Lambda."


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _lambda_may_assume(trust_document: str) -> bool:
    try:
        document = json.loads(unquote(trust_document) if trust_document.lstrip().startswith("%") else trust_document)
    except (ValueError, AttributeError):
        return True  # not ours to judge: IAM validated it
    for statement in _as_list(document.get("Statement", [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        if principal == "*":
            return True
        if isinstance(principal, dict):
            services = _as_list(principal.get("Service", []))
            if "lambda.amazonaws.com" in services or principal.get("AWS") == "*":
                return True
    return False


def _check_role(account_id: str, partition: str, role_arn: str | None) -> None:
    if not role_arn:
        return
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id][partition].get_role_by_arn(role_arn)
    except Exception:
        return  # moto's own checks report a missing role
    if not _lambda_may_assume(role.assume_role_policy_document):
        raise InvalidParameterValueException(ROLE_ERROR)


LOG_FORMATS = ("Text", "JSON")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")


def _logging(name: str, given: dict[str, Any] | None, current: dict[str, Any] | None) -> dict[str, Any]:
    """The function's LoggingConfig after a request giving ``given`` (``None``: unchanged)."""
    merged = dict(current or {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"})
    if given is None:
        return merged
    for key, allowed in (("LogFormat", LOG_FORMATS), ("ApplicationLogLevel", APPLICATION_LOG_LEVELS),
                         ("SystemLogLevel", SYSTEM_LOG_LEVELS)):
        value = given.get(key)
        if value is not None and value not in allowed:
            raise ValidationException(
                value, f"loggingConfig.{key[0].lower()}{key[1:]}", f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
    merged.update({k: v for k, v in given.items() if v is not None})
    if merged.get("LogFormat") == "Text":
        if given.get("ApplicationLogLevel") or given.get("SystemLogLevel"):
            raise InvalidParameterValueException(
                'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request '
                'or change the LogFormat to "Json" and try again.'
            )
        merged.pop("ApplicationLogLevel", None)
        merged.pop("SystemLogLevel", None)
    else:
        merged.setdefault("ApplicationLogLevel", "INFO")
        merged.setdefault("SystemLogLevel", "INFO")
    merged.setdefault("LogGroup", f"/aws/lambda/{name}")
    return merged


def _touch(fn: LambdaFunction) -> None:
    fn.last_modified = iso_8601_datetime_with_nanoseconds()
    fn.emulator_revision_id = str(random.uuid4())  # type: ignore[attr-defined]


def register() -> None:
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    original_content = getattr(lambda_models._zipfile_content, "__wrapped__", lambda_models._zipfile_content)
    decode = functools.partial(_zipfile_content, original_content)
    decode.__wrapped__ = original_content  # type: ignore[attr-defined]
    lambda_models._zipfile_content = decode

    # A new response object serves each request, so its parsed body can be kept.
    body = LambdaResponse.__dict__["json_body"]
    if isinstance(body, property):
        parse = body.fget
        once = functools.cached_property(parse)
        once.__set_name__(LambdaResponse, "json_body")
        LambdaResponse.json_body = once  # type: ignore[assignment]

    @override(LambdaBackend, "create_function")
    def create_function(original: Any, self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        _check_sizes(spec)
        _check_zip((spec.get("Code") or {}).get("ZipFile"))
        _check_role(self.account_id, get_partition(self.region_name), spec.get("Role"))
        logging = _logging(spec.get("FunctionName", ""), spec.get("LoggingConfig"), None)
        # Published once the function holds its LoggingConfig, so that the version has it too
        # (moto published first, and answered a copy).
        fn = original(self, {**spec, "Publish": False})
        fn.emulator_logging = logging  # type: ignore[attr-defined]
        if spec.get("Publish"):
            version = self.publish_version(fn.function_name)
            answer = copy.copy(fn)
            answer.version = version.version  # type: ignore[union-attr]
            return answer
        return fn

    @override(LambdaFunction, "get_configuration")
    def get_configuration(original: Any, self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config = original(self, on_create=on_create)
        revision = getattr(self, "emulator_revision_id", None)
        if revision is None:
            revision = self.emulator_revision_id = str(random.uuid4())  # type: ignore[attr-defined]
        config["RevisionId"] = revision
        config["LoggingConfig"] = getattr(self, "emulator_logging", None) or _logging(self.function_name, None, None)
        return config

    @override(LambdaFunction, "update_function_code")
    def update_function_code(original: Any, self: LambdaFunction, updated_spec: dict[str, Any]) -> dict[str, Any]:
        if updated_spec.get("DryRun"):
            return original(self, updated_spec)
        _check_zip(updated_spec.get("ZipFile"))
        if updated_spec.get("Architectures") is not None:
            self.architectures = updated_spec["Architectures"]  # the setter validates
        _touch(self)
        return original(self, updated_spec)

    @override(LambdaStorage, "publish_version")
    def publish_version(original: Any, self: LambdaStorage, name_or_arn: str,
                        description: str = "") -> LambdaFunction | None:
        function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        entry = self._functions.get(function.function_name)
        if not entry or not entry["latest"]:
            return None
        latest, versions = entry["latest"], entry["versions"]
        if versions and not latest.code_or_config_updated:
            return versions[-1]  # nothing changed since: Lambda publishes nothing
        published = max([int(v.version) for v in versions] + [entry.get("emulator_last_version", 0)])
        version = copy.copy(latest)
        version.set_version(published + 1)
        if description:
            version.description = description
        latest.code_or_config_updated = False
        versions.append(version)
        entry["emulator_last_version"] = published + 1
        self._arns[version.function_arn] = version
        return version

    @override(LambdaBackend, "update_function_code")
    def backend_update_function_code(original: Any, self: LambdaBackend, function_name: str,
                                     qualifier: str, body: dict[str, Any]) -> dict[str, Any] | None:
        fn: LambdaFunction = self.get_function(function_name, qualifier)
        config = fn.update_function_code(body)
        if body.get("Publish", False):
            version = self.publish_version(function_name)
            return version.get_configuration() if version else config
        return config

    @override(LambdaFunction, "update_configuration")
    def update_configuration(original: Any, self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        _check_sizes(config_updates)
        if config_updates.get("Role") and config_updates["Role"] != self.role:
            _check_role(self.account_id, self.partition, config_updates["Role"])
        if "LoggingConfig" in config_updates:
            self.emulator_logging = _logging(  # type: ignore[attr-defined]
                self.function_name, config_updates["LoggingConfig"], getattr(self, "emulator_logging", None)
            )
        environment = config_updates.get("Environment")
        if environment is not None and "Variables" not in environment:
            # {"Environment": {}} clears the variables (moto crashed on the missing key).
            config_updates = {**config_updates, "Environment": {"Variables": {}}}
        _touch(self)
        return original(self, config_updates)
