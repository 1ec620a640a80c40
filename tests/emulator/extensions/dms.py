"""Database Migration Service (DMS): the replication lifecycle the provider manages.

moto 5.2.5 has a partial DMS backend. What it lacks or gets wrong, and what this module does:

* ModifyEndpoint, ModifyReplicationTask, ModifyReplicationSubnetGroup, AddTagsToResource and
  RemoveTagsFromResource did not exist (NotImplementedError, HTTP 500). They do now:
  ModifyEndpoint merges endpoint settings (``ExactSettings`` replaces them);
  ModifyReplicationTask needs a task that is not running, starting or stopping
  (InvalidResourceStateFault: AWS requires stopping a task before modifying it).
* Nothing went through the states AWS reports. Now, with a short delay (environment variable
  ``EMULATOR_DMS_DELAY_SECONDS``, default 0.3 s; 0 settles at the next request): instances
  creating -> available, modifying -> available, deleting -> gone; tasks creating -> ready,
  starting -> running, stopping -> stopped, modifying -> ready/stopped, deleting -> gone;
  endpoints deleting -> gone. moto answered deleted resources as gone at once.
* ARNs were built from the identifiers (``rep:<id>``, ``task:<id>``); AWS uses an opaque
  resource id (``rep:2AWWXYNVBFCVPAC4SBILMZXHCA``) unless ``ResourceIdentifier`` is given,
  so a renamed resource keeps its ARN. Identifiers are validated as the reference says;
  replication instance and subnet group identifiers are stored in lowercase.
* Describe* calls whose filters match nothing returned an empty list; AWS answers
  ResourceNotFoundFault ("No Tasks found matching provided filters"). Unknown filter names
  crashed (HTTP 500) or were ignored: InvalidParameterValueException. MaxRecords (20..100)
  and Marker work.
* CreateReplicationTask accepted anything: unknown endpoint or instance ARNs, a bad
  MigrationType, TableMappings that are not JSON or have no selection rule, settings that are
  not a JSON object, duplicate identifiers (moto only compared ARNs made from identifiers).
  Each now gets the AWS error (ResourceNotFoundFault, InvalidParameterValueException,
  InvalidParameterCombinationException, ResourceAlreadyExistsFault). ReplicationTaskSettings
  came back as given; AWS returns them merged into its full default settings document
  (including its oddities: a duplicated ``historyTimeslotInMinutes``, ``CloudWatchLogGroup``
  filled in when logging is on, log components merged by Id), which clients must normalise.
  TableMappings come back as given.
* StartReplicationTask ignored StartReplicationTaskType and state: a running task could be
  started again, ``resume-processing`` could start a task never run, and ``start-replication``
  could restart a full-load(-and-cdc) task that had run. Stop answered "stopped" at once.
  DeleteReplicationTask deleted running tasks.
* DeleteReplicationInstance deleted an instance that still had tasks, DeleteEndpoint an
  endpoint a task uses, DeleteReplicationSubnetGroup a group an instance uses: all
  InvalidResourceStateFault now.
* Endpoints: ``EndpointType`` is answered in upper case (SOURCE/TARGET), as AWS does; the
  password is never returned (moto echoed MySQLSettings.Password);
  MySQLSettings mirrors ServerName/Port/Username/DatabaseName as AWS does; KinesisSettings
  is answered with every flag filled in (false) and MessageFormat json by default; MySQL
  endpoints need either credentials or a Secrets Manager secret with its access role (not
  both); Kinesis endpoints need StreamArn and ServiceAccessRoleArn; SslMode verify-ca and
  verify-full need CertificateArn.
* Replication instances: ApplyImmediately was ignored; now without it class, storage,
  Multi-AZ, engine version and network type wait in PendingModifiedValues (the emulator has
  no maintenance window, so they stay there). Storage 5..6144 GiB, no shrinking; MultiAZ
  with an AvailabilityZone is refused; the subnet group must exist; without one, a group
  ``default-<vpc id>`` is made, as AWS does, from the emulated EC2's default VPC if EC2 is
  in use (else from made-up subnets: starting moto's EC2 takes seconds).
* Subnet groups: subnets were ignored (the group always showed ``subnet-12345``). Subnets that
  exist in the emulator's EC2 give their VPC and Availability Zone; other ``subnet-...`` ids
  are accepted as if they existed, placed in zones <region>a, b, c in turn. Fewer
  than two zones: ReplicationSubnetGroupDoesNotCoverEnoughAZs; subnets of two VPCs:
  InvalidSubnet. Tags were stored under the identifier instead of the ARN
  (``arn:aws:dms:<region>:<account>:subgrp:<identifier>``).
* Timestamps were ISO strings; AWS sends epoch seconds.

Tags (Add/Remove/ListTagsForResource) work for instances, endpoints, tasks and subnet groups;
an unknown ARN is ResourceNotFoundFault.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import random
import re
import string
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.dms.exceptions import (
    DmsClientError,
    InvalidParameterCombinationException,
    InvalidResourceStateFault,
    ResourceAlreadyExistsFault,
    ResourceNotFoundFault,
)
from moto.dms.models import DatabaseMigrationServiceBackend
from moto.dms.responses import DatabaseMigrationServiceResponse
from moto.utilities.utils import get_partition

from ._support import override

Backend = DatabaseMigrationServiceBackend
Params = dict[str, Any]  # a request body
Answer = dict[str, Any]  # a response body
Handler = Callable[[Backend, Params], Answer]

DELAY_ENV = "EMULATOR_DMS_DELAY_SECONDS"
DEFAULT_DELAY = 0.3
DEFAULT_ENGINE_VERSION = "3.5.4"
DEFAULT_ALLOCATED_STORAGE = 50
GONE = "<gone>"

_LOCK = threading.RLock()


def transition_delay() -> float:
    """Seconds a resource stays in an in-progress state (creating, starting...)."""
    raw = os.environ.get(DELAY_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_DELAY
    except ValueError:
        return DEFAULT_DELAY
    return value if value >= 0 else DEFAULT_DELAY


# ------------------------------------------------------------------------------ errors


class _DmsError(DmsClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def invalid_value(message: str) -> _DmsError:
    return _DmsError("InvalidParameterValueException", message)


def not_covering_azs() -> _DmsError:
    return _DmsError(
        "ReplicationSubnetGroupDoesNotCoverEnoughAZs",
        "The replication subnet group does not cover enough Availability Zones (AZs). "
        "Edit the replication subnet group and add more AZs.",
    )


def invalid_subnet(message: str) -> _DmsError:
    return _DmsError("InvalidSubnet", message)


# ------------------------------------------------------------------------------ lifecycle


class _Lifecycle:
    """A status that moves to the next one after transition_delay(), lazily: the sweep at
    the start of each DMS request settles what is due."""

    def __init__(self, status: str) -> None:
        self.status = status
        self._next: tuple[float, str, Callable[[], None] | None] | None = None

    def move(self, status: str, then: str, on_done: Callable[[], None] | None = None) -> None:
        self.status = status
        self._next = (time.monotonic() + transition_delay(), then, on_done)

    def settle(self) -> None:
        if self._next is not None and time.monotonic() >= self._next[0]:
            _, then, on_done = self._next
            self._next = None
            self.status = then
            if on_done is not None:
                on_done()

    @property
    def gone(self) -> bool:
        return self.status == GONE


def _sweep(backend: Backend) -> None:
    for store in (backend.replication_tasks, backend.endpoints, backend.replication_instances):
        for key, resource in list(store.items()):
            if not isinstance(resource, _Lifecycle):
                continue
            resource.settle()
            if resource.gone:
                del store[key]
                backend.tagger.delete_all_tags_for_resource(resource.arn)
    for connection in backend.connections:
        if isinstance(connection, _Lifecycle):
            connection.settle()


# ------------------------------------------------------------------------------ helpers


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """Drops None members (AWS omits absent members) from nested shapes."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(_clean(body), default=_json_default)


def _arn(backend: Backend, kind: str, resource_id: str) -> str:
    region = backend.region_name
    return f"arn:{get_partition(region)}:dms:{region}:{backend.account_id}:{kind}:{resource_id}"


def _opaque_id() -> str:
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=26))


_IDENTIFIER = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?!-))*")


