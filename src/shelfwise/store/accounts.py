"""Accounts: users and passwords, sign-in sessions, login throttling and API tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's memory-hard profile).
Sign-in sessions and API tokens are random secrets of which only a SHA-256 is stored, so a
leaked database does not leak working credentials. Failed sign-ins are recorded in the database,
not in memory, so throttling holds across processes and restarts.

A registered customer is two rows: a `users` row (credentials, role) and a `customers` row (the
profile orders belong to), linked by `users.customer_id`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shelfwise.store.errors import InvalidRequest, NotFound
from shelfwise.store.kinds import Role, Segment, TokenScope
from shelfwise.store.models import (
    ApiToken,
    Customer,
    Location,
    LoginAttempt,
    User,
    UserSession,
    utcnow,
)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
LOGIN_WINDOW = timedelta(minutes=15)
ACCOUNT_FAILURE_LIMIT = 5  # failed sign-ins per account within the window
ADDRESS_FAILURE_LIMIT = 20  # per client address (several people may share one)
SESSION_LIFETIME = timedelta(days=14)
API_TOKEN_LIFETIME = timedelta(days=30)
TOKEN_PREFIX = "sw_"
ATTEMPT_RETENTION = timedelta(days=1)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_hasher = PasswordHasher()  # argon2id


class ValidationFailed(InvalidRequest):
    """Input was refused; `fields` maps each offending field to what is wrong with it."""

    code = "validation_failed"

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        details = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
        super().__init__(details)


@dataclass(frozen=True)
class Principal:
    """Who is making a request, detached from any database session."""

    user_id: int
    email: str
    role: Role
    customer_id: int | None
    token_id: int | None = None  # None: a browser session
    token_scope: TokenScope | None = None
    location_id: int | None = None  # the store a point-of-sale token sells from

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a sign-in attempt. Failures are returned, not raised, so the attempt's
    record is committed with the unit of work that made it."""

    principal: Principal | None
    retry_after: int | None = None  # seconds, when throttled

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created API token; `token` is shown once and never stored."""

    id: int
    token: str
    name: str
    scope: TokenScope
    prefix: str
    location_id: int | None
    expires_at: datetime | None


def _principal(user: User, token: ApiToken | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        role=user.role,
        customer_id=user.customer_id,
        token_id=token.id if token else None,
        token_scope=token.scope if token else None,
        location_id=token.location_id if token else None,
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Validation and hashing
# ---------------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    if not email:
        return "enter your email address"
    if len(email) > 254 or not _EMAIL.match(email):
        return "enter a valid email address, like name@example.com"
    return None


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Every rule a password breaks, in words a person can act on (empty when it is fine)."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            f"use at least {MIN_PASSWORD_LENGTH} characters (this one has {len(password)})"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"use at most {MAX_PASSWORD_LENGTH} characters")
    kinds = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if password and sum(kinds) < 2:
        problems.append(
            "mix at least two kinds of characters (lower case, upper case, digits, symbols)"
        )
    email = normalize_email(email)
    local = email.split("@", 1)[0]
    lowered = password.lower()
    if email and (email in lowered or (len(local) >= 4 and local in lowered)):
        problems.append("do not use your email address in your password")
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, only for timing")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def user_problems(
    *,
    session: Session,
    email: str,
    password: str,
    role: Role = Role.CUSTOMER,
    name: str | None = None,
    country: str | None = None,
) -> dict[str, str]:
    """What is wrong with a would-be account, per field (empty when it can be created)."""
    email = normalize_email(email)
    fields: dict[str, str] = {}
    if problem := email_problem(email):
        fields["email"] = problem
    elif get_user_by_email(session=session, email=email) is not None:
        fields["email"] = "an account with this email already exists; sign in instead"
    if problems := password_problems(password, email=email):
        fields["password"] = "; ".join(problems)
    name = (name or "").strip()
    if role is Role.CUSTOMER and not name:
        fields["name"] = "enter your name"
    elif len(name) > 120:
        fields["name"] = "use at most 120 characters"
    country = (country or "").strip().upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        fields["country"] = "use a two-letter country code, like DE or US"
    return fields


def create_user(
    *,
    session: Session,
    email: str,
    password: str,
    role: Role = Role.CUSTOMER,
    name: str | None = None,
    country: str | None = None,
    city: str | None = None,
) -> User:
    """Create a login. A customer login also gets (or is linked to) a `customers` profile with
    the same email; staff and admin logins have none."""
    email = normalize_email(email)
    fields = user_problems(
        session=session, email=email, password=password, role=role, name=name, country=country
    )
    if fields:
        raise ValidationFailed(fields)
    name = (name or "").strip()
    country = (country or "").strip().upper() or None

    customer_id: int | None = None
    if role is Role.CUSTOMER:
        customer = session.scalar(select(Customer).where(Customer.email == email))
        if customer is None:
            customer = Customer(
                name=name, email=email, segment=Segment.CONSUMER, country=country, city=city
            )
            session.add(customer)
            session.flush()
        customer_id = customer.id
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        customer_id=customer_id,
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def register_customer(
    *,
    session: Session,
    email: str,
    password: str,
    name: str,
    country: str | None = None,
    city: str | None = None,
) -> Principal:
    """Self-service registration on the website: always the customer role."""
    user = create_user(
        session=session,
        email=email,
        password=password,
        role=Role.CUSTOMER,
        name=name,
        country=country,
        city=city,
    )
    return _principal(user)


def list_users(*, session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def customer_country(*, session: Session, customer_id: int) -> str | None:
    return session.scalar(select(Customer.country).where(Customer.id == customer_id))


# ---------------------------------------------------------------------------------------------
# Signing in, throttling, passwords
# ---------------------------------------------------------------------------------------------


def _retry_after(
    session: Session,
    column: InstrumentedAttribute[str],
    value: str,
    since: datetime,
    limit: int,
    now: datetime,
) -> int | None:
    times = session.scalars(
        select(LoginAttempt.attempted_at)
        .where(
            column == value,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > since,
        )
        .order_by(LoginAttempt.attempted_at)
    ).all()
    if len(times) < limit:
        return None
    # Locked until enough of the counted failures have aged out of the window.
    unlock_at = times[len(times) - limit] + LOGIN_WINDOW
    return max(1, int((unlock_at - now).total_seconds()) + 1)


def login_retry_after(
    *, session: Session, email: str, address: str, now: datetime | None = None
) -> int | None:
    """Seconds until this account or address may try again, or None when it may now."""
    now = now or utcnow()
    email = normalize_email(email)
    window_start = now - LOGIN_WINDOW
    last_success = session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    )
    since = max(window_start, last_success) if last_success else window_start
    waits = [
        _retry_after(session, LoginAttempt.email, email, since, ACCOUNT_FAILURE_LIMIT, now),
        _retry_after(
            session, LoginAttempt.address, address, window_start, ADDRESS_FAILURE_LIMIT, now
        ),
    ]
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def authenticate(
    *, session: Session, email: str, password: str, address: str, now: datetime | None = None
) -> LoginOutcome:
    """Check a sign-in and record it. Too many recent failures for the account or the address
    refuse the attempt without checking the password (and without extending the lock)."""
    now = now or utcnow()
    email = normalize_email(email)[:254]
    address = address[:64]
    wait = login_retry_after(session=session, email=email, address=address, now=now)
    if wait is not None:
        return LoginOutcome(principal=None, retry_after=wait)
    user = get_user_by_email(session=session, email=email)
    if user is None:
        _verify(_dummy_hash(), password)  # same work as a real check: no timing oracle
        ok = False
    else:
        ok = _verify(user.password_hash, password) and user.is_active
    session.add(LoginAttempt(email=email, address=address, succeeded=ok, attempted_at=now))
    if not ok or user is None:
        session.flush()
        return LoginOutcome(principal=None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - ATTEMPT_RETENTION))
    session.flush()
    return LoginOutcome(principal=_principal(user))


def change_password(
    *,
    session: Session,
    user_id: int,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
) -> None:
    """Replace a password after checking the current one; signs out every other session."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    fields: dict[str, str] = {}
    if not _verify(user.password_hash, current_password):
        fields["current_password"] = "this is not your current password"
    if problems := password_problems(new_password, email=user.email):
        fields["new_password"] = "; ".join(problems)
    elif current_password == new_password:
        fields["new_password"] = "choose a password different from the current one"
    if fields:
        raise ValidationFailed(fields)
    user.password_hash = hash_password(new_password)
    end_other_sessions(session=session, user_id=user_id, keep=keep_session)
    session.flush()


