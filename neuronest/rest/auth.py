from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from neuronest.rest.shim import Route


class RegisterBody(BaseModel):
    email: str = Field(examples=["user@example.com"])
    password: str = Field(examples=["password123"], description="8 to 72 bytes")
    name: str = Field("", examples=["John Doe"])


class LoginBody(BaseModel):
    email: str
    password: str


class UpdateMeBody(BaseModel):
    name: str | None = None
    email: str | None = None


class ChangePasswordBody(BaseModel):
    current_password: str
    new_password: str


class ForgotPasswordBody(BaseModel):
    email: str


class ResetPasswordBody(BaseModel):
    token: str
    new_password: str


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    is_active: bool


class MeOut(UserOut):
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    user: UserOut


class MessageOut(BaseModel):
    message: str


TOKEN = "access_token: accessToken token_type: tokenType expires_in: expiresIn"
USER = "id email name is_active: isActive"
ME = f"{USER} created_at: createdAt"

ROUTES = [
    Route(
        "POST",
        "/api/auth/register",
        "Register a new user",
        f"mutation($input: RegisterInput!) {{ result: register(input: $input) "
        f"{{ {TOKEN} user {{ {USER} }} }} }}",
        TokenOut,
        status=201,
        body=RegisterBody,
        public=True,
        errors=(409, 422, 429),
    ),
    Route(
        "POST",
        "/api/auth/login",
        "Login",
        f"mutation($input: LoginInput!) {{ result: login(input: $input) "
        f"{{ {TOKEN} user {{ {USER} }} }} }}",
        TokenOut,
        body=LoginBody,
        public=True,
        errors=(401, 403, 422, 429),
    ),
    Route("GET", "/api/auth/me", "Get current user", f"{{ result: me {{ {ME} }} }}", MeOut),
    Route(
        "PUT",
        "/api/auth/me",
        "Update user profile",
        f"mutation($input: UpdateMeInput!) {{ result: updateMe(input: $input) {{ {ME} }} }}",
        MeOut,
        body=UpdateMeBody,
        errors=(409, 422),
    ),
    Route(
        "PUT",
        "/api/auth/change-password",
        "Change password (revokes every earlier token)",
        "mutation($input: ChangePasswordInput!) "
        "{ result: changePassword(input: $input) { message } }",
        MessageOut,
        body=ChangePasswordBody,
    ),
    Route(
        "POST",
        "/api/auth/forgot-password",
        "Forgot password",
        "mutation($input: ForgotPasswordInput!) "
        "{ result: forgotPassword(input: $input) { message } }",
        MessageOut,
        body=ForgotPasswordBody,
        public=True,
        errors=(422, 429),
    ),
    Route(
        "POST",
        "/api/auth/reset-password",
        "Reset password with a mailed token (revokes every earlier token)",
        "mutation($input: ResetPasswordInput!) "
        "{ result: resetPassword(input: $input) { message } }",
        MessageOut,
        body=ResetPasswordBody,
        public=True,
    ),
    Route(
        "POST",
        "/api/auth/logout",
        "Logout (revokes this token)",
        "mutation { result: logout { message } }",
        MessageOut,
        errors=(),
    ),
]