def _check_identifier(value: Any, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_value(f"{what} must be specified.")
    if (
        len(value) > max_length
        or not _IDENTIFIER.fullmatch(value)
        or value.endswith("-")
    ):
        raise invalid_value(
            f"The parameter {what} is not a valid identifier. Identifiers must begin with a "
            "letter; must contain only ASCII letters, digits, and hyphens; and must not end "
            f"with a hyphen or contain two consecutive hyphens (at most {max_length} characters)."
        )
    return value


def _resource_identifier(backend: Backend, kind: str, params: dict[str, Any]) -> str:
    given = params.get("ResourceIdentifier")
    if given is None:
        return _opaque_id()
    _check_identifier(given, "ResourceIdentifier", 31)
    if _find_by_arn(backend, _arn(backend, kind, given)) is not None:
        raise ResourceAlreadyExistsFault(f"ResourceIdentifier {given} is already in use.")
    return given


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise invalid_value(f"The parameter {name} must be provided and must not be blank.")
    return value


def _bool(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name, default)
    if value is None or isinstance(value, bool):
        return value
    raise invalid_value(f"The parameter {name} must be a boolean.")


def _tags_of(params: dict[str, Any]) -> list[dict[str, str]]:
    tags = params.get("Tags") or []
    result = []
    for tag in tags:
        if not isinstance(tag, dict) or not tag.get("Key"):
            raise invalid_value("Each tag must have a Key.")
        result.append({"Key": tag["Key"], "Value": tag.get("Value", "")})
    return result


def _filter(items: list[Any], filters: Any, accessors: dict[str, Callable[[Any], Iterable[str]]],
            lowercase: Iterable[str] = ()) -> list[Any]:
    if filters is None:
        return items
    if not isinstance(filters, list):
        raise invalid_value("Filters must be a list.")
    lowercase = set(lowercase)
    for entry in filters:
        name = entry.get("Name") if isinstance(entry, dict) else None
        values = entry.get("Values") if isinstance(entry, dict) else None
        if name not in accessors:
            raise invalid_value(
                f"Invalid filter name: {name}. Valid filter names: {', '.join(accessors)}"
            )
        if not isinstance(values, list) or not values:
            raise invalid_value(f"The filter {name} must have at least one value.")
        wanted = {v.lower() for v in values} if name in lowercase else set(values)
        get = accessors[name]
        items = [
            item for item in items
            if any((v.lower() if name in lowercase else v) in wanted for v in get(item) if v is not None)
        ]
    return items


def _page(items: list[Any], params: dict[str, Any], not_found: str) -> tuple[list[Any], str | None]:
    max_records = params.get("MaxRecords")
    if max_records is None:
        max_records = 100
    elif not isinstance(max_records, int) or not 20 <= max_records <= 100:
        raise invalid_value("MaxRecords must be between 20 and 100.")
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise invalid_value(f"Invalid Marker: {marker}")
        if start < 0:
            raise invalid_value(f"Invalid Marker: {marker}")
    if not items:
        raise ResourceNotFoundFault(not_found)
    end = start + max_records
    return items[start:end], (str(end) if end < len(items) else None)


# ------------------------------------------------------------------------------ subnet groups


class SubnetGroup:
    def __init__(self, backend: Backend, identifier: str, description: str,
                 subnets: list[tuple[str, str]], vpc_id: str) -> None:
        self.identifier = identifier
        self.description = description
        self.subnets = subnets
        self.vpc_id = vpc_id
        self.arn = _arn(backend, "subgrp", identifier)

    @property
    def replication_subnet_group_identifier(self) -> str:  # moto's own filters use this name
        return self.identifier

    def to_dict(self) -> dict[str, Any]:
        return {
            "ReplicationSubnetGroupIdentifier": self.identifier,
            "ReplicationSubnetGroupDescription": self.description,
            "VpcId": self.vpc_id,
            "SubnetGroupStatus": "Complete",
            "Subnets": [
                {
                    "SubnetIdentifier": subnet_id,
                    "SubnetAvailabilityZone": {"Name": zone},
                    "SubnetStatus": "Active",
                }
                for subnet_id, zone in self.subnets
            ],
            "SupportedNetworkTypes": ["IPV4"],
        }


def _ec2_if_started(backend: Backend) -> Any:
    """The region's EC2 backend if something already used it, else None: a subnet or VPC can
    only exist in a started one, and importing and starting one takes seconds."""
    if "moto.ec2.models" not in sys.modules:
        return None
    from moto.ec2.models import ec2_backends

    account = dict.get(ec2_backends, backend.account_id)  # dict.get: no lazy creation
    return dict.get(account, backend.region_name) if account is not None else None


def _zones(backend: Backend) -> list[str]:
    """Where subnets unknown to the emulated EC2 are placed, in turn."""
    return [f"{backend.region_name}{suffix}" for suffix in "abc"]


def _fake_vpc_id(backend: Backend) -> str:
    digest = hashlib.sha256(f"{backend.account_id}:{backend.region_name}".encode()).hexdigest()
    return f"vpc-{digest[:17]}"


def _emulated_subnet(ec2: Any, subnet_id: str) -> Any:
    if ec2 is None:
        return None
    from moto.ec2.exceptions import InvalidSubnetIdError

    try:
        return ec2.get_subnet(subnet_id)
    except InvalidSubnetIdError:
        return None


def _resolve_subnets(backend: Backend, subnet_ids: Any) -> tuple[str, list[tuple[str, str]]]:
    if not isinstance(subnet_ids, list) or not subnet_ids:
        raise invalid_value("SubnetIds must contain at least one subnet ID.")
    ec2 = _ec2_if_started(backend)
    zones = _zones(backend)
    vpcs: set[str] = set()
    subnets: list[tuple[str, str]] = []
    unknown = 0
    for subnet_id in dict.fromkeys(subnet_ids):  # drops repeats, keeps the order
        if not isinstance(subnet_id, str) or not re.fullmatch(r"subnet-[0-9A-Za-z]+", subnet_id):
            raise invalid_subnet(f"The subnet ID '{subnet_id}' is not valid.")
        subnet = _emulated_subnet(ec2, subnet_id)
        if subnet is None:
            # Not in the emulator's EC2: accepted, placed in the region's zones in turn.
            subnets.append((subnet_id, zones[unknown % len(zones)]))
            unknown += 1
            continue
        subnets.append((subnet_id, subnet.availability_zone))
        vpcs.add(subnet.vpc_id)
    if len(vpcs) > 1:
        raise invalid_subnet(
            f"The subnets {', '.join(subnet_ids)} belong to different VPCs ({', '.join(sorted(vpcs))}); "
            "a replication subnet group's subnets must all be in one VPC."
        )
    if len({zone for _, zone in subnets}) < 2:
        raise not_covering_azs()
    return (vpcs.pop() if vpcs else _fake_vpc_id(backend)), subnets


_SUBNET_GROUP_ID = re.compile(r"[A-Za-z0-9._ -]{1,255}")


def _check_subnet_group_identifier(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_value("ReplicationSubnetGroupIdentifier must be specified.")
    if not _SUBNET_GROUP_ID.fullmatch(value):
        raise invalid_value(
            "The parameter ReplicationSubnetGroupIdentifier must contain no more than 255 "
            "alphanumeric characters, periods, spaces, underscores, or hyphens."
        )
    value = value.lower()
    if value == "default":
        raise invalid_value('The parameter ReplicationSubnetGroupIdentifier must not be "default".')
    return value


def _get_subnet_group(backend: Backend, identifier: Any) -> SubnetGroup:
    key = identifier.lower() if isinstance(identifier, str) else identifier
    group = backend.replication_subnet_groups.get(key)
    if not isinstance(group, SubnetGroup):
        raise ResourceNotFoundFault(f"Replication subnet group '{identifier}' not found.")
    return group


def _default_subnet_group(backend: Backend) -> SubnetGroup:
    """The group AWS makes from the default VPC when an instance names none: from the
    emulated EC2's default VPC if EC2 is in use, else from made-up subnets."""
    existing = [g for g in backend.replication_subnet_groups.values()
                if isinstance(g, SubnetGroup) and g.identifier.startswith("default-vpc-")]
    if existing:
        return existing[0]
    ec2 = _ec2_if_started(backend)
    vpc = ec2.get_default_vpc() if ec2 is not None else None
    if vpc is not None:
        vpc_id = vpc.id
        subnets = sorted(
            ((s.id, s.availability_zone) for s in ec2.describe_subnets() if s.vpc_id == vpc_id),
            key=lambda pair: pair[1],
        )
    else:
        vpc_id = _fake_vpc_id(backend)
        subnets = [(f"subnet-{vpc_id[4:12]}{zone[-1]}", zone) for zone in _zones(backend)]
    group = SubnetGroup(backend, f"default-{vpc_id}", "default", subnets, vpc_id)
    backend.replication_subnet_groups[group.identifier] = group
    return group


def create_replication_subnet_group(backend: Backend, params: Params) -> Answer:
    identifier = _check_subnet_group_identifier(params.get("ReplicationSubnetGroupIdentifier"))
    description = _required(params, "ReplicationSubnetGroupDescription")
    if identifier in backend.replication_subnet_groups:
        raise ResourceAlreadyExistsFault("The Replication Subnet Group already exists.")
    vpc_id, subnets = _resolve_subnets(backend, params.get("SubnetIds"))
    tags = _tags_of(params)
    group = SubnetGroup(backend, identifier, description, subnets, vpc_id)
    backend.replication_subnet_groups[identifier] = group
    if tags:
        backend.tagger.tag_resource(group.arn, tags)
    return {"ReplicationSubnetGroup": group.to_dict()}


def describe_replication_subnet_groups(backend: Backend, params: Params) -> Answer:
    groups = [g for g in backend.replication_subnet_groups.values() if isinstance(g, SubnetGroup)]
    groups = _filter(
        groups, params.get("Filters"), {"replication-subnet-group-id": lambda g: [g.identifier]},
        lowercase=["replication-subnet-group-id"],
    )
    page, marker = _page(groups, params, "No Replication Subnet Groups found matching provided filters")
    return {"ReplicationSubnetGroups": [g.to_dict() for g in page], "Marker": marker}


def modify_replication_subnet_group(backend: Backend, params: Params) -> Answer:
    group = _get_subnet_group(backend, _required(params, "ReplicationSubnetGroupIdentifier"))
    vpc_id, subnets = _resolve_subnets(backend, params.get("SubnetIds"))
    users = [i for i in backend.replication_instances.values()
             if isinstance(i, Instance) and i.subnet_group == group.identifier]
    if users and vpc_id != group.vpc_id:
        raise invalid_subnet(
            f"The replication subnet group {group.identifier} is used by a replication instance: "
            f"its subnets must stay in {group.vpc_id}."
        )
    in_use = {i.availability_zone for i in users} | {i.secondary_availability_zone for i in users}
    if in_use - {zone for _, zone in subnets} - {None}:
        raise _DmsError(
            "SubnetAlreadyInUse",
            "The specified subnet is already in use by a replication instance.",
        )
    group.vpc_id = vpc_id
    group.subnets = subnets
    if params.get("ReplicationSubnetGroupDescription") is not None:
        group.description = params["ReplicationSubnetGroupDescription"]
    return {"ReplicationSubnetGroup": group.to_dict()}


def delete_replication_subnet_group(backend: Backend, params: Params) -> Answer:
    group = _get_subnet_group(backend, _required(params, "ReplicationSubnetGroupIdentifier"))
    users = [i.identifier for i in backend.replication_instances.values()
             if isinstance(i, Instance) and i.subnet_group == group.identifier]
    if users:
        raise InvalidResourceStateFault(
            f"Cannot delete replication subnet group {group.identifier}: it is in use by "
            f"replication instance(s) {', '.join(users)}."
        )
    del backend.replication_subnet_groups[group.identifier]
    backend.tagger.delete_all_tags_for_resource(group.arn)
    return {}


# ------------------------------------------------------------------------------ instances

_INSTANCE_CLASS = re.compile(r"dms\.[a-z][a-z0-9-]*\.(?:nano|micro|small|medium|large|[0-9]*xlarge)")
_MAINTENANCE_WINDOW = re.compile(
    r"(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])-"
    r"(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])"
)
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_VERSION = re.compile(r"\d+\.\d+\.\d+")


def _check_instance_class(value: Any) -> str:
    if not isinstance(value, str) or not _INSTANCE_CLASS.fullmatch(value):
        raise invalid_value(f"Invalid replication instance class: {value}")
    return value


def _check_storage(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 5 <= value <= 6144:
        raise invalid_value(
            f"Invalid storage size: {value}. AllocatedStorage must be between 5 and 6144 GiB."
        )
    return value


def _check_window(value: Any) -> str:
    match = _MAINTENANCE_WINDOW.fullmatch(value.lower()) if isinstance(value, str) else None
    if match is None:
        raise invalid_value(
            f"Invalid PreferredMaintenanceWindow: {value}. Format: ddd:hh24:mi-ddd:hh24:mi"
        )
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = _DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1)
    end = _DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2)
    if (end - start) % (7 * 1440) < 30:
        raise invalid_value("The maintenance window must be at least 30 minutes.")
    return value.lower()


def _check_version(value: Any) -> str:
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise invalid_value(f"No replication engine found with version: {value}")
    return value


def _default_window(seed: str) -> str:
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    day = _DAYS[digest % 7]
    hour = (digest // 7) % 24
    return f"{day}:{hour:02d}:00-{day}:{hour:02d}:30"


def _default_kms_key(backend: Backend) -> str:
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"dms-default-key:{backend.account_id}:{backend.region_name}")
    region = backend.region_name
    return f"arn:{get_partition(region)}:kms:{region}:{backend.account_id}:key/{key_id}"


class Instance(_Lifecycle):
    def __init__(self, backend: Backend, identifier: str, resource_id: str,
                 params: dict[str, Any], group: SubnetGroup) -> None:
        super().__init__("creating")
        self.identifier = identifier
        self.arn = _arn(backend, "rep", resource_id)
        self.instance_class = _check_instance_class(params.get("ReplicationInstanceClass"))
        storage = params.get("AllocatedStorage")
        self.allocated_storage = DEFAULT_ALLOCATED_STORAGE if storage is None else _check_storage(storage)
        version = params.get("EngineVersion")
        self.engine_version = DEFAULT_ENGINE_VERSION if version is None else _check_version(version)
        self.multi_az = bool(_bool(params, "MultiAZ", False))
        zones = sorted({zone for _, zone in group.subnets})
        zone = params.get("AvailabilityZone")
        if zone is not None and self.multi_az:
            raise InvalidParameterCombinationException(
                "Requesting a specific availability zone is not valid for Multi-AZ instances."
            )
        if zone is not None and zone not in zones:
            raise invalid_value(
                f"Availability zone {zone} is not covered by replication subnet group {group.identifier}."
            )
        self.availability_zone = zone or (zones[0] if zones else f"{backend.region_name}a")
        self.secondary_availability_zone = (
            next((z for z in zones if z != self.availability_zone), None) if self.multi_az else None
        )
        self.subnet_group = group.identifier
        self.vpc_security_group_ids = self._security_groups(backend, params.get("VpcSecurityGroupIds"), group)
        self.publicly_accessible = bool(_bool(params, "PubliclyAccessible", True))
        window = params.get("PreferredMaintenanceWindow")
        self.preferred_maintenance_window = (
            _default_window(self.arn) if window is None else _check_window(window)
        )
        self.auto_minor_version_upgrade = bool(_bool(params, "AutoMinorVersionUpgrade", True))
        self.kms_key_id = params.get("KmsKeyId") or _default_kms_key(backend)
        self.network_type = params.get("NetworkType") or "IPV4"
        if self.network_type not in ("IPV4", "DUAL"):
            raise invalid_value(f"Invalid NetworkType: {self.network_type}. Valid values: IPV4, DUAL")
        self.dns_name_servers = params.get("DnsNameServers")
        self.created = _now()
        digest = hashlib.sha256(self.arn.encode()).digest()
        self.private_ip = f"10.{digest[0]}.{digest[1]}.{max(digest[2], 4)}"
        self.public_ip = f"54.{digest[3]}.{digest[4]}.{max(digest[5], 4)}"
        self.pending: dict[str, Any] = {}

    @staticmethod
    def _security_groups(backend: Backend, given: Any, group: SubnetGroup) -> list[str]:
        if given is not None:
            if not isinstance(given, list) or not all(isinstance(g, str) and g.startswith("sg-")
                                                      for g in given):
                raise invalid_value(f"Invalid VpcSecurityGroupIds: {given}")
            return list(dict.fromkeys(given))
        ec2 = _ec2_if_started(backend)
        default = ec2.get_security_group_from_name("default", group.vpc_id) if ec2 is not None else None
        if default is not None:
            return [default.id]
        return ["sg-" + hashlib.sha256(group.vpc_id.encode()).hexdigest()[:17]]

    # moto's own TestConnection and DescribeConnections read these two.
    @property
    def id(self) -> str:
        return self.identifier

    def to_dict(self, backend: Backend) -> dict[str, Any]:
        group = backend.replication_subnet_groups.get(self.subnet_group)
        return {
            "ReplicationInstanceIdentifier": self.identifier,
            "ReplicationInstanceClass": self.instance_class,
            "ReplicationInstanceStatus": self.status,
            "AllocatedStorage": self.allocated_storage,
            "InstanceCreateTime": self.created,
            "VpcSecurityGroups": [
                {"VpcSecurityGroupId": sg, "Status": "active"} for sg in self.vpc_security_group_ids
            ],
            "AvailabilityZone": self.availability_zone,
            "ReplicationSubnetGroup": group.to_dict() if isinstance(group, SubnetGroup) else None,
            "PreferredMaintenanceWindow": self.preferred_maintenance_window,
            "PendingModifiedValues": dict(self.pending),
            "MultiAZ": self.multi_az,
            "EngineVersion": self.engine_version,
            "AutoMinorVersionUpgrade": self.auto_minor_version_upgrade,
            "KmsKeyId": self.kms_key_id,
            "ReplicationInstanceArn": self.arn,
            "ReplicationInstancePublicIpAddress": self.public_ip if self.publicly_accessible else None,
            "ReplicationInstancePrivateIpAddress": self.private_ip,
            "ReplicationInstancePublicIpAddresses": [self.public_ip] if self.publicly_accessible else [],
            "ReplicationInstancePrivateIpAddresses": [self.private_ip],
            "ReplicationInstanceIpv6Addresses": [],
            "PubliclyAccessible": self.publicly_accessible,
            "SecondaryAvailabilityZone": self.secondary_availability_zone,
            "DnsNameServers": self.dns_name_servers,
            "NetworkType": self.network_type,
        }


def _instances(backend: Backend) -> list[Instance]:
    return [i for i in backend.replication_instances.values() if isinstance(i, Instance)]


def _get_instance(backend: Backend, arn: Any) -> Instance:
    instance = backend.replication_instances.get(arn) if isinstance(arn, str) else None
    if not isinstance(instance, Instance):
        raise ResourceNotFoundFault(f"Replication instance {arn} not found.")
    return instance


def _check_instance_identifier(value: Any) -> str:
    return _check_identifier(value, "ReplicationInstanceIdentifier", 63).lower()


def create_replication_instance(backend: Backend, params: Params) -> Answer:
    identifier = _check_instance_identifier(params.get("ReplicationInstanceIdentifier"))
    _check_instance_class(params.get("ReplicationInstanceClass"))
    if any(i.identifier == identifier for i in _instances(backend)):
        raise ResourceAlreadyExistsFault(f"ReplicationInstance {identifier} already exists.")
    group_id = params.get("ReplicationSubnetGroupIdentifier")
    group = _default_subnet_group(backend) if group_id is None else _get_subnet_group(backend, group_id)
    tags = _tags_of(params)
    instance = Instance(backend, identifier, _resource_identifier(backend, "rep", params), params, group)
    instance.move("creating", "available")
    backend.replication_instances[instance.arn] = instance
    if tags:
        backend.tagger.tag_resource(instance.arn, tags)
    return {"ReplicationInstance": instance.to_dict(backend)}


def describe_replication_instances(backend: Backend, params: Params) -> Answer:
    instances = _filter(
        _instances(backend),
        params.get("Filters"),
        {
            "replication-instance-arn": lambda i: [i.arn],
            "replication-instance-id": lambda i: [i.identifier],
            "replication-instance-class": lambda i: [i.instance_class],
            "engine-version": lambda i: [i.engine_version],
        },
        lowercase=["replication-instance-id"],
    )
    page, marker = _page(instances, params, "No replication instance found matching provided filters")
    return {"ReplicationInstances": [i.to_dict(backend) for i in page], "Marker": marker}


# Changes that wait for the maintenance window unless ApplyImmediately is true.
_PENDABLE = {
    "ReplicationInstanceClass": "instance_class",
    "AllocatedStorage": "allocated_storage",
    "MultiAZ": "multi_az",
    "EngineVersion": "engine_version",
    "NetworkType": "network_type",
}


def modify_replication_instance(backend: Backend, params: Params) -> Answer:
    instance = _get_instance(backend, _required(params, "ReplicationInstanceArn"))
    if instance.status != "available":
        raise InvalidResourceStateFault(
            f"Replication instance {instance.identifier} is not in available state "
            f"(current state: {instance.status})."
        )
    apply_now = bool(_bool(params, "ApplyImmediately", False))
    changes: dict[str, Any] = {}
    if params.get("ReplicationInstanceClass") is not None:
        changes["ReplicationInstanceClass"] = _check_instance_class(params["ReplicationInstanceClass"])
    if params.get("AllocatedStorage") is not None:
        storage = _check_storage(params["AllocatedStorage"])
        if storage < instance.allocated_storage:
            raise invalid_value(
                f"Invalid storage size: {storage}. The allocated storage cannot be reduced "
                f"(current: {instance.allocated_storage} GiB)."
            )
        changes["AllocatedStorage"] = storage
    if params.get("MultiAZ") is not None:
        changes["MultiAZ"] = _bool(params, "MultiAZ")
    if params.get("EngineVersion") is not None:
        version = _check_version(params["EngineVersion"])
        if version.split(".")[0] != instance.engine_version.split(".")[0] and not _bool(
            params, "AllowMajorVersionUpgrade", False
        ):
            raise InvalidParameterCombinationException(
                "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version."
            )
        changes["EngineVersion"] = version
    if params.get("NetworkType") is not None:
        if params["NetworkType"] not in ("IPV4", "DUAL"):
            raise invalid_value(f"Invalid NetworkType: {params['NetworkType']}. Valid values: IPV4, DUAL")
        changes["NetworkType"] = params["NetworkType"]
    changes = {k: v for k, v in changes.items() if getattr(instance, _PENDABLE[k]) != v}

    immediate = False
    identifier = params.get("ReplicationInstanceIdentifier")
    if identifier is not None:
        identifier = _check_instance_identifier(identifier)
        if identifier != instance.identifier:
            if any(i.identifier == identifier for i in _instances(backend)):
                raise ResourceAlreadyExistsFault(f"ReplicationInstance {identifier} already exists.")
            instance.identifier = identifier
            immediate = True
    if params.get("VpcSecurityGroupIds") is not None:
        group = _get_subnet_group(backend, instance.subnet_group)
        groups = Instance._security_groups(backend, params["VpcSecurityGroupIds"], group)
        immediate = immediate or groups != instance.vpc_security_group_ids
        instance.vpc_security_group_ids = groups
    if params.get("PreferredMaintenanceWindow") is not None:
        instance.preferred_maintenance_window = _check_window(params["PreferredMaintenanceWindow"])
    if params.get("AutoMinorVersionUpgrade") is not None:
        instance.auto_minor_version_upgrade = bool(_bool(params, "AutoMinorVersionUpgrade"))

    if changes and apply_now:
        instance.pending.update(changes)

        def apply() -> None:
            for key, value in instance.pending.items():
                setattr(instance, _PENDABLE[key], value)
            if instance.multi_az and instance.secondary_availability_zone is None:
                group = backend.replication_subnet_groups.get(instance.subnet_group)
                zones = sorted({z for _, z in group.subnets}) if isinstance(group, SubnetGroup) else []
                instance.secondary_availability_zone = next(
                    (z for z in zones if z != instance.availability_zone), None
                )
            elif not instance.multi_az:
                instance.secondary_availability_zone = None
            instance.pending.clear()

        instance.move("modifying", "available", apply)
    elif changes:
        instance.pending.update(changes)  # applied in the maintenance window (never, here)
        if immediate:
            instance.move("modifying", "available")
    elif immediate:
        instance.move("modifying", "available")
    return {"ReplicationInstance": instance.to_dict(backend)}


def delete_replication_instance(backend: Backend, params: Params) -> Answer:
    instance = _get_instance(backend, _required(params, "ReplicationInstanceArn"))
    tasks = [t.identifier for t in _tasks(backend) if t.instance_arn == instance.arn]
    if tasks:
        raise InvalidResourceStateFault(
            f"Replication instance {instance.identifier} has replication tasks "
            f"({', '.join(tasks)}): delete them before deleting the instance."
        )
    if instance.status in ("creating", "deleting"):
        raise InvalidResourceStateFault(
            f"Replication instance {instance.identifier} cannot be deleted while it is {instance.status}."
        )
    instance.move("deleting", GONE)
    backend.connections[:] = [c for c in backend.connections if c.replication_instance_arn != instance.arn]
    return {"ReplicationInstance": instance.to_dict(backend)}


# ------------------------------------------------------------------------------ endpoints

ENGINE_NAMES = {
    "mysql", "oracle", "postgres", "mariadb", "aurora", "aurora-postgresql", "opensearch",
    "redshift", "s3", "db2", "db2-zos", "azuredb", "sybase", "dynamodb", "mongodb", "kinesis",
    "kafka", "elasticsearch", "docdb", "sqlserver", "neptune", "babelfish", "redshift-serverless",
    "aurora-serverless", "aurora-postgresql-serverless", "gcp-mysql",
    "azure-sql-managed-instance", "redis", "dms-transfer",
}
TARGET_ONLY_ENGINES = {"kinesis", "kafka", "opensearch", "elasticsearch", "dynamodb", "neptune",
                       "redis", "redshift", "redshift-serverless", "babelfish", "dms-transfer"}
MYSQL_ENGINES = {"mysql", "mariadb", "aurora", "aurora-serverless"}
DISPLAY_NAMES = {
    "mysql": "MySQL", "mariadb": "MariaDB", "aurora": "Amazon Aurora MySQL",
    "kinesis": "Amazon Kinesis", "postgres": "PostgreSQL", "s3": "Amazon S3",
    "dynamodb": "Amazon DynamoDB", "kafka": "Kafka", "oracle": "Oracle",
}
SSL_MODES = ("none", "require", "verify-ca", "verify-full")
MESSAGE_FORMATS = ("json", "json-unformatted")
KINESIS_FLAGS = (
    "IncludeTransactionDetails", "IncludePartitionValue", "PartitionIncludeSchemaTable",
    "IncludeTableAlterOperations", "IncludeControlDetails", "IncludeNullAndEmpty",
    "NoHexPrefix", "UseLargeIntegerValue",
)
# The per-engine settings members of CreateEndpoint/ModifyEndpoint, kept as given.
SETTINGS_MEMBERS = (
    "DynamoDbSettings", "S3Settings", "DmsTransferSettings", "MongoDbSettings", "KinesisSettings",
    "KafkaSettings", "ElasticsearchSettings", "NeptuneSettings", "RedshiftSettings",
    "PostgreSQLSettings", "MySQLSettings", "OracleSettings", "SybaseSettings",
    "MicrosoftSQLServerSettings", "IBMDb2Settings", "DocDbSettings", "RedisSettings",
    "GcpMySQLSettings", "TimestreamSettings",
)
CONNECTION_MEMBERS = ("Username", "Password", "ServerName", "Port", "DatabaseName")
SECRET_MEMBERS = ("SecretsManagerSecretId", "SecretsManagerAccessRoleArn")


class Endpoint(_Lifecycle):
    def __init__(self, backend: Backend, resource_id: str) -> None:
        super().__init__("active")
        self.arn = _arn(backend, "endpoint", resource_id)
        self.identifier = ""
        self.endpoint_type = ""
        self.engine_name = ""
        self.connection: dict[str, Any] = {}  # Username, Password, ServerName, Port, DatabaseName
        self.extra_connection_attributes: str | None = None
        self.certificate_arn: str | None = None
        self.ssl_mode = "none"
        self.service_access_role_arn: str | None = None
        self.external_table_definition: str | None = None
        self.kms_key_id = _default_kms_key(backend)
        self.settings: dict[str, dict[str, Any]] = {}

    # moto's own TestConnection and DescribeConnections read these two.
    @property
    def endpoint_arn(self) -> str:
        return self.arn

    @property
    def endpoint_identifier(self) -> str:
        return self.identifier

    def effective(self, member: str) -> Any:
        """A connection member from the top level, else from MySQLSettings."""
        if self.connection.get(member) is not None:
            return self.connection[member]
        return self.settings.get("MySQLSettings", {}).get(member)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "EndpointIdentifier": self.identifier,
            "EndpointType": self.endpoint_type.upper(),
            "EngineName": self.engine_name,
            "EngineDisplayName": DISPLAY_NAMES.get(self.engine_name, self.engine_name),
            "Username": self.effective("Username"),
            "ServerName": self.effective("ServerName"),
            "Port": self.effective("Port"),
            "DatabaseName": self.effective("DatabaseName"),
            "ExtraConnectionAttributes": self.extra_connection_attributes,
            "Status": self.status,
            "KmsKeyId": self.kms_key_id,
            "EndpointArn": self.arn,
            "CertificateArn": self.certificate_arn,
            "SslMode": self.ssl_mode,
            "ServiceAccessRoleArn": self.service_access_role_arn,
            "ExternalTableDefinition": self.external_table_definition,
        }
        for member, settings in self.settings.items():
            shown = {k: v for k, v in settings.items() if k != "Password"}
            if member == "MySQLSettings":
                for key in ("ServerName", "Port", "Username", "DatabaseName"):
                    if self.effective(key) is not None:
                        shown[key] = self.effective(key)
            if member == "KinesisSettings":
                shown = {"MessageFormat": "json", **{flag: False for flag in KINESIS_FLAGS}, **shown}
            body[member] = shown
        if self.engine_name in MYSQL_ENGINES and "MySQLSettings" not in self.settings:
            body["MySQLSettings"] = {
                key: self.effective(key)
                for key in ("ServerName", "Port", "Username", "DatabaseName")
                if self.effective(key) is not None
            }
        return body


