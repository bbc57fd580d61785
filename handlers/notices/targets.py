"""Which groups a notice goes to: all residents' groups, chosen communities, chosen grids, or groups
carrying a tag. Targets are kept as staff gave them and resolved when each occurrence goes out, so a
group bound to a grid next month receives next month's reminder."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from handlers.notices.errors import NoticeError
from handlers.texts import formats
from storage.models import ChatGroup, Community, Grid, GroupKind

KINDS = ("all", "communities", "grids", "tags")


@dataclass(frozen=True)
class Targets:
    all: bool = False
    communities: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.all:
            return {"all": True}
        return {k: list(v) for k, v in (("communities", self.communities),
                                        ("grids", self.grids), ("tags", self.tags)) if v}

    def describe(self) -> str:
        """In the words staff read in a confirmation: 全部居民群 / 幸福里社区 / 标签“老旧小区”."""
        return formats("audience", everyone=self.all, names=[*self.communities, *self.grids],
                       tags=self.tags)


def parse_targets(raw: Any) -> Targets:
    """The API's ``targets`` object: {"all": true} or lists of names (or ids) under
    communities, grids and tags. Several lists may be combined; their groups are united."""
    if not isinstance(raw, dict) or not raw:
        raise NoticeError("no_targets")
    unknown = set(raw) - set(KINDS)
    if unknown:
        raise NoticeError("unknown_target_kinds", kinds=sorted(unknown), known=KINDS)
    if raw.get("all") is not None and raw.get("all") is not True:
        raise NoticeError("all_must_be_true")
    lists: dict[str, tuple[str, ...]] = {}
    for kind in ("communities", "grids", "tags"):
        value = raw.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not
                                                  isinstance(v, bool) for v in value):
            raise NoticeError("target_list", kind=kind)
        lists[kind] = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    targets = Targets(all=raw.get("all") is True, **lists)
    if not (targets.all or targets.communities or targets.grids or targets.tags):
        raise NoticeError("empty_targets")
    return targets


def resolve_groups(session: Session, targets: Targets) -> list[ChatGroup]:
    """The groups the targets name today, in a stable order. Unknown names are refused, so a
    typo does not silently leave a community out."""
    residents = (select(ChatGroup).where(ChatGroup.kind == GroupKind.RESIDENT)
                 .where(col(ChatGroup.grid_id).is_not(None)))
    found: dict[int, ChatGroup] = {}

    def add(groups: Iterable[ChatGroup]) -> None:
        for g in groups:
            if g.id is not None:
                found.setdefault(g.id, g)

    if targets.all:
        add(session.exec(residents).all())
    if targets.communities:
        ids = [_find(session, Community, ref, "community").id for ref in targets.communities]
        grids = select(Grid.id).where(col(Grid.community_id).in_(ids))
        add(session.exec(residents.where(col(ChatGroup.grid_id).in_(grids))).all())
    if targets.grids:
        ids = [_find(session, Grid, ref, "grid").id for ref in targets.grids]
        add(session.exec(residents.where(col(ChatGroup.grid_id).in_(ids))).all())
    if targets.tags:
        tagged = [g for g in session.exec(select(ChatGroup)).all()
                  if set(g.tags or ()) & set(targets.tags)]
        missing = set(targets.tags) - {t for g in tagged for t in g.tags}
        if missing:
            raise NoticeError("no_tagged_groups", tags=sorted(missing))
        add(tagged)
    if not found:
        raise NoticeError("no_groups", targets=targets.describe())
    return sorted(found.values(), key=lambda g: g.id or 0)


def _find(session: Session, model: type[Community] | type[Grid], ref: str,
          place: str) -> Community | Grid:
    row = session.get(model, int(ref)) if ref.isdigit() else session.exec(
        select(model).where(model.name == ref)).first()
    if row is None:
        raise NoticeError("unknown_place", place=place, ref=ref)
    return row
