"""Projects: named sets of files that runtimes run."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.functions import Sum

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.errors import Invalid, NotFound
from neuronest.kit.hooks import Hook
from neuronest.kit.ownership import as_uuid, get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.quota import locked, within_quota
from neuronest.kit.validation import check_name
from neuronest.projects.models import Project, ProjectFile
from neuronest.services import Services

# A project is about to be deleted (its owner, its id): what belongs to it goes first.
PROJECT_DELETING: Hook[[Services, User, str]] = Hook("project deleting")
MAX_PATH_LENGTH = 1024
_SEGMENT = re.compile(r"^[^\x00-\x1f/\\]+$")


@dataclass(frozen=True)
class FileContent:
    path: str
    content: str
    encoding: str
    size: int


def check_path(path: str, field: str = "path") -> str:
    """A relative path inside the project: no absolute paths, `..`, empty or control segments."""
    if not path or len(path) > MAX_PATH_LENGTH:
        raise Invalid(f"{field}: must be 1 to {MAX_PATH_LENGTH} characters", field=field)
    if path.startswith("/") or path.startswith("~"):
        raise Invalid(f"{field}: must be relative, not {path!r}", field=field)
    segments = path.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise Invalid(
                f"{field}: {path!r} has an invalid segment {segment!r} "
                "(no '..', '.', empty, backslash or control characters)",
                field=field,
            )
    return path


async def create_project(
    services: Services, *, actor: User, name: str, description: str = ""
) -> Project:
    name = check_name(name)
    limit = services.settings.max_projects_per_user
    mine = Project.filter(user_id=actor.id).count
    async with within_quota(User, actor.id, mine, limit, "MAX_PROJECTS_PER_USER projects"):
        return await Project.create(user=actor, name=name, description=description)


async def list_projects(*, actor: User, page: Page) -> list[Project]:
    return await newest_first(Project.filter(user_id=actor.id), page)


async def get_project(*, actor: User, project_id: str) -> Project:
    return await get_owned(Project, project_id, actor, "Project")


async def update_project(
    *, actor: User, project_id: str, name: str | None = None, description: str | None = None
) -> Project:
    project = await get_project(actor=actor, project_id=project_id)
    if name is not None:
        project.name = check_name(name)
    if description is not None:
        project.description = description
    await project.save()
    return project


async def delete_project(services: Services, *, actor: User, project_id: str) -> None:
    project = await get_project(actor=actor, project_id=project_id)
    await services.hooks.run(PROJECT_DELETING, services, actor, str(project.id))
    await project.delete()


def decode_content(content: str, encoding: str) -> bytes:
    if encoding == "text":
        return content.encode()
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("content: is not valid base64", field="content") from None
    raise Invalid("encoding: must be 'text' or 'base64'", field="encoding")


def encode_content(data: bytes) -> tuple[str, str]:
    try:
        return data.decode(), "text"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "base64"


async def put_file(
    services: Services,
    *,
    actor: User,
    project_id: str,
    path: str,
    content: str,
    encoding: str = "text",
) -> ProjectFile:
    settings = services.settings
    project = await get_project(actor=actor, project_id=project_id)
    path = check_path(path)
    data = decode_content(content, encoding)
    if len(data) > settings.max_file_bytes:
        raise Invalid(
            f"content: {len(data)} bytes is over the {settings.max_file_bytes} byte file limit",
            field="content",
        )
    async with locked(Project, project.id):  # parallel uploads are checked one at a time
        await _check_project_quota(settings, project.id, path, len(data))
        return await _store_file(project.id, path, data)


async def _check_project_quota(
    settings: Settings, project_id: uuid.UUID, path: str, size: int
) -> None:
    others = await _project_size(project_id, exclude_path=path)
    if others + size > settings.max_project_bytes:
        raise Invalid(
            f"content: the project would hold {others + size} bytes, over its "
            f"{settings.max_project_bytes} byte limit",
            field="content",
        )
    files = await ProjectFile.filter(project_id=project_id).exclude(path=path).count()
    if files >= settings.max_project_files:
        raise Invalid(
            f"path: the project already holds its limit of {settings.max_project_files} files "
            "(MAX_PROJECT_FILES)",
            field="path",
        )


async def _store_file(project_id: uuid.UUID, path: str, data: bytes) -> ProjectFile:
    clash = await ProjectFile.filter(project_id=project_id, path__startswith=f"{path}/").exists()
    parents = ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    if clash or (parents and await ProjectFile.filter(project_id=project_id, path__in=parents)):
        raise Invalid(f"path: {path!r} clashes with a file or folder of the project", field="path")
    file, created = await ProjectFile.get_or_create(
        project_id=project_id, path=path, defaults={"content": data, "size": len(data)}
    )
    if not created:
        file.content = data
        file.size = len(data)
        await file.save(update_fields=["content", "size", "updated_at"])
    return file


async def _project_size(project_id: uuid.UUID, exclude_path: str) -> int:
    row = (
        await ProjectFile.filter(project_id=project_id)
        .exclude(path=exclude_path)
        .annotate(total=Sum("size"))
        .first()
        .values("total")
    )
    return int((row or {}).get("total") or 0)


async def list_files(*, actor: User, project_id: str) -> list[ProjectFile]:
    [files] = await files_of_projects(actor=actor, project_ids=[project_id])
    if isinstance(files, NotFound):
        raise files
    return files


async def files_of_projects(
    *, actor: User, project_ids: Sequence[str]
) -> list[list[ProjectFile] | NotFound]:
    """The files of each project (without contents, by path), in two queries for them all;
    a project that is not the actor's has NotFound in its place."""
    wanted: dict[str, uuid.UUID] = {}
    for project_id in project_ids:
        with contextlib.suppress(NotFound):
            wanted[project_id] = as_uuid(project_id, "Project")
    files: dict[uuid.UUID, list[ProjectFile]] = {}
    if wanted:
        owned: list[uuid.UUID] = await Project.filter(
            id__in=list(set(wanted.values())), user_id=actor.id
        ).values_list("id", flat=True)  # type: ignore[assignment]
        files = {project_id: [] for project_id in owned}
    if files:
        rows = (
            await ProjectFile.filter(project_id__in=list(files))
            .order_by("path")
            .only("id", "project_id", "path", "size", "created_at", "updated_at")
        )
        for row in rows:
            files[row.project_id].append(row)  # type: ignore[attr-defined]
    return [
        files[wanted[project_id]]
        if project_id in wanted and wanted[project_id] in files
        else NotFound("Project not found")
        for project_id in project_ids
    ]