def _endpoints(backend: Backend) -> list[Endpoint]:
    return [e for e in backend.endpoints.values() if isinstance(e, Endpoint)]


def _get_endpoint(backend: Backend, arn: Any) -> Endpoint:
    endpoint = backend.endpoints.get(arn) if isinstance(arn, str) else None
    if not isinstance(endpoint, Endpoint):
        raise ResourceNotFoundFault(f"Endpoint {arn} not found.")
    return endpoint


def _apply_endpoint(backend: Backend, endpoint: Endpoint, params: dict[str, Any],
                    creating: bool) -> None:
    """Validates and applies CreateEndpoint/ModifyEndpoint members onto ``endpoint`` (a
    copy when modifying, so that a refused call changes nothing)."""
    if creating or params.get("EndpointIdentifier") is not None:
        identifier = _check_identifier(params.get("EndpointIdentifier"), "EndpointIdentifier", 255)
        if any(e.identifier == identifier and e.arn != endpoint.arn for e in _endpoints(backend)):
            raise ResourceAlreadyExistsFault(f"Endpoint with identifier {identifier} already exists.")
        endpoint.identifier = identifier
    if creating or params.get("EndpointType") is not None:
        # Only the lower-case values are accepted, although answers carry SOURCE/TARGET.
        endpoint_type = params.get("EndpointType")
        if endpoint_type not in ("source", "target"):
            raise invalid_value(f"Invalid EndpointType: {endpoint_type}. Valid values: source, target")
        endpoint.endpoint_type = endpoint_type
    if creating or params.get("EngineName") is not None:
        engine = params.get("EngineName")
        if engine not in ENGINE_NAMES:
            raise invalid_value(f"Invalid EngineName: {engine}")
        endpoint.engine_name = engine
    if endpoint.endpoint_type == "source" and endpoint.engine_name in TARGET_ONLY_ENGINES:
        raise InvalidParameterCombinationException(
            f"The engine {endpoint.engine_name} can only be used for a target endpoint."
        )

    exact = bool(_bool(params, "ExactSettings", False)) and not creating
    for member in CONNECTION_MEMBERS:
        if params.get(member) is not None:
            endpoint.connection[member] = params[member]
    for name, attribute in (
        ("ExtraConnectionAttributes", "extra_connection_attributes"),
        ("CertificateArn", "certificate_arn"),
        ("ServiceAccessRoleArn", "service_access_role_arn"),
        ("ExternalTableDefinition", "external_table_definition"),
    ):
        if params.get(name) is not None:
            setattr(endpoint, attribute, params[name])
    if params.get("SslMode") is not None:
        if params["SslMode"] not in SSL_MODES:
            raise invalid_value(f"Invalid SslMode: {params['SslMode']}. Valid values: {', '.join(SSL_MODES)}")
        endpoint.ssl_mode = params["SslMode"]
    if creating and params.get("KmsKeyId"):
        endpoint.kms_key_id = params["KmsKeyId"]
    for member in SETTINGS_MEMBERS:
        given = params.get(member)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise invalid_value(f"{member} must be a structure.")
        if exact or member not in endpoint.settings:
            endpoint.settings[member] = dict(given)
        else:
            endpoint.settings[member].update(given)
    if exact:
        for member in SETTINGS_MEMBERS:
            if params.get(member) is None:
                endpoint.settings.pop(member, None)

    if endpoint.ssl_mode in ("verify-ca", "verify-full") and not endpoint.certificate_arn:
        raise InvalidParameterCombinationException(
            f"SslMode {endpoint.ssl_mode} requires a CertificateArn."
        )
    if endpoint.engine_name in MYSQL_ENGINES:
        _check_mysql(endpoint, params)
    if endpoint.engine_name == "kinesis":
        _check_kinesis(endpoint)


