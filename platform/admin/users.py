"""Users (create, disable, reset password) and roles with their permission matrix."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import expose
from flask_login import current_user, login_user
from sqlalchemy import select

from trellis.access.credentials import change_password, change_roles, set_active
from trellis.access.grants import create_role, grants_of, set_grant
from trellis.access.models import SCOPES
from trellis.access.passwords import MIN_PASSWORD_LENGTH
from trellis.accounts import Role, User, create_user
from trellis.admin.base import AdminView, form_bool, form_text
from trellis.errors import NotFound, ValidationFailed
from trellis.web.session import SessionUser


class UsersView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if request.method == "POST":
            action = request.form.get("action", "")
            values = dict(request.form)
            _, errors = self.change(lambda s: self._apply(s, action), "Saved.")
            if not errors:
                if action in ("password", "roles") and form_text("user_id") == current_user.id:
                    self._stay_signed_in()
                return redirect(url_for(".index"))
        with self.reading() as session:
            users = session.scalars(select(User).order_by(User.username)).all()
            roles = session.scalars(select(Role).order_by(Role.id)).all()
            return self.render(
                "admin/trellis/users.html",
                users=users,
                roles=roles,
                values=values,
                errors=errors,
                min_length=MIN_PASSWORD_LENGTH,
            ), (422 if errors else 200)

    def _apply(self, session: Any, action: str) -> None:
        if action == "create":
            create_user(
                session,
                form_text("username"),
                request.form.get("password") or "",
                request.form.getlist("roles") or ["user"],
                display_name=form_text("display_name"),
                email=form_text("email"),
            )
            return
        user = session.get(User, int(form_text("user_id") or 0))
        if user is None:
            raise NotFound("No such user.")
        if action in ("disable", "enable"):
            if action == "disable" and user.id == int(self.actor.user_id or 0):
                raise ValidationFailed({"_form": ["You cannot disable yourself."]})
            set_active(session, user, action == "enable")
        elif action == "password":
            password = request.form.get("new_password") or ""
            change_password(session, user, password, field=f"new_password_{user.id}")
        elif action == "roles":
            keys = request.form.getlist("roles")
            change_roles(session, user, keys, field=f"roles_{user.id}")

    def _stay_signed_in(self) -> None:
        """A new password or new roles end the user's sessions; an administrator who changed
        their own stays signed in here, with the new session stamp."""
        with self.reading() as session:
            me = session.get(User, self.actor.user_id)
            if me is not None and me.is_active:
                login_user(SessionUser(me))


class RolesView(AdminView):
    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if request.method == "POST":
            values = dict(request.form)
            _, errors = self.change(
                lambda s: create_role(s, self.actor, form_text("key"), form_text("label")),
                "Role created.",
            )
            if not errors:
                return redirect(url_for(".role", key=form_text("key")))
        with self.reading() as session:
            roles = session.scalars(select(Role).order_by(Role.id)).all()
            return self.render(
                "admin/trellis/roles.html", roles=roles, values=values, errors=errors
            ), (422 if errors else 200)

    @expose("/<key>", methods=["GET", "POST"])
    def role(self, key: str) -> Any:
        errors: dict[str, Any] = {}
        if request.method == "POST":
            with self.reading() as session:
                role_row = session.scalar(select(Role).where(Role.key == key))
                label = role_row.label if role_row else key
            _, errors = self.change(
                lambda s: self._save_grants(s, key, _grants_from_form()),
                f"Permissions of {label} saved.",
            )
            if not errors:
                return redirect(url_for(".role", key=key))
        with self.reading() as session:
            role = session.scalar(select(Role).where(Role.key == key))
            if role is None:
                return self.render("admin/trellis/missing.html", what=f"role {key!r}"), 404
            model = self.runtime.model(session)
            grants = {g["entity"]: g for g in grants_of(session, key)}
            return self.render(
                "admin/trellis/role.html",
                role=role,
                entities=list(model.entities.values()),
                grants=grants,
                scopes=SCOPES,
                errors=errors,
                posted=request.form if errors else None,
            ), (422 if errors else 200)

    def _save_grants(self, session: Any, role: str, grants: dict[str, dict[str, Any]]) -> None:
        """Every entity type's grant from the one form; unchanged ones are left as they are,
        and a problem anywhere keeps all of them unsaved."""
        model = self.runtime.model(session)
        current = {g["entity"]: g for g in grants_of(session, role)}
        errors: list[str] = []
        for entity, grant in grants.items():
            old = current.get(entity, NO_GRANT)
            if {k: old.get(k) for k in grant} == grant:
                continue
            try:
                with session.begin_nested():
                    set_grant(session, self.actor, model, role, entity, grant)
            except ValidationFailed as exc:
                label = model.entities[entity].label_plural if entity in model.entities else entity
                for messages in exc.errors.values():
                    errors.extend(f"{label}: {m}" for m in messages)
        if errors:
            raise ValidationFailed({"_grants": errors}, "Nothing was saved.")


#: what a role may do with an entity type it has no grant for
NO_GRANT = {"create": False, "read": "none", "update": "none", "delete": "none", "fields": {}}


def _grants_from_form() -> dict[str, dict[str, Any]]:
    """``<entity>.read`` ... inputs of the role form, by entity type (``entity`` with plain
    input names, as older forms and scripts post, is one entity type)."""
    if "entity" in request.form:
        return {form_text("entity"): _grant_from_form("")}
    entities = {name.split(".", 1)[0] for name in request.form if "." in name}
    return {entity: _grant_from_form(f"{entity}.") for entity in sorted(entities)}


def _grant_from_form(prefix: str) -> dict[str, Any]:
    return {
        "create": form_bool(f"{prefix}create"),
        "read": form_text(f"{prefix}read", "none"),
        "update": form_text(f"{prefix}update", "none"),
        "delete": form_text(f"{prefix}delete", "none"),
        "fields": {
            name.removeprefix(f"{prefix}field_"): value
            for name, value in request.form.items()
            if name.startswith(f"{prefix}field_") and value
        },
    }
