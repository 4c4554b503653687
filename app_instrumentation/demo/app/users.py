"""A blueprint, so route labels show a blueprint's prefix and parameters."""

from sanic import Blueprint, Request, json

users = Blueprint("users", url_prefix="/api/v1/users")


@users.get("/<name:str>")
async def show_user(request: Request, name: str):
    return json({"name": name})