def _check_mysql(endpoint: Endpoint, params: dict[str, Any]) -> None:
    mysql = endpoint.settings.get("MySQLSettings", {})
    secret = mysql.get("SecretsManagerSecretId")
    role = mysql.get("SecretsManagerAccessRoleArn")
    if (secret is None) != (role is None):
        raise InvalidParameterCombinationException(
            "SecretsManagerSecretId and SecretsManagerAccessRoleArn must be specified together."
        )
    if secret is not None:
        given_settings = params.get("MySQLSettings") or {}
        switching = given_settings.get("SecretsManagerSecretId") is not None
        for member in CONNECTION_MEMBERS[:4]:  # DatabaseName may go with a secret
            given_now = params.get(member) is not None or given_settings.get(member) is not None
            if switching and not given_now:
                # Moving to a secret: the stored credentials give way to it.
                endpoint.connection.pop(member, None)
                mysql.pop(member, None)
            elif endpoint.effective(member) is not None:
                raise InvalidParameterCombinationException(
                    f"{member} cannot be specified together with SecretsManagerSecretId: the "
                    "connection details come from the secret."
                )
        return
    for member in ("ServerName", "Username", "Password"):
        if endpoint.effective(member) in (None, ""):
            raise invalid_value(
                f"{member} must be specified for a {endpoint.engine_name} endpoint without "
                "SecretsManagerSecretId."
            )
    port = endpoint.effective("Port")
    if port is None:
        endpoint.connection["Port"] = 3306
    elif not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise invalid_value(f"Invalid Port: {port}")


