from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from neuronest.auth import service
from neuronest.graphql.context import Context
from neuronest.graphql.shapes import Id, Shape
from neuronest.graphql.types import Message

# Each hashes a password or sends a mail: a document may hold only one of them.
EXPENSIVE_MUTATIONS = frozenset(
    {"login", "register", "changePassword", "resetPassword", "forgotPassword"}
)


class UserSummary(Shape):
    """A user as a token shows it (REST's `user` of register and login)."""

    id: Id
    email: str
    name: str
    is_active: bool


@strawberry.pydantic.type
class User(UserSummary):
    created_at: datetime


class Token(Shape):
    """What register and login answer in REST: the token, its user in summary."""

    access_token: str
    token_type: str
    expires_in: int
    user: UserSummary


@strawberry.pydantic.type
class AuthPayload(Token):
    user: User


@strawberry.pydantic.input
class RegisterInput(BaseModel):
    email: str = Field(examples=["user@example.com"])
    # Documented in REST's OpenAPI alone: the GraphQL schema describes no input field here.
    password: str = Field(
        examples=["password123"], json_schema_extra={"description": "8 to 72 bytes"}
    )
    name: str = Field("", examples=["John Doe"])


@strawberry.pydantic.input
class LoginInput(BaseModel):
    email: str
    password: str


@strawberry.pydantic.input
class UpdateMeInput(BaseModel):
    name: str | None = None
    email: str | None = None


@strawberry.pydantic.input
class ChangePasswordInput(BaseModel):
    current_password: str
    new_password: str


@strawberry.pydantic.input
class ForgotPasswordInput(BaseModel):
    email: str


@strawberry.pydantic.input
class ResetPasswordInput(BaseModel):
    token: str
    new_password: str


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info[Context, None]) -> User:
        return User.of(await info.context.user())


@strawberry.type
class AuthMutation:
    @strawberry.mutation
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        issued = await service.register(
            info.context.services,
            email=input.email,
            password=input.password,
            name=input.name,
            client=info.context.client,
        )
        return AuthPayload.of(issued)

    @strawberry.mutation
    async def login(self, info: Info[Context, None], input: LoginInput) -> AuthPayload:
        issued = await service.login(
            info.context.services,
            email=input.email,
            password=input.password,
            client=info.context.client,
        )
        return AuthPayload.of(issued)

    @strawberry.mutation(description="Revokes the token used for this request.")
    async def logout(self, info: Info[Context, None]) -> Message:
        await service.logout(info.context.services, session=await info.context.session())
        return Message(message="Successfully logged out")

    @strawberry.mutation
    async def update_me(self, info: Info[Context, None], input: UpdateMeInput) -> User:
        user = await service.update_me(
            info.context.services,
            actor=await info.context.user(),
            name=input.name,
            email=input.email,
        )
        return User.of(user)

    @strawberry.mutation(description="Also revokes every token issued before.")
    async def change_password(
        self, info: Info[Context, None], input: ChangePasswordInput
    ) -> Message:
        await service.change_password(
            info.context.services,
            actor=await info.context.user(),
            current_password=input.current_password,
            new_password=input.new_password,
        )
        return Message(message="Password changed successfully")

    @strawberry.mutation
    async def forgot_password(
        self, info: Info[Context, None], input: ForgotPasswordInput
    ) -> Message:
        message = await service.forgot_password(
            info.context.services, email=input.email, client=info.context.client
        )
        return Message(message=message)

    @strawberry.mutation
    async def reset_password(self, info: Info[Context, None], input: ResetPasswordInput) -> Message:
        await service.reset_password(
            info.context.services, token=input.token, new_password=input.new_password
        )
        return Message(message="Password reset successfully")


@strawberry.type
class AuthSubscription:
    @strawberry.subscription(
        description="The signed-in user now, then again after each profile change."
    )
    async def me_updates(self, info: Info[Context, None]) -> AsyncGenerator[User, None]:
        user = await info.context.user()
        with await info.context.live(service.profile_channel(user.id)) as changes:
            yield User.of(user)
            async for _ in changes:
                await user.refresh_from_db()
                yield User.of(user)
