"""Warnings the library raises (``warnings.warn``) for things that are not errors but that a user
should know: an option that has no effect for the metrics chosen, a cache file moved aside. The CLI
prints each as one line ``embeval: warning: ...`` on stderr."""


class EmbevalWarning(UserWarning):
    """Base class of embeval's warnings."""


class IgnoredOptionWarning(EmbevalWarning):
    """An option was given that none of the chosen metrics uses."""


class DroppedDataWarning(EmbevalWarning):
    """The output format cannot hold part of the data (ids in a .npy file), so it is not written."""