def _check_kinesis(endpoint: Endpoint) -> None:
    kinesis = endpoint.settings.get("KinesisSettings")
    if not kinesis:
        raise invalid_value("KinesisSettings must be specified for a kinesis endpoint.")
    for member in ("StreamArn", "ServiceAccessRoleArn"):
        if not kinesis.get(member):
            raise invalid_value(f"KinesisSettings.{member} must be specified for a kinesis endpoint.")
    if not re.fullmatch(r"arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/.+", kinesis["StreamArn"]):
        raise invalid_value(f"Invalid KinesisSettings.StreamArn: {kinesis['StreamArn']}")
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", kinesis["ServiceAccessRoleArn"]):
        raise invalid_value(
            f"Invalid KinesisSettings.ServiceAccessRoleArn: {kinesis['ServiceAccessRoleArn']}"
        )
    message_format = kinesis.get("MessageFormat", "json")
    if message_format not in MESSAGE_FORMATS:
        raise invalid_value(
            f"Invalid KinesisSettings.MessageFormat: {message_format}. Valid values: json, json-unformatted"
        )
    for flag in KINESIS_FLAGS:
        if flag in kinesis and not isinstance(kinesis[flag], bool):
            raise invalid_value(f"KinesisSettings.{flag} must be a boolean.")


def create_endpoint(backend: Backend, params: Params) -> Answer:
    tags = _tags_of(params)
    endpoint = Endpoint(backend, _resource_identifier(backend, "endpoint", params))
    _apply_endpoint(backend, endpoint, params, creating=True)
    backend.endpoints[endpoint.arn] = endpoint
    if tags:
        backend.tagger.tag_resource(endpoint.arn, tags)
    return {"Endpoint": endpoint.to_dict()}


def describe_endpoints(backend: Backend, params: Params) -> Answer:
    endpoints = _filter(
        _endpoints(backend),
        params.get("Filters"),
        {
            "endpoint-arn": lambda e: [e.arn],
            "endpoint-type": lambda e: [e.endpoint_type],
            "endpoint-id": lambda e: [e.identifier],
            "engine-name": lambda e: [e.engine_name],
        },
        lowercase=["endpoint-type", "engine-name"],
    )
    page, marker = _page(endpoints, params, "No Endpoints found matching provided filters")
    return {"Endpoints": [e.to_dict() for e in page], "Marker": marker}


def modify_endpoint(backend: Backend, params: Params) -> Answer:
    endpoint = _get_endpoint(backend, _required(params, "EndpointArn"))
    if endpoint.status != "active":
        raise InvalidResourceStateFault(f"Endpoint {endpoint.identifier} is {endpoint.status}.")
    candidate = copy.deepcopy(endpoint)
    _apply_endpoint(backend, candidate, params, creating=False)
    endpoint.__dict__.update(candidate.__dict__)
    # A changed endpoint has to be tested again before a task using it starts.
    backend.connections[:] = [c for c in backend.connections if c.endpoint_arn != endpoint.arn]
    return {"Endpoint": endpoint.to_dict()}


def delete_endpoint(backend: Backend, params: Params) -> Answer:
    endpoint = _get_endpoint(backend, _required(params, "EndpointArn"))
    tasks = [t.identifier for t in _tasks(backend) if endpoint.arn in (t.source_arn, t.target_arn)]
    if tasks:
        raise InvalidResourceStateFault(
            f"Endpoint {endpoint.identifier} is used by replication task(s) {', '.join(tasks)}: "
            "all tasks associated with the endpoint must be deleted before you can delete the endpoint."
        )
    if endpoint.status == "deleting":
        raise InvalidResourceStateFault(f"Endpoint {endpoint.identifier} is already being deleted.")
    endpoint.move("deleting", GONE)
    backend.connections[:] = [c for c in backend.connections if c.endpoint_arn != endpoint.arn]
    return {"Endpoint": endpoint.to_dict()}


# ------------------------------------------------------------------------------ connections

# The part of a server name that never resolves (RFC 6761): a connection test of such an
# endpoint fails, as AWS's does for a host it cannot reach.
UNREACHABLE_SUFFIX = ".invalid"


class Connection(_Lifecycle):
    """A connection test of a replication instance with an endpoint: testing, then
    successful or failed (after the DMS delay)."""

    def __init__(self, instance: Instance, endpoint: Endpoint) -> None:
        super().__init__("testing")
        self.replication_instance_arn = instance.arn
        self.replication_instance_identifier = instance.identifier
        self.endpoint_arn = endpoint.arn
        self.endpoint_identifier = endpoint.identifier
        self.failure = ""
        host = str(endpoint.effective("ServerName") or "")
        if endpoint.engine_name in MYSQL_ENGINES and host.lower().rstrip(".").endswith(UNREACHABLE_SUFFIX):
            self.failure = (
                "Application-Status: 1020912, Application-Message: Cannot connect to ODBC provider "
                "Network error has occurred, Application-Detailed-Message: RetCode: SQL_ERROR "
                "SqlState: HY000 NativeError: 2005 Message: [unixODBC][MySQL][ODBC 8.0(w) Driver]"
                f"Unknown MySQL server host '{host}' (11)"
            )
        self.move("testing", "failed" if self.failure else "successful")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ReplicationInstanceArn": self.replication_instance_arn,
            "EndpointArn": self.endpoint_arn,
            "Status": self.status,
            "LastFailureMessage": self.failure if self.status == "failed" else "",
            "EndpointIdentifier": self.endpoint_identifier,
            "ReplicationInstanceIdentifier": self.replication_instance_identifier,
        }


