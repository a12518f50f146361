from __future__ import annotations

from neuronest.graphql.shapes import selection
from neuronest.projects.graphql import (
    FileInput,
    Project,
    ProjectFileContent,
    ProjectFileInfo,
    ProjectInput,
    ProjectUpdateInput,
)
from neuronest.rest.auth import MessageOut
from neuronest.rest.shim import PAGE, Route

PROJECT = selection(Project)
FILE_INFO = selection(ProjectFileInfo)
FILE = selection(ProjectFileContent)

ROUTES = [
    Route(
        "POST",
        "/api/projects",
        "Create a project",
        "mutation($input: ProjectInput!) "
        f"{{ result: createProject(input: $input) {{ {PROJECT} }} }}",
        Project,
        status=201,
        body=ProjectInput,
        errors=(409, 422),
        direct=True,
    ),
    Route(
        "GET",
        "/api/projects",
        "List projects (newest first)",
        f"query($limit: Int, $offset: Int) {{ result: projects(limit: $limit, offset: $offset) "
        f"{{ {PROJECT} }} }}",
        list[Project],
        query=PAGE,
    ),
    Route(
        "GET",
        "/api/projects/{project_id}",
        "Get a project",
        f"query($projectId: ID!) {{ result: project(projectId: $projectId) {{ {PROJECT} }} }}",
        Project,
        errors=(404,),
        direct=True,
    ),
    Route(
        "PUT",
        "/api/projects/{project_id}",
        "Update a project",
        f"mutation($projectId: ID!, $input: ProjectUpdateInput!) "
        f"{{ result: updateProject(projectId: $projectId, input: $input) {{ {PROJECT} }} }}",
        Project,
        body=ProjectUpdateInput,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/api/projects/{project_id}",
        "Delete a project with its files and runtimes",
        "mutation($projectId: ID!) { result: deleteProject(projectId: $projectId) { message } }",
        MessageOut,
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/projects/{project_id}/files",
        "List a project's files",
        "query($projectId: ID!) "
        f"{{ result: projectFiles(projectId: $projectId) {{ {FILE_INFO} }} }}",
        list[ProjectFileInfo],
        errors=(404,),
    ),
    Route(
        "PUT",
        "/api/projects/{project_id}/files/{path:path}",
        "Create or replace a file (relative path; text or base64 content)",
        f"mutation($projectId: ID!, $path: String!, $input: FileInput!) "
        f"{{ result: putProjectFile(projectId: $projectId, path: $path, input: $input) "
        f"{{ {FILE_INFO} }} }}",
        ProjectFileInfo,
        body=FileInput,
        errors=(404, 422),
    ),
    Route(
        "GET",
        "/api/projects/{project_id}/files/{path:path}",
        "Get a file's content",
        "query($projectId: ID!, $path: String!) "
        "{ result: projectFile(projectId: $projectId, path: $path) "
        f"{{ {FILE} }} }}",
        ProjectFileContent,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/api/projects/{project_id}/files/{path:path}",
        "Delete a file",
        "mutation($projectId: ID!, $path: String!) "
        "{ result: deleteProjectFile(projectId: $projectId, path: $path) { message } }",
        MessageOut,
        errors=(404, 422),
    ),
]
