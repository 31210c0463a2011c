"""Registration, sign-in (throttled), sign-out and password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shelfwise.store.accounts import (
    ValidationFailed,
    authenticate,
    change_password,
    end_session,
    register_customer,
    start_session,
    user_problems,
)
from shelfwise.store.carts import merge_carts
from shelfwise.web.context import client_address
from shelfwise.web.rendering import render
from shelfwise.web.security import safe_next
from shelfwise.web.shop.deps import Csrf, Db, Session, User

router = APIRouter(prefix="/account", include_in_schema=False)

Text = Annotated[str, Form(max_length=300)]


@router.get("", response_class=HTMLResponse)
def account_page(request: Request, user: User) -> HTMLResponse:
    return render(request, "account.html", {"user": user})


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "register.html", {"next": safe_next(next), "values": {}, "fields": {}})


@router.post("/register", dependencies=[Csrf], response_model=None)
def register(
    request: Request,
    db: Db,
    web_session: Session,
    email: Text = "",
    name: Text = "",
    password: Text = "",
    password_confirm: Text = "",
    country: Text = "",
    next: Text = "/",
) -> HTMLResponse | RedirectResponse:
    values = {"email": email, "name": name, "country": country}
    try:
        with db.session() as session:
            fields = user_problems(
                session=session, email=email, password=password, name=name, country=country
            )
            if password != password_confirm:
                fields["password_confirm"] = "the two passwords differ; type the same one twice"
            if fields:
                raise ValidationFailed(fields)
            principal = register_customer(
                session=session, email=email, password=password, name=name, country=country
            )
            token = start_session(session=session, user_id=principal.user_id)
            if web_session.visitor_key:
                merge_carts(
                    session=session, visitor_key=web_session.visitor_key, user_id=principal.user_id
                )
    except ValidationFailed as exc:
        return render(
            request,
            "register.html",
            {"next": safe_next(next), "values": values, "fields": exc.fields},
            status_code=422,
        )
    web_session.sign_in(token)
    web_session.flash(f"Welcome, {name.strip()}! Your account is ready.", "success")
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login", dependencies=[Csrf], response_model=None)
def login(
    request: Request,
    db: Db,
    web_session: Session,
    email: Text = "",
    password: Text = "",
    next: Text = "/",
) -> HTMLResponse | RedirectResponse:
    with db.session() as session:
        outcome = authenticate(
            session=session, email=email, password=password, address=client_address(request)
        )
        token = None
        if outcome.principal is not None:
            token = start_session(session=session, user_id=outcome.principal.user_id)
            if web_session.visitor_key:
                merge_carts(
                    session=session,
                    visitor_key=web_session.visitor_key,
                    user_id=outcome.principal.user_id,
                )
    context = {"next": safe_next(next), "email": email}
    if outcome.retry_after is not None:
        minutes = max(1, round(outcome.retry_after / 60))
        error = (
            "Too many failed sign-ins. For your security, signing in is paused for about "
            f"{minutes} minute{'s' if minutes != 1 else ''}."
        )
        return render(
            request,
            "login.html",
            {**context, "error": error},
            status_code=429,
            headers={"Retry-After": str(outcome.retry_after)},
        )
    if token is None:
        error = "Wrong email or password. Check both and try again."
        return render(request, "login.html", {**context, "error": error}, status_code=400)
    web_session.sign_in(token)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Csrf])
def logout(db: Db, web_session: Session) -> RedirectResponse:
    if web_session.auth_token:
        with db.session() as session:
            end_session(session=session, token=web_session.auth_token)
    web_session.sign_out()
    web_session.flash("You are signed out.")
    return RedirectResponse("/", status_code=303)


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, user: User) -> HTMLResponse:
    return render(request, "password.html", {"fields": {}})


@router.post("/password", dependencies=[Csrf], response_model=None)
def password(
    request: Request,
    db: Db,
    user: User,
    web_session: Session,
    current_password: Text = "",
    new_password: Text = "",
    new_password_confirm: Text = "",
) -> HTMLResponse | RedirectResponse:
    try:
        if new_password != new_password_confirm:
            raise ValidationFailed(
                {"new_password_confirm": "the two new passwords differ; type the same twice"}
            )
        with db.session() as session:
            change_password(
                session=session,
                user_id=user.user_id,
                current_password=current_password,
                new_password=new_password,
                keep_session=web_session.auth_token,
            )
    except ValidationFailed as exc:
        return render(request, "password.html", {"fields": exc.fields}, status_code=422)
    web_session.flash("Your password is changed; other devices were signed out.", "success")
    return RedirectResponse("/account", status_code=303)