def test_connection(backend: Backend, params: Params) -> Answer:
    instance = _get_instance(backend, _required(params, "ReplicationInstanceArn"))
    endpoint = _get_endpoint(backend, _required(params, "EndpointArn"))
    if instance.status != "available":
        raise InvalidResourceStateFault(
            f"Replication instance {instance.identifier} is not in available state (current state: {instance.status})."
        )
    if endpoint.status != "active":
        raise InvalidResourceStateFault(f"Endpoint {endpoint.identifier} is {endpoint.status}.")
    from . import realism

    if realism.on("dms"):
        realism.count("dms", "DMS.TestConnection (needed before a task starts)")
    connection = Connection(instance, endpoint)
    backend.connections[:] = [
        c for c in backend.connections
        if (c.replication_instance_arn, c.endpoint_arn) != (instance.arn, endpoint.arn)
    ] + [connection]
    return {"Connection": connection.to_dict()}


def _connections(backend: Backend) -> list[Connection]:
    return [c for c in backend.connections if isinstance(c, Connection)]


def describe_connections(backend: Backend, params: Params) -> Answer:
    connections = _filter(
        _connections(backend),
        params.get("Filters"),
        {
            "endpoint-arn": lambda c: [c.endpoint_arn],
            "replication-instance-arn": lambda c: [c.replication_instance_arn],
            "endpoint-identifier": lambda c: [c.endpoint_identifier],
            "replication-instance-identifier": lambda c: [c.replication_instance_identifier],
        },
    )
    for connection in connections:
        connection.settle()
    return {"Connections": [c.to_dict() for c in connections]}


def delete_connection(backend: Backend, params: Params) -> Answer:
    key = (_required(params, "ReplicationInstanceArn"), _required(params, "EndpointArn"))
    found = [c for c in _connections(backend) if (c.replication_instance_arn, c.endpoint_arn) == key]
    if not found:
        raise ResourceNotFoundFault("Connection not found.")
    backend.connections[:] = [c for c in backend.connections if c not in found]
    found[0].status = "deleting"
    return {"Connection": found[0].to_dict()}


def _check_connections_tested(backend: Backend, task: "Task", instance: Instance) -> None:
    """AWS starts (and resumes) a task only after its instance's connections to both
    endpoints tested successful; the realism layer's ``dms`` class turns this on."""
    from . import realism

    if not realism.on("dms"):
        return
    tested = {c.endpoint_arn for c in _connections(backend)
              if c.replication_instance_arn == instance.arn and c.status == "successful"}
    for arn in (task.source_arn, task.target_arn):
        if arn not in tested:
            endpoint = backend.endpoints.get(arn)
            name = endpoint.identifier if isinstance(endpoint, Endpoint) else arn
            realism.count("dms", "DMS.StartReplicationTask InvalidResourceStateFault (untested connection)")
            raise InvalidResourceStateFault(
                f"Test connection for replication instance {instance.identifier} and endpoint {name} "
                "should be successful for starting the replication task"
            )


# ------------------------------------------------------------------------------ tasks

MIGRATION_TYPES = ("full-load", "cdc", "full-load-and-cdc")
START_TYPES = ("start-replication", "resume-processing", "reload-target")
LOG_COMPONENTS = (
    "TRANSFORMATION", "SOURCE_UNLOAD", "IO", "TARGET_LOAD", "PERFORMANCE", "SOURCE_CAPTURE",
    "SORTER", "REST_SERVER", "VALIDATOR_EXT", "TARGET_APPLY", "TASK_MANAGER", "TABLES_MANAGER",
    "METADATA_MANAGER", "FILE_FACTORY", "COMMON", "ADDONS", "DATA_STRUCTURE", "COMMUNICATION",
    "FILE_TRANSFER",
)

# What AWS answers for ReplicationTaskSettings when a task was created with none: given
# settings are merged into it. (Written for the emulator after documented defaults and
# observed answers; members appear in no particular order on AWS.)
DEFAULT_TASK_SETTINGS: dict[str, Any] = {
    "Logging": {
        "EnableLogging": False,
        "EnableLogContext": False,
        "LogComponents": [{"Id": c, "Severity": "LOGGER_SEVERITY_DEFAULT"} for c in LOG_COMPONENTS],
        "LogConfiguration": {"TraceOnErrorMb": 10, "EnableTraceOnError": False},
        "CloudWatchLogGroup": None,
        "CloudWatchLogStream": None,
    },
    "StreamBufferSettings": {"StreamBufferCount": 3, "CtrlStreamBufferSizeInMB": 5, "StreamBufferSizeInMB": 8},
    "ErrorBehavior": {
        "FailOnNoTablesCaptured": True,
        "ApplyErrorUpdatePolicy": "LOG_ERROR",
        "FailOnTransactionConsistencyBreached": False,
        "RecoverableErrorThrottlingMax": 1800,
        "DataErrorEscalationPolicy": "SUSPEND_TABLE",
        "ApplyErrorEscalationCount": 0,
        "RecoverableErrorStopRetryAfterThrottlingMax": True,
        "RecoverableErrorThrottling": True,
        "ApplyErrorFailOnTruncationDdl": False,
        "DataMaskingErrorPolicy": "STOP_TASK",
        "DataTruncationErrorPolicy": "LOG_ERROR",
        "ApplyErrorInsertPolicy": "LOG_ERROR",
        "EventErrorPolicy": "IGNORE",
        "ApplyErrorEscalationPolicy": "LOG_ERROR",
        "RecoverableErrorCount": -1,
        "DataErrorEscalationCount": 0,
        "TableErrorEscalationPolicy": "STOP_TASK",
        "RecoverableErrorInterval": 5,
        "ApplyErrorDeletePolicy": "IGNORE_RECORD",
        "TableErrorEscalationCount": 0,
        "FullLoadIgnoreConflicts": True,
        "DataErrorPolicy": "LOG_ERROR",
        "TableErrorPolicy": "SUSPEND_TABLE",
    },
    "TTSettings": {"TTS3Settings": None, "TTRecordSettings": None, "EnableTT": False},
    "FullLoadSettings": {
        "CommitRate": 10000,
        "StopTaskCachedChangesApplied": False,
        "StopTaskCachedChangesNotApplied": False,
        "MaxFullLoadSubTasks": 8,
        "TransactionConsistencyTimeout": 600,
        "CreatePkAfterFullLoad": False,
        "TargetTablePrepMode": "DROP_AND_CREATE",
    },
    "TargetMetadata": {
        "ParallelApplyBufferSize": 0,
        "ParallelApplyQueuesPerThread": 0,
        "ParallelApplyThreads": 0,
        "TargetSchema": "",
        "InlineLobMaxSize": 0,
        "ParallelLoadQueuesPerThread": 0,
        "SupportLobs": True,
        "LobChunkSize": 64,
        "TaskRecoveryTableEnabled": False,
        "ParallelLoadThreads": 0,
        "LobMaxSize": 32,
        "BatchApplyEnabled": False,
        "FullLobMode": False,
        "LimitedSizeLobMode": True,
        "LoadMaxFileSize": 0,
        "ParallelLoadBufferSize": 0,
    },
    "BeforeImageSettings": None,
    "ControlTablesSettings": {
        "historyTimeslotInMinutes": 5,
        "CommitPositionTableEnabled": False,
        "HistoryTimeslotInMinutes": 5,
        "StatusTableEnabled": False,
        "SuspendedTablesTableEnabled": False,
        "HistoryTableEnabled": False,
        "ControlSchema": "",
        "FullLoadExceptionTableEnabled": False,
    },
    "LoopbackPreventionSettings": None,
    "CharacterSetSettings": None,
    "FailTaskWhenCleanTaskResourceFailed": False,
    "ChangeProcessingTuning": {
        "StatementCacheSize": 50,
        "CommitTimeout": 1,
        "RecoveryTimeout": -1,
        "BatchApplyPreserveTransaction": True,
        "BatchApplyTimeoutMin": 1,
        "BatchSplitSize": 0,
        "BatchApplyTimeoutMax": 30,
        "MinTransactionSize": 1000,
        "MemoryKeepTime": 60,
        "BatchApplyMemoryLimit": 500,
        "MemoryLimitTotal": 1024,
    },
    "ChangeProcessingDdlHandlingPolicy": {
        "HandleSourceTableDropped": True,
        "HandleSourceTableTruncated": True,
        "HandleSourceTableAltered": True,
    },
    "PostProcessingRules": None,
    "ValidationSettings": {
        "EnableValidation": False,
        "ValidationMode": "ROW_LEVEL",
        "ThreadCount": 5,
        "PartitionSize": 10000,
        "FailureMaxCount": 10000,
        "RecordFailureDelayInMinutes": 5,
        "RecordSuspendDelayInMinutes": 30,
        "MaxKeyColumnSize": 8096,
        "TableFailureMaxCount": 1000,
        "ValidationOnly": False,
        "HandleCollationDiff": False,
        "RecordFailureDelayLimitInMinutes": 0,
        "SkipLobColumns": False,
        "ValidationPartialLobSize": 0,
        "ValidationQueryCdcDelaySeconds": 0,
    },
}


