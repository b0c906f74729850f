"""botocore's data looked up once per process, not once per session. Imported for its effect, before moto
(see `embedded_aws.stack`).

- Region lists: moto's import builds a new boto3 Session for each of EC2's three partitions to list their
  regions, and each new Session loads botocore's endpoints and EC2's 4 MB model again (a second of CPU at
  every start of the embedded AWS). A region list depends only on botocore's data: one session answers.
- The list of services: before loading any model, each botocore loader lists every service that has a
  model of that type (a `stat` per API version directory and type: a fifth of a second per type), again in
  every session. Here one walk of the data directories answers every type, for every loader of the process.
"""

from __future__ import annotations

import contextlib
import functools
import os

import boto3
import botocore.loaders
import botocore.session

_list_services = botocore.loaders.Loader.list_available_services


@functools.cache
def _shared_session() -> botocore.session.Session:
    return botocore.session.Session()


@functools.cache
def _regions(service_name: str, partition_name: str, allow_non_regional: bool) -> tuple[str, ...]:
    return tuple(_shared_session().get_available_regions(service_name, partition_name, allow_non_regional))


def _get_available_regions(
    self: boto3.Session, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
) -> list[str]:
    return list(_regions(service_name, partition_name, allow_non_regional))


#: The file name endings botocore's JSONFileLoader accepts (`.json`, and `.json.gz` where gzip is available).
_EXTENSIONS = tuple(getattr(botocore.loaders, "_JSON_OPEN_METHODS", {".json": open}))


@functools.cache
def _walk(path: str) -> dict[str, frozenset[str]]:
    """Every model type name under a data directory → the services with a model of that type under some
    API version: botocore's listing for every type at once (a `listdir` per directory, not a `stat` per file
    and type). Cached per directory: models are only added by installing packages."""
    found: dict[str, set[str]] = {}
    if not os.path.isdir(path):
        return {}
    for service in os.listdir(path):
        service_dir = os.path.join(path, service)
        if not os.path.isdir(service_dir):
            continue
        for version in os.listdir(service_dir):
            with contextlib.suppress(NotADirectoryError):
                for name in os.listdir(os.path.join(service_dir, version)):
                    for extension in _EXTENSIONS:
                        if name.endswith(extension):
                            found.setdefault(name[: -len(extension)], set()).add(service)
    return {type_name: frozenset(services) for type_name, services in found.items()}


def _list_available_services(self: botocore.loaders.Loader, type_name: str) -> list[str]:
    if type(self.file_loader) is not botocore.loaders.JSONFileLoader:
        return list(_list_services(self, type_name))
    return sorted({service for path in self.search_paths for service in _walk(path).get(type_name, ())})


def install() -> None:
    """Answer every boto3 Session's `get_available_regions` from the shared session, and every loader's
    `list_available_services` from the shared listing. Idempotent."""
    setattr(boto3.Session, "get_available_regions", _get_available_regions)  # noqa: B010 - typed loosely
    setattr(botocore.loaders.Loader, "list_available_services", _list_available_services)  # noqa: B010
    # Walked now, while the process has one thread: walked later, beside the server's threads, each of the
    # walk's system calls waited for the GIL (half a second instead of three hundredths).
    for package in (botocore, boto3):
        _walk(os.path.join(os.path.dirname(os.path.abspath(package.__file__ or "")), "data"))


install()
