"""The one exception of the notices domain."""


class NoticeError(ValueError):
    """A notice that cannot be accepted as given; the message tells staff why, in Chinese.
    Raised before anything is stored or sent."""


class NoticeForbidden(NoticeError):
    """The publisher may not reach some of the groups the notice names (a community's staff
    publishing beyond their community)."""