def _merge_settings(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    for key, value in given.items():
        if key == "LogComponents" and isinstance(value, list) and isinstance(base.get(key), list):
            by_id = {c.get("Id"): c for c in base[key] if isinstance(c, dict)}
            for component in value:
                if isinstance(component, dict) and component.get("Id") in by_id:
                    by_id[component["Id"]].update(component)
                elif isinstance(component, dict):
                    base[key].append(dict(component))
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_settings(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _parse_settings(raw: Any, creating: bool) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        settings = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError as error:
        raise invalid_value(f"Invalid task settings JSON: {error.msg} (at character {error.pos}).")
    if not isinstance(settings, dict):
        raise invalid_value("Invalid task settings JSON: the settings must be a JSON object.")
    logging = settings.get("Logging")
    if isinstance(logging, dict):
        if creating and (logging.get("CloudWatchLogGroup") or logging.get("CloudWatchLogStream")):
            raise invalid_value(
                "Task Settings CloudWatchLogGroup or CloudWatchLogStream cannot be set on create."
            )
        logging.pop("CloudWatchLogGroup", None)
        logging.pop("CloudWatchLogStream", None)
    return settings


def _check_table_mappings(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise invalid_value("TableMappings must be provided.")
    try:
        mappings = json.loads(raw)
    except json.JSONDecodeError as error:
        raise invalid_value(f"Invalid Table Mappings document: {error.msg} (at character {error.pos}).")
    rules = mappings.get("rules") if isinstance(mappings, dict) else None
    if not isinstance(rules, list) or not rules:
        raise invalid_value(
            'Invalid Table Mappings document: it must be an object with a non-empty "rules" list.'
        )
    ids: set[str] = set()
    selections = 0
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise invalid_value(f"Error in mapping rules. Rule #{index + 1} is not an object.")
        rule_id = rule.get("rule-id")
        for member in ("rule-type", "rule-id", "rule-name"):
            if rule.get(member) in (None, ""):
                raise invalid_value(f"Error in mapping rules. Rule #{index + 1} has no {member}.")
        if str(rule_id) in ids:
            raise invalid_value(f"Error in mapping rules. Duplicate rule-id {rule_id}.")
        ids.add(str(rule_id))
        if rule["rule-type"] == "selection":
            selections += 1
            locator = rule.get("object-locator")
            if not isinstance(locator, dict) or not locator.get("schema-name") or not locator.get("table-name"):
                raise invalid_value(
                    f"Error in mapping rules. Rule with ruleId = {rule_id} failed validation. "
                    "object-locator needs schema-name and table-name."
                )
            if rule.get("rule-action") not in ("include", "exclude", "explicit"):
                raise invalid_value(
                    f"Error in mapping rules. Rule with ruleId = {rule_id} failed validation. "
                    f"Invalid rule-action: {rule.get('rule-action')}."
                )
        # object-mapping: how records are shaped and partitioned on stream targets (Kinesis,
        # Kafka, DynamoDB); the reference documents it beside the others.
        elif rule["rule-type"] not in ("transformation", "table-settings", "post-processing", "object-mapping"):
            raise invalid_value(
                f"Error in mapping rules. Rule with ruleId = {rule_id} has an unknown rule-type: "
                f"{rule['rule-type']}."
            )
    if selections == 0:
        raise invalid_value("Error in mapping rules. At least one selection rule must be specified.")
    return raw


def _check_cdc_start(params: dict[str, Any]) -> None:
    if params.get("CdcStartTime") is not None and params.get("CdcStartPosition") is not None:
        raise InvalidParameterCombinationException(
            "CdcStartTime and CdcStartPosition cannot be specified together."
        )


class Task(_Lifecycle):
    def __init__(self, backend: Backend, identifier: str, resource_id: str) -> None:
        super().__init__("creating")
        self.identifier = identifier
        self.resource_id = resource_id
        self.arn = _arn(backend, "task", resource_id)
        self.source_arn = ""
        self.target_arn = ""
        self.instance_arn = ""
        self.migration_type = ""
        self.table_mappings = ""
        self.settings: dict[str, Any] = copy.deepcopy(DEFAULT_TASK_SETTINGS)
        self.created = _now()
        self.start_date: datetime.datetime | None = None
        self.fresh_start_date: datetime.datetime | None = None
        self.stop_date: datetime.datetime | None = None
        self.stop_reason: str | None = None
        self.cdc_start_position: str | None = None
        self.cdc_stop_position: str | None = None
        self.task_data: str | None = None
        self.ever_started = False

    @property
    def id(self) -> str:
        return self.identifier

    def rendered_settings(self, backend: Backend) -> str:
        settings = copy.deepcopy(self.settings)
        logging = settings.get("Logging")
        if isinstance(logging, dict):
            if logging.get("EnableLogging"):
                instance = backend.replication_instances.get(self.instance_arn)
                instance_id = (instance.identifier if isinstance(instance, Instance)
                               else self.instance_arn.rsplit(":", 1)[-1])
                logging["CloudWatchLogGroup"] = f"dms-tasks-{instance_id}"
                logging["CloudWatchLogStream"] = f"dms-task-{self.resource_id}"
            else:
                logging["CloudWatchLogGroup"] = None
                logging["CloudWatchLogStream"] = None
        return json.dumps(settings, separators=(",", ":"))

    def to_dict(self, backend: Backend, with_settings: bool = True) -> dict[str, Any]:
        elapsed = 0
        if self.start_date is not None:
            end = self.stop_date if self.stop_date is not None else _now()
            elapsed = max(0, int((end - self.start_date).total_seconds() * 1000))
        return {
            "ReplicationTaskIdentifier": self.identifier,
            "SourceEndpointArn": self.source_arn,
            "TargetEndpointArn": self.target_arn,
            "ReplicationInstanceArn": self.instance_arn,
            "MigrationType": self.migration_type,
            "TableMappings": self.table_mappings if with_settings else None,
            "ReplicationTaskSettings": self.rendered_settings(backend) if with_settings else None,
            "Status": self.status,
            "StopReason": self.stop_reason if self.status == "stopped" else None,
            "ReplicationTaskCreationDate": self.created,
            "ReplicationTaskStartDate": self.start_date,
            "CdcStartPosition": self.cdc_start_position,
            "CdcStopPosition": self.cdc_stop_position,
            "ReplicationTaskArn": self.arn,
            "TaskData": self.task_data,
            "ReplicationTaskStats": {
                "FullLoadProgressPercent": 100 if self.ever_started and self.migration_type != "cdc" else 0,
                "ElapsedTimeMillis": elapsed,
                "TablesLoaded": 0,
                "TablesLoading": 0,
                "TablesQueued": 0,
                "TablesErrored": 0,
                "FreshStartDate": self.fresh_start_date,
                "StartDate": self.start_date,
                "StopDate": self.stop_date,
                "FullLoadStartDate": self.fresh_start_date if self.migration_type != "cdc" else None,
                "FullLoadFinishDate": self.fresh_start_date if self.migration_type != "cdc" else None,
            },
        }


def _tasks(backend: Backend) -> list[Task]:
    return [t for t in backend.replication_tasks.values() if isinstance(t, Task)]


def _get_task(backend: Backend, arn: Any) -> Task:
    task = backend.replication_tasks.get(arn) if isinstance(arn, str) else None
    if not isinstance(task, Task):
        raise ResourceNotFoundFault(f"Replication task {arn} not found.")
    return task


def _check_migration_type(value: Any) -> str:
    if value not in MIGRATION_TYPES:
        raise invalid_value(
            f"Invalid value for MigrationType: {value}. Valid values: {' | '.join(MIGRATION_TYPES)}"
        )
    return value


def create_replication_task(backend: Backend, params: Params) -> Answer:
    identifier = _check_identifier(params.get("ReplicationTaskIdentifier"), "ReplicationTaskIdentifier", 255)
    migration_type = _check_migration_type(params.get("MigrationType"))
    table_mappings = _check_table_mappings(params.get("TableMappings"))
    settings = _parse_settings(params.get("ReplicationTaskSettings"), creating=True)
    _check_cdc_start(params)
    source = _get_endpoint(backend, _required(params, "SourceEndpointArn"))
    target = _get_endpoint(backend, _required(params, "TargetEndpointArn"))
    instance = _get_instance(backend, _required(params, "ReplicationInstanceArn"))
    if source.endpoint_type != "source":
        raise invalid_value(f"Endpoint {source.identifier} is not a source endpoint.")
    if target.endpoint_type != "target":
        raise invalid_value(f"Endpoint {target.identifier} is not a target endpoint.")
    for endpoint in (source, target):
        if endpoint.status != "active":
            raise InvalidResourceStateFault(f"Endpoint {endpoint.identifier} is {endpoint.status}.")
    if instance.status not in ("available", "modifying"):
        raise InvalidResourceStateFault(
            f"Replication instance {instance.identifier} is not available (current state: {instance.status})."
        )
    if any(t.identifier == identifier for t in _tasks(backend)):
        raise ResourceAlreadyExistsFault(f"ReplicationTaskIdentifier {identifier} already exists.")
    _check_logging(settings)
    tags = _tags_of(params)
    task = Task(backend, identifier, _resource_identifier(backend, "task", params))
    task.source_arn, task.target_arn, task.instance_arn = source.arn, target.arn, instance.arn
    task.migration_type = migration_type
    task.table_mappings = table_mappings
    _merge_settings(task.settings, settings)
    task.cdc_start_position = params.get("CdcStartPosition")
    task.cdc_stop_position = params.get("CdcStopPosition")
    task.task_data = params.get("TaskData")
    task.move("creating", "ready")
    backend.replication_tasks[task.arn] = task
    if tags:
        backend.tagger.tag_resource(task.arn, tags)
    return {"ReplicationTask": task.to_dict(backend)}


def _check_logging(given: dict[str, Any], current: dict[str, Any] | None = None) -> None:
    logging = given.get("Logging") if isinstance(given.get("Logging"), dict) else {}
    enabled = logging.get("EnableLogging", (current or {}).get("Logging", {}).get("EnableLogging", False))
    if logging.get("EnableLogContext") and not enabled:
        raise invalid_value(
            "The parameter Logging.EnableLogContext is not allowed when Logging.EnableLogging "
            "is not set to true."
        )


def describe_replication_tasks(backend: Backend, params: Params) -> Answer:
    tasks = _filter(
        _tasks(backend),
        params.get("Filters"),
        {
            "replication-task-arn": lambda t: [t.arn],
            "replication-task-id": lambda t: [t.identifier],
            "migration-type": lambda t: [t.migration_type],
            "endpoint-arn": lambda t: [t.source_arn, t.target_arn],
            "replication-instance-arn": lambda t: [t.instance_arn],
        },
    )
    page, marker = _page(tasks, params, "No Tasks found matching provided filters")
    with_settings = not _bool(params, "WithoutSettings", False)
    return {"ReplicationTasks": [t.to_dict(backend, with_settings) for t in page], "Marker": marker}


def start_replication_task(backend: Backend, params: Params) -> Answer:
    task = _get_task(backend, _required(params, "ReplicationTaskArn"))
    start_type = params.get("StartReplicationTaskType")
    if start_type not in START_TYPES:
        raise invalid_value(
            f"Invalid value for StartReplicationTaskType: {start_type}. Valid values: {' | '.join(START_TYPES)}"
        )
    _check_cdc_start(params)
    if task.status not in ("ready", "stopped", "failed"):
        raise InvalidResourceStateFault(
            f"Replication task {task.identifier} cannot be started in its current state: {task.status}."
        )
    if not task.ever_started and start_type == "resume-processing":
        raise InvalidResourceStateFault(
            "Start Type : RESUME_PROCESSING, is only available for previously executed tasks."
        )
    if task.ever_started and start_type == "start-replication" and task.migration_type != "cdc":
        raise InvalidResourceStateFault(
            "Start Type : START_REPLICATION, valid only for tasks running for the first time."
        )
    instance = backend.replication_instances.get(task.instance_arn)
    if not isinstance(instance, Instance) or instance.status not in ("available", "modifying"):
        raise InvalidResourceStateFault(
            f"The replication instance of task {task.identifier} is not available."
        )
    _check_connections_tested(backend, task, instance)
    now = _now()
    if start_type in ("start-replication", "reload-target"):
        task.fresh_start_date = now
    task.start_date = now
    task.stop_date = None
    task.stop_reason = None
    task.ever_started = True
    if params.get("CdcStartPosition") is not None:
        task.cdc_start_position = params["CdcStartPosition"]
    if params.get("CdcStopPosition") is not None:
        task.cdc_stop_position = params["CdcStopPosition"]
    task.move("starting", "running")
    return {"ReplicationTask": task.to_dict(backend)}


def stop_replication_task(backend: Backend, params: Params) -> Answer:
    task = _get_task(backend, _required(params, "ReplicationTaskArn"))
    if task.status not in ("running", "starting"):
        raise InvalidResourceStateFault(
            f"Replication task {task.identifier} is not running (current state: {task.status})."
        )

    def stopped() -> None:
        task.stop_date = _now()
        task.stop_reason = "Stop Reason NORMAL"

    task.move("stopping", "stopped", stopped)
    return {"ReplicationTask": task.to_dict(backend)}


def modify_replication_task(backend: Backend, params: Params) -> Answer:
    task = _get_task(backend, _required(params, "ReplicationTaskArn"))
    if task.status not in ("ready", "stopped", "failed"):
        raise InvalidResourceStateFault(
            f"Replication task {task.identifier} is {task.status}: the task must be stopped "
            "before you can modify it."
        )
    for member in ("SourceEndpointArn", "TargetEndpointArn", "ReplicationInstanceArn"):
        if params.get(member) is not None:
            raise invalid_value(f"You can't modify the task's {member}.")
    _check_cdc_start(params)
    identifier = params.get("ReplicationTaskIdentifier")
    if identifier is not None:
        identifier = _check_identifier(identifier, "ReplicationTaskIdentifier", 255)
        if any(t.identifier == identifier and t is not task for t in _tasks(backend)):
            raise ResourceAlreadyExistsFault(f"ReplicationTaskIdentifier {identifier} already exists.")
    migration_type = params.get("MigrationType")
    if migration_type is not None:
        _check_migration_type(migration_type)
    table_mappings = params.get("TableMappings")
    if table_mappings is not None:
        _check_table_mappings(table_mappings)
    settings = _parse_settings(params.get("ReplicationTaskSettings"), creating=False)
    _check_logging(settings, task.settings)

    if identifier is not None:
        task.identifier = identifier
    if migration_type is not None:
        task.migration_type = migration_type
    if table_mappings is not None:
        task.table_mappings = table_mappings
    _merge_settings(task.settings, settings)
    for member, attribute in (("CdcStartPosition", "cdc_start_position"),
                              ("CdcStopPosition", "cdc_stop_position"), ("TaskData", "task_data")):
        if params.get(member) is not None:
            setattr(task, attribute, params[member])
    task.move("modifying", task.status)  # back to ready, stopped or failed
    return {"ReplicationTask": task.to_dict(backend)}


def delete_replication_task(backend: Backend, params: Params) -> Answer:
    task = _get_task(backend, _required(params, "ReplicationTaskArn"))
    if task.status not in ("ready", "stopped", "failed"):
        raise InvalidResourceStateFault(
            f"Replication task {task.identifier} is {task.status}: stop the task before deleting it."
        )
    task.move("deleting", GONE)
    return {"ReplicationTask": task.to_dict(backend)}


# ------------------------------------------------------------------------------ tags


def _find_by_arn(backend: Backend, arn: str) -> Any:
    for store in (backend.replication_instances, backend.endpoints, backend.replication_tasks):
        resource = store.get(arn)
        if isinstance(resource, _Lifecycle):
            return resource
    for group in backend.replication_subnet_groups.values():
        if isinstance(group, SubnetGroup) and group.arn == arn:
            return group
    return None


def _tagged(backend: Backend, arn: Any) -> str:
    if not isinstance(arn, str) or _find_by_arn(backend, arn) is None:
        raise ResourceNotFoundFault(f"Resource {arn} not found.")
    return arn


def add_tags_to_resource(backend: Backend, params: Params) -> Answer:
    arn = _tagged(backend, _required(params, "ResourceArn"))
    tags = _tags_of(params)
    if not tags:
        raise invalid_value("Tags must contain at least one tag.")
    backend.tagger.tag_resource(arn, tags)
    return {}


def remove_tags_from_resource(backend: Backend, params: Params) -> Answer:
    arn = _tagged(backend, _required(params, "ResourceArn"))
    keys = params.get("TagKeys")
    if not isinstance(keys, list):
        raise invalid_value("TagKeys must be a list.")
    backend.tagger.untag_resource_using_names(arn, keys)
    return {}


def list_tags_for_resource(backend: Backend, params: Params) -> Answer:
    arn = params.get("ResourceArn")
    arns = params.get("ResourceArnList")
    if arn and arns:
        raise InvalidParameterCombinationException(
            "ResourceArn and ResourceArnList cannot be specified together."
        )
    if not arn and not arns:
        raise invalid_value("Either ResourceArn or ResourceArnList must be specified.")
    tag_list = []
    for each in [arn] if arn else arns:
        _tagged(backend, each)
        for key, value in backend.tagger.get_tag_dict_for_resource(each).items():
            tag_list.append({"Key": key, "Value": value, "ResourceArn": each})
    return {"TagList": tag_list}


# ------------------------------------------------------------------------------ wiring

HANDLERS: dict[str, Handler] = {
    "create_replication_subnet_group": create_replication_subnet_group,
    "describe_replication_subnet_groups": describe_replication_subnet_groups,
    "modify_replication_subnet_group": modify_replication_subnet_group,
    "delete_replication_subnet_group": delete_replication_subnet_group,
    "create_replication_instance": create_replication_instance,
    "describe_replication_instances": describe_replication_instances,
    "modify_replication_instance": modify_replication_instance,
    "delete_replication_instance": delete_replication_instance,
    "create_endpoint": create_endpoint,
    "describe_endpoints": describe_endpoints,
    "modify_endpoint": modify_endpoint,
    "delete_endpoint": delete_endpoint,
    "test_connection": test_connection,
    "describe_connections": describe_connections,
    "delete_connection": delete_connection,
    "create_replication_task": create_replication_task,
    "describe_replication_tasks": describe_replication_tasks,
    "start_replication_task": start_replication_task,
    "stop_replication_task": stop_replication_task,
    "modify_replication_task": modify_replication_task,
    "delete_replication_task": delete_replication_task,
    "add_tags_to_resource": add_tags_to_resource,
    "remove_tags_from_resource": remove_tags_from_resource,
    "list_tags_for_resource": list_tags_for_resource,
}


def _params(response: DatabaseMigrationServiceResponse) -> dict[str, Any]:
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if not body:
        return {}
    try:
        params = json.loads(body)
    except json.JSONDecodeError:
        raise _DmsError("SerializationException", "Malformed JSON body")
    if not isinstance(params, dict):
        raise _DmsError("SerializationException", "The request body must be a JSON object")
    return params


def _wire(name: str, handler: Handler) -> None:
    @override(DatabaseMigrationServiceResponse, name)
    def serve(original: Any, self: DatabaseMigrationServiceResponse) -> str:
        return _dumps(handler(self.dms_backend, _params(self)))


def register() -> None:
    @override(DatabaseMigrationServiceResponse, "call_action")
    def call_action(original: Any, self: DatabaseMigrationServiceResponse) -> Any:
        # One request at a time, after settling every transition that is due.
        with _LOCK:
            _sweep(self.dms_backend)
            return original(self)

    for name, handler in HANDLERS.items():
        _wire(name, handler)
