"""Dashboard accounts (handlers/accounts.py) on SQLite and PostgreSQL: who an account acts as,
what it sees, passwords and the lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers import accounts
from handlers.accounts import AccountError, LoginOutcome, authenticate, create_account
from storage import db, queries
from storage.demo_seed import seed_demo
from storage.models import Person, Role
from tests.conftest import START

PASSWORD = "correct horse 1"


@pytest.fixture
def engine(db_url: str):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        seed_demo(session)
    yield engine
    engine.dispose()


def add(engine, name: str, role: str, **kwargs):
    with db.session_scope(engine) as session:
        return create_account(session, username=name, password=PASSWORD, role=role, **kwargs)


def test_grid_accounts_act_as_the_worker_the_chat_knows(engine) -> None:
    account = add(engine, "lina", "grid_worker", grid="幸福里第一网格", contact="李娜")
    with db.session_scope(engine) as session:
        person = session.get(Person, account.person_id)
        assert (person.contact_id, person.role) == ("李娜", Role.GRID_WORKER)
        scope = accounts.account_scope(session, account)
        grid = queries.find_grid(session, ref="幸福里第一网格")
        assert scope.grid_ids == frozenset({grid.id})


def test_staff_accounts_may_have_a_browser_only_identity(engine) -> None:
    admin = add(engine, "admin", "township_admin")
    zhou = add(engine, "zhou", "community_staff", community="幸福里社区")
    with db.session_scope(engine) as session:
        person = session.get(Person, admin.person_id)
        assert person.contact_id == "web:admin" and person.role == Role.STAFF
        assert accounts.account_scope(session, admin).everything
        xingfuli = {queries.find_grid(session, ref=n).id for n in ("幸福里第一网格",
                                                                    "幸福里第二网格")}
        assert accounts.account_scope(session, zhou).grid_ids == xingfuli


@pytest.mark.parametrize(
    ("name", "role", "kwargs", "message"),
    [
        ("x", "mayor", {}, "未知的角色"),
        ("x", "grid_worker", {"grid": "幸福里第一网格"}, "--contact"),
        ("x", "grid_worker", {"contact": "李娜"}, "--grid"),
        ("x", "grid_worker", {"grid": "火星网格", "contact": "李娜"}, "没有名为或编号为 火星网格"),
        ("x", "grid_worker", {"grid": "和平苑网格", "contact": "李娜"}, "不一致"),
        ("x", "grid_leader", {"grid": "幸福里第一网格", "contact": "李娜"}, "不一致"),
        ("x", "community_staff", {}, "--community"),
        ("x", "township_admin", {"community": "幸福里社区"}, "不需要指定"),
        ("", "township_admin", {}, "用户名不能为空"),
    ],
)
def test_accounts_that_cannot_be_made_say_why(engine, name, role, kwargs, message) -> None:
    with pytest.raises(AccountError, match=message):
        add(engine, name, role, **kwargs)


def test_one_account_per_name_and_per_person(engine) -> None:
    add(engine, "lina", "grid_worker", grid="幸福里第一网格", contact="李娜")
    with pytest.raises(AccountError, match="已经存在"):
        add(engine, "lina", "township_admin")
    with pytest.raises(AccountError, match="已经有一个账号"):
        add(engine, "lina2", "grid_worker", grid="幸福里第一网格", contact="李娜")


def test_short_passwords_are_refused(engine) -> None:
    with db.session_scope(engine) as session, pytest.raises(AccountError, match="至少"):
        create_account(session, username="a", password="short", role="township_admin")


def login(engine, name: str, password: str, at):
    with db.session_scope(engine) as session:
        return authenticate(session, username=name, password=password, now=at)


def test_password_check_and_hash_at_rest(engine) -> None:
    account = add(engine, "admin", "township_admin")
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash
    assert login(engine, "admin", PASSWORD, START).outcome == LoginOutcome.OK
    assert login(engine, "admin", "wrong password", START).outcome == LoginOutcome.BAD_CREDENTIALS
    # an unknown name gets the same answer as a wrong password
    assert login(engine, "nobody", PASSWORD, START).outcome == LoginOutcome.BAD_CREDENTIALS


def test_five_failures_lock_the_name_for_fifteen_minutes(engine) -> None:
    add(engine, "admin", "township_admin")
    for minute in range(5):
        result = login(engine, "admin", "guess", START + timedelta(minutes=minute))
        assert result.outcome == LoginOutcome.BAD_CREDENTIALS
    locked = login(engine, "admin", PASSWORD, START + timedelta(minutes=5))
    assert locked.outcome == LoginOutcome.LOCKED, "even the right password waits"
    assert locked.retry_after == timedelta(minutes=10)
    # tries while locked are not counted, so the lock ends on time
    login(engine, "admin", "guess", START + timedelta(minutes=10))
    assert login(engine, "admin", PASSWORD, START + timedelta(minutes=15, seconds=1)).outcome \
        == LoginOutcome.OK


def test_a_success_clears_earlier_failures(engine) -> None:
    add(engine, "admin", "township_admin")
    for minute in range(4):
        login(engine, "admin", "guess", START + timedelta(minutes=minute))
    assert login(engine, "admin", PASSWORD, START + timedelta(minutes=4)).outcome == LoginOutcome.OK
    for minute in range(4):
        result = login(engine, "admin", "guess", START + timedelta(minutes=5 + minute))
        assert result.outcome == LoginOutcome.BAD_CREDENTIALS


def test_disabled_accounts_cannot_log_in(engine) -> None:
    add(engine, "admin", "township_admin")
    with db.session_scope(engine) as session:
        queries.get_account(session, username="admin").disabled_at = START
    assert login(engine, "admin", PASSWORD, START).outcome == LoginOutcome.BAD_CREDENTIALS


def test_changing_the_password_ends_old_sessions(engine) -> None:
    account = add(engine, "admin", "township_admin")
    with db.session_scope(engine) as session:
        fresh = queries.get_account(session, username="admin")
        accounts.set_password(session, fresh, "another horse 2")
    assert fresh.session_epoch == account.session_epoch + 1
    assert login(engine, "admin", PASSWORD, START).outcome == LoginOutcome.BAD_CREDENTIALS
    assert login(engine, "admin", "another horse 2", START).outcome == LoginOutcome.OK


def test_a_staff_persons_chat_reach_is_their_accounts_scope(engine) -> None:
    """What a staff person may touch by chat (permissions.staff_reach) is what their account
    sees on the dashboard: a community account gives its Person that community; linking the
    contact of another community's staff is refused; a staff row nobody placed reaches nothing."""
    from handlers.commands.permissions import staff_reach
    from handlers.roster import register_person

    zhou = add(engine, "zhou", "community_staff", community="幸福里社区", contact="周主任")
    admin = add(engine, "admin", "township_admin")
    with db.session_scope(engine) as session:
        for account in (zhou, admin):
            person = session.get(Person, account.person_id)
            assert staff_reach(session, person).grid_ids == \
                accounts.account_scope(session, account).grid_ids
        heping = queries.find_community(session, ref="和平苑社区")
        assert session.get(Person, zhou.person_id).community_id != heping.id
        sunli = queries.get_person(session, contact_id="孙丽")  # the street's, in the seed
        assert staff_reach(session, sunli).grid_ids == {g.id for g in queries.list_grids(session)}
        session.add(Person(contact_id="legacy", name="钱干事", role=Role.STAFF))
        session.flush()
        assert staff_reach(session, queries.get_person(session, contact_id="legacy")).unset
        grid = queries.find_grid(session, ref="和平苑网格")
        new = register_person(session, accounts.EVERYTHING, contact_id="new-staff", name="郑干事",
                              role=Role.STAFF, grid_id=grid.id)
        assert new.community_id == heping.id
        assert staff_reach(session, new).grid_ids == frozenset({grid.id})
    with pytest.raises(AccountError, match="身份与账号角色或网格不一致"):
        add(engine, "wu", "community_staff", community="幸福里社区", contact="吴主任")
