"""Login (OAuth2 password flow) and the current user."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordRequestForm

from crmkit.errors import Unauthorized
from gateway.deps import CurrentUser, Db, SettingsDep
from gateway.errors import ERROR_RESPONSES
from gateway.identity import authenticate
from gateway.routers import API, ResourceRouter
from gateway.schemas.identity import Me, Token
from gateway.security import create_access_token

router = ResourceRouter(prefix=API, tags=["auth"])


@router.post("/auth/token", response_model=Token, summary="Log in: get a bearer token",
             responses={401: ERROR_RESPONSES[401], 422: ERROR_RESPONSES[422]})
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], db: Db,
                settings: SettingsDep) -> Token:
    """OAuth2 password flow: form fields `username` and `password`
    (`application/x-www-form-urlencoded`). Answers a short-lived JWT bearer token; send it as
    `Authorization: Bearer <access_token>`. Wrong credentials or an inactive user: 401."""
    user = authenticate(db, form.username, form.password)
    if user is None:
        raise Unauthorized("invalid_credentials", "Incorrect username or password")
    token = create_access_token(user.id, settings.jwt_secret.get_secret_value(),
                                settings.access_token_minutes)
    return Token(access_token=token.token, token_type="bearer", expires_in=token.expires_in)


@router.get("/me", response_model=Me, summary="The current user, scope and permissions",
            responses={401: ERROR_RESPONSES[401]})
async def read_me(user: CurrentUser) -> dict:
    """Who the token belongs to, the owners whose records they see (`visible_user_ids`,
    null = everyone) and the permissions of their role."""
    return user.me()