def set_password(*, session: Session, user_id: int, password: str) -> None:
    """An administrator's reset: no current password needed; signs out every session."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    if problems := password_problems(password, email=user.email):
        raise ValidationFailed({"password": "; ".join(problems)})
    user.password_hash = hash_password(password)
    end_other_sessions(session=session, user_id=user_id, keep=None)
    session.flush()


# ---------------------------------------------------------------------------------------------
# Browser sessions
# ---------------------------------------------------------------------------------------------


def start_session(*, session: Session, user_id: int, now: datetime | None = None) -> str:
    """Open a signed-in session and return its secret token (kept in the signed cookie)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.execute(
        delete(UserSession).where(UserSession.user_id == user_id, UserSession.expires_at < now)
    )
    session.add(
        UserSession(user_id=user_id, token_hash=_digest(token), expires_at=now + SESSION_LIFETIME)
    )
    session.flush()
    return token


def principal_for_session(
    *, session: Session, token: str, now: datetime | None = None
) -> Principal | None:
    now = now or utcnow()
    user = session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == _digest(token),
            UserSession.expires_at > now,
            User.is_active.is_(True),
        )
    )
    return _principal(user) if user else None


def end_session(*, session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == _digest(token)))


def end_other_sessions(*, session: Session, user_id: int, keep: str | None) -> None:
    condition = UserSession.user_id == user_id
    if keep:
        condition = condition & (UserSession.token_hash != _digest(keep))
    session.execute(delete(UserSession).where(condition))


