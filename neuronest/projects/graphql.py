from __future__ import annotations

from datetime import datetime

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from neuronest.errors import NotFound
from neuronest.graphql.context import Context
from neuronest.graphql.shapes import Shape
from neuronest.graphql.types import Collection, Message, page
from neuronest.projects import service
from neuronest.projects.models import ProjectFile as FileRow


@strawberry.pydantic.type
class ProjectFileInfo(Shape):
    path: str
    size: int
    created_at: datetime
    updated_at: datetime


@strawberry.pydantic.type
class ProjectFileContent(Shape):
    path: str
    content: str
    encoding: str = Field(description="`text` (UTF-8) or `base64`")
    size: int


@strawberry.pydantic.type
class Project(Collection):
    @strawberry.pydantic.field(description="The project's files, by path (content: `projectFile`).")
    async def files(self, info: Info[Context, None]) -> list[ProjectFileInfo]:
        rows = await info.context.loader(_files_of_projects).load(str(self.id))
        return [ProjectFileInfo.of(row) for row in rows]


async def _files_of_projects(
    context: Context, project_ids: list[str]
) -> list[list[FileRow] | NotFound]:
    """`Project.files` of a whole list of projects at once."""
    return await service.files_of_projects(actor=await context.user(), project_ids=project_ids)


@strawberry.pydantic.input
class ProjectInput(BaseModel):
    name: str = Field(examples=["My app"])
    description: str = ""


@strawberry.pydantic.input
class ProjectUpdateInput(BaseModel):
    name: str | None = None
    description: str | None = None


@strawberry.pydantic.input
class FileInput(BaseModel):
    content: str
    # Documented in REST's OpenAPI alone: the GraphQL schema describes no input field here.
    encoding: str = Field("text", json_schema_extra={"description": "`text` (UTF-8) or `base64`"})


@strawberry.type
class ProjectQuery:
    @strawberry.field(description="Your projects, newest first.")
    async def projects(
        self, info: Info[Context, None], limit: int | None = 100, offset: int | None = 0
    ) -> list[Project]:
        rows = await service.list_projects(
            actor=await info.context.user(), page=page(limit, offset)
        )
        return [Project.of(row) for row in rows]

    @strawberry.field
    async def project(self, info: Info[Context, None], project_id: strawberry.ID) -> Project:
        return Project.of(
            await service.get_project(actor=await info.context.user(), project_id=project_id)
        )

    @strawberry.field
    async def project_files(
        self, info: Info[Context, None], project_id: strawberry.ID
    ) -> list[ProjectFileInfo]:
        rows = await service.list_files(actor=await info.context.user(), project_id=project_id)
        return [ProjectFileInfo.of(row) for row in rows]

    @strawberry.field
    async def project_file(
        self, info: Info[Context, None], project_id: strawberry.ID, path: str
    ) -> ProjectFileContent:
        file = await service.get_file(
            actor=await info.context.user(), project_id=project_id, path=path
        )
        return ProjectFileContent.of(file)


@strawberry.type
class ProjectMutation:
    @strawberry.mutation
    async def create_project(self, info: Info[Context, None], input: ProjectInput) -> Project:
        row = await service.create_project(
            info.context.services,
            actor=await info.context.user(),
            name=input.name,
            description=input.description,
        )
        return Project.of(row)

    @strawberry.mutation
    async def update_project(
        self, info: Info[Context, None], project_id: strawberry.ID, input: ProjectUpdateInput
    ) -> Project:
        row = await service.update_project(
            actor=await info.context.user(),
            project_id=project_id,
            name=input.name,
            description=input.description,
        )
        return Project.of(row)

    @strawberry.mutation(description="Deletes the project, its files and its runtimes.")
    async def delete_project(self, info: Info[Context, None], project_id: strawberry.ID) -> Message:
        await service.delete_project(
            info.context.services, actor=await info.context.user(), project_id=project_id
        )
        return Message(message="Project deleted successfully")

    @strawberry.mutation(description="Creates or replaces a file.")
    async def put_project_file(
        self, info: Info[Context, None], project_id: strawberry.ID, path: str, input: FileInput
    ) -> ProjectFileInfo:
        row = await service.put_file(
            info.context.services,
            actor=await info.context.user(),
            project_id=project_id,
            path=path,
            content=input.content,
            encoding=input.encoding,
        )
        return ProjectFileInfo.of(row)

    @strawberry.mutation
    async def delete_project_file(
        self, info: Info[Context, None], project_id: strawberry.ID, path: str
    ) -> Message:
        await service.delete_file(actor=await info.context.user(), project_id=project_id, path=path)
        return Message(message="File deleted successfully")
