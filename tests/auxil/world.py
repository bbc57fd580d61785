"""Growing the demo world for tests that need more groups than the demo has."""

from __future__ import annotations

from sqlmodel import select

from bot.runtime import prepare_database
from storage.db import session_scope
from storage.models import ChatGroup, Community, Grid, Person, Role
from tests.conftest import make_settings


def add_grids(url: str, count: int, *, community: str = "幸福里社区",
              tags: tuple[str, ...] = ()) -> list[str]:
    """Add ``count`` grids with a residents' group and a worker each; returns the room ids.
    Runs before gridbot starts, so the simulator knows the rooms."""
    engine = prepare_database(make_settings(url))
    rooms = []
    with session_scope(engine) as session:
        home = session.exec(select(Community).where(Community.name == community)).one()
        start = len(session.exec(select(Grid)).all())
        for i in range(start, start + count):
            grid = Grid(community_id=home.id or 0, name=f"测试网格{i}")
            session.add(grid)
            session.flush()
            room = f"test-{i}@chatroom"
            session.add(ChatGroup(room_id=room, topic=f"测试{i}号楼居民群", grid_id=grid.id,
                                  tags=list(tags)))
            session.add(Person(contact_id=f"网格员{i}", name=f"网格员{i}",
                               role=Role.GRID_WORKER, grid_id=grid.id))
            rooms.append(room)
    engine.dispose()
    return rooms


def tag_group(url: str, room: str, *tags: str) -> None:
    engine = prepare_database(make_settings(url))
    with session_scope(engine) as session:
        group = session.exec(select(ChatGroup).where(ChatGroup.room_id == room)).one()
        group.tags = [*group.tags, *tags]
    engine.dispose()