# ---------------------------------------------------------------------------------------------
# API tokens
# ---------------------------------------------------------------------------------------------


def create_api_token(
    *,
    session: Session,
    user_id: int,
    name: str,
    scope: TokenScope = TokenScope.API,
    location_id: int | None = None,
    lifetime: timedelta | None = API_TOKEN_LIFETIME,
    now: datetime | None = None,
) -> IssuedToken:
    """Issue a bearer token. A point-of-sale token belongs to a staff or admin user and is
    bound to the store whose till uses it; it never expires until revoked."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    name = name.strip()
    fields: dict[str, str] = {}
    if not 1 <= len(name) <= 80:
        fields["name"] = "give the token a name of 1 to 80 characters (where it is used)"
    if scope is TokenScope.POS:
        lifetime = None
        if user.role not in (Role.STAFF, Role.ADMIN):
            fields["user"] = "point-of-sale tokens belong to staff or admin users"
        if location_id is None:
            fields["location_id"] = "a point-of-sale token needs the store it sells from"
        elif session.get(Location, location_id) is None:
            fields["location_id"] = f"location {location_id} does not exist"
    elif location_id is not None:
        fields["location_id"] = "only point-of-sale tokens are bound to a location"
    if fields:
        raise ValidationFailed(fields)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=name,
        scope=scope,
        prefix=token[:10],
        token_hash=_digest(token),
        location_id=location_id,
        expires_at=now + lifetime if lifetime else None,
    )
    session.add(row)
    session.flush()
    return IssuedToken(
        id=row.id,
        token=token,
        name=name,
        scope=scope,
        prefix=row.prefix,
        location_id=location_id,
        expires_at=row.expires_at,
    )


def principal_for_api_token(
    *, session: Session, token: str, now: datetime | None = None
) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == _digest(token),
            ApiToken.revoked_at.is_(None),
            User.is_active.is_(True),
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    return _principal(user, api_token)


def list_api_tokens(*, session: Session, user_id: int | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return session.scalars(query).all()


def revoke_api_token(*, session: Session, token_id: int, now: datetime | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"API token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.flush()
    return row


# ---------------------------------------------------------------------------------------------
# Demo
# ---------------------------------------------------------------------------------------------

DEMO_STAFF = (
    ("admin@shelfwise.demo", "Admin-demo-2024", Role.ADMIN),
    ("staff@shelfwise.demo", "Staff-demo-2024", Role.STAFF),
)
DEMO_CUSTOMER_PASSWORDS = ("Customer-demo-1", "Customer-demo-2")


def create_demo_accounts(*, session: Session) -> list[tuple[str, str, str]]:
    """An admin, a staff member and two customers (the first existing customer profiles), with
    fixed passwords the demo prints. Running it again resets those passwords."""
    accounts: list[tuple[str, str, Role, Customer | None]] = [
        (email, password, role, None) for email, password, role in DEMO_STAFF
    ]
    candidates = list(session.scalars(select(Customer).order_by(Customer.id).limit(2)).all())
    for number in range(len(candidates), 2):
        customer = Customer(
            name=f"Demo Customer {number + 1}",
            email=f"customer{number + 1}@shelfwise.demo",
            segment=Segment.CONSUMER,
            country="US",
        )
        session.add(customer)
        candidates.append(customer)
    session.flush()
    for customer, password in zip(candidates, DEMO_CUSTOMER_PASSWORDS, strict=True):
        accounts.append((normalize_email(customer.email), password, Role.CUSTOMER, customer))

    result: list[tuple[str, str, str]] = []
    for email, password, role, profile in accounts:
        user = get_user_by_email(session=session, email=email)
        if user is None and profile is not None:
            user = session.scalar(select(User).where(User.customer_id == profile.id))
        if user is None:
            user = User(email=email, role=role, password_hash="", is_active=True)
            session.add(user)
        user.password_hash = hash_password(password)
        user.role = role
        user.is_active = True
        user.customer_id = profile.id if profile is not None else None
        session.flush()
        result.append((user.email, password, role.value))
    return result
