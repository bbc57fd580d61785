"""Case states and the transitions allowed between them, in one table (FixMyStreet's habit).

    reported ──accept/assign──▶ accepted ──dispatch──▶ dispatched
        │  ╲                      │   ▲                   │
        │   ╲dispatch             │   └───────assign──────┤
        │    ╲                    ▼                       ▼
        │     ╰───────▶ (resolve) ───────▶ resolved ──rate 满意/基本满意──▶ closed
        │                                      │  └──follow-up ran out──▶ closed (未评价)
        │                                      └──rate 不满意──▶ reopened ─▶ (as reported)
        ├──reject──▶ rejected        (terminal: not in scope, with a reason)
        ├──dismiss─▶ rejected        (不是工单: not a request at all; nobody is told)
        └──merge───▶ merged          (terminal: duplicate of #M)

Code asks a state's kind through the predicates below, never by comparing strings elsewhere.
"""

from __future__ import annotations

from storage.models import CaseStatus as S

OPEN_STATES = frozenset({S.REPORTED, S.ACCEPTED, S.DISPATCHED, S.REOPENED})
WORKING_STATES = frozenset({S.ACCEPTED, S.DISPATCHED})
TERMINAL_STATES = frozenset({S.CLOSED, S.REJECTED, S.MERGED})

#: action -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "accept": (frozenset({S.REPORTED, S.REOPENED}), S.ACCEPTED),
    "assign": (OPEN_STATES, S.ACCEPTED),
    "dispatch": (OPEN_STATES, S.DISPATCHED),
    "progress": (OPEN_STATES, None),
    "resolve": (OPEN_STATES, S.RESOLVED),
    "reject": (frozenset({S.REPORTED, S.ACCEPTED, S.REOPENED}), S.REJECTED),
    "merge": (OPEN_STATES, S.MERGED),
    "rate": (frozenset({S.RESOLVED}), S.CLOSED),
    "reopen": (frozenset({S.RESOLVED}), S.REOPENED),
    "expire": (frozenset({S.RESOLVED}), S.CLOSED),
    "urge": (OPEN_STATES, None),
    "recategorize": (OPEN_STATES | {S.RESOLVED}, None),
    "dismiss": (OPEN_STATES, S.REJECTED),  # 不是工单: the classifier was wrong; no relay
}

STATUS_NAMES = {
    S.REPORTED: "待受理",
    S.ACCEPTED: "处理中",
    S.DISPATCHED: "已转办",
    S.RESOLVED: "已办结，待评价",
    S.CLOSED: "已结案",
    S.REOPENED: "重新处理中",
    S.REJECTED: "已退回",
    S.MERGED: "已合并",
}


def is_open(status: str) -> bool:
    return status in OPEN_STATES


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATES


def awaiting_acceptance(status: str) -> bool:
    return status in (S.REPORTED, S.REOPENED)


def allowed(action: str, status: str) -> bool:
    return status in TRANSITIONS[action][0]


def target(action: str, status: str) -> str:
    to = TRANSITIONS[action][1]
    return status if to is None else to