async def get_file(*, actor: User, project_id: str, path: str) -> FileContent:
    project = await get_project(actor=actor, project_id=project_id)
    file = await ProjectFile.get_or_none(project_id=project.id, path=check_path(path))
    if file is None:
        raise NotFound("File not found")
    content, encoding = encode_content(bytes(file.content))
    return FileContent(path=file.path, content=content, encoding=encoding, size=file.size)


async def delete_file(*, actor: User, project_id: str, path: str) -> None:
    project = await get_project(actor=actor, project_id=project_id)
    deleted = await ProjectFile.filter(project_id=project.id, path=check_path(path)).delete()
    if not deleted:
        raise NotFound("File not found")


async def files_version(project_id: uuid.UUID) -> tuple[str, set[str]]:
    """The version of a project's files (a digest of which files there are and when each was
    last written) and their paths, without reading their contents."""
    rows = await ProjectFile.filter(project_id=project_id).values_list(
        "id", "path", "size", "updated_at"
    )
    digest = hashlib.sha256()
    for file_id, path, size, updated_at in sorted(rows, key=lambda row: str(row[1])):
        digest.update(f"{file_id}\0{path}\0{size}\0{updated_at.isoformat()}\n".encode())
    return digest.hexdigest()[:32], {str(row[1]) for row in rows}


async def load_files(project_id: uuid.UUID) -> dict[str, bytes]:
    """Every file of a project, for a run."""
    rows = await ProjectFile.filter(project_id=project_id).values_list("path", "content")
    return {str(path): bytes(content) for path, content in rows}
