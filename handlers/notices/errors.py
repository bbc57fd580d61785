"""The one exception of the notices domain."""


class NoticeError(ValueError):
    """A notice that cannot be accepted as given; the message tells staff why, in Chinese.
    Raised before anything is stored or sent."""
