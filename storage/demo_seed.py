"""A small living world for `make run`: one street, two communities, three grids, each with its
residents' group, a grid worker and a grid leader; each community has a staff working group
(where overdue cases escalate) and a director; the street has its own working group (weekly
reports) and one staff member. Two groups carry tags, for notices addressed by tag.

Room and contact ids are the simulator's: a contact id is the display name, so typing a worker's
name in /sim lets a newcomer act as that worker.
"""

from __future__ import annotations

from sqlmodel import Session

from storage.models import ChatGroup, Community, Grid, GroupKind, Person, Role, Street
from storage.queries import has_hierarchy

STREET = "幸福街道"
COMMUNITIES = {
    "幸福里社区": [
        ("幸福里第一网格", "xingfuli-1@chatroom", "幸福里1-6号楼邻里群",
         ("李娜", "张强"), ("王芳", "刘大爷", "陈阿姨")),
        ("幸福里第二网格", "xingfuli-2@chatroom", "幸福里7-12号楼居民群",
         ("王磊", "赵敏"), ("孙浩", "周奶奶")),
    ],
    "和平苑社区": [
        ("和平苑网格", "hepingyuan@chatroom", "和平苑业主·网格服务群",
         ("陈静", "刘洋"), ("马先生", "黄女士")),
    ],
}
STAFF = ("孙丽",)  # street staff
STREET_GROUP = ("xingfu-street@chatroom", "幸福街道网格工作群")
TAGS = {"xingfuli-1@chatroom": ["老旧小区"], "hepingyuan@chatroom": ["沿街商铺"]}
#: community -> (staff group room, topic, community staff)
STAFF_GROUPS = {
    "幸福里社区": ("xingfuli-staff@chatroom", "幸福里社区工作群", "周主任"),
    "和平苑社区": ("hepingyuan-staff@chatroom", "和平苑社区工作群", "吴主任"),
}


def seed_demo(session: Session) -> bool:
    """Create the demo world unless a hierarchy exists already. Returns True if it seeded."""
    if has_hierarchy(session):
        return False
    street = Street(name=STREET)
    session.add(street)
    session.flush()
    for community_name, grids in COMMUNITIES.items():
        community = Community(street_id=street.id, name=community_name)
        session.add(community)
        session.flush()
        room_id, topic, director = STAFF_GROUPS[community_name]
        session.add(ChatGroup(room_id=room_id, topic=topic, kind=GroupKind.STAFF,
                              community_id=community.id))
        session.add(Person(contact_id=director, name=director, role=Role.STAFF,
                           community_id=community.id))
        for grid_name, room_id, topic, (worker, leader), residents in grids:
            grid = Grid(community_id=community.id, name=grid_name)
            session.add(grid)
            session.flush()
            session.add(ChatGroup(room_id=room_id, topic=topic, grid_id=grid.id,
                                  tags=TAGS.get(room_id, [])))
            session.add(Person(contact_id=worker, name=worker, role=Role.GRID_WORKER,
                               grid_id=grid.id))
            session.add(Person(contact_id=leader, name=leader, role=Role.GRID_LEADER,
                               grid_id=grid.id))
            for resident in residents:
                session.add(Person(contact_id=resident, name=resident, role=Role.RESIDENT,
                                   grid_id=grid.id))
    session.add(ChatGroup(room_id=STREET_GROUP[0], topic=STREET_GROUP[1],
                          kind=GroupKind.TOWNSHIP, street_id=street.id))
    for name in STAFF:
        session.add(Person(contact_id=name, name=name, role=Role.STAFF, street_id=street.id))
    session.flush()
    return True
