from __future__ import annotations

from neuronest.auth.graphql import (
    ChangePasswordInput,
    ForgotPasswordInput,
    LoginInput,
    RegisterInput,
    ResetPasswordInput,
    Token,
    UpdateMeInput,
    User,
)
from neuronest.graphql.shapes import selection
from neuronest.graphql.types import Message
from neuronest.rest.shim import Route

# The name the other routers import it by.
MessageOut = Message

TOKEN = selection(Token)
ME = selection(User)
MESSAGE = selection(Message)

ROUTES = [
    Route(
        "POST",
        "/api/auth/register",
        "Register a new user",
        f"mutation($input: RegisterInput!) {{ result: register(input: $input) {{ {TOKEN} }} }}",
        Token,
        status=201,
        body=RegisterInput,
        public=True,
        errors=(409, 422, 429),
    ),
    Route(
        "POST",
        "/api/auth/login",
        "Login",
        f"mutation($input: LoginInput!) {{ result: login(input: $input) {{ {TOKEN} }} }}",
        Token,
        body=LoginInput,
        public=True,
        errors=(401, 403, 422, 429),
    ),
    Route(
        "GET", "/api/auth/me", "Get current user", f"{{ result: me {{ {ME} }} }}", User, direct=True
    ),
    Route(
        "PUT",
        "/api/auth/me",
        "Update user profile",
        f"mutation($input: UpdateMeInput!) {{ result: updateMe(input: $input) {{ {ME} }} }}",
        User,
        body=UpdateMeInput,
        errors=(409, 422),
    ),
    Route(
        "PUT",
        "/api/auth/change-password",
        "Change password (revokes every earlier token)",
        "mutation($input: ChangePasswordInput!) "
        f"{{ result: changePassword(input: $input) {{ {MESSAGE} }} }}",
        Message,
        body=ChangePasswordInput,
    ),
    Route(
        "POST",
        "/api/auth/forgot-password",
        "Forgot password",
        "mutation($input: ForgotPasswordInput!) "
        f"{{ result: forgotPassword(input: $input) {{ {MESSAGE} }} }}",
        Message,
        body=ForgotPasswordInput,
        public=True,
        errors=(422, 429),
    ),
    Route(
        "POST",
        "/api/auth/reset-password",
        "Reset password with a mailed token (revokes every earlier token)",
        "mutation($input: ResetPasswordInput!) "
        f"{{ result: resetPassword(input: $input) {{ {MESSAGE} }} }}",
        Message,
        body=ResetPasswordInput,
        public=True,
    ),
    Route(
        "POST",
        "/api/auth/logout",
        "Logout (revokes this token)",
        f"mutation {{ result: logout {{ {MESSAGE} }} }}",
        Message,
        errors=(),
    ),
]
