"""Who may do what: API tokens, login throttling and the one permission policy.

Every read and write path (API, UIs, lists, search, exports, history, links) asks
:class:`trellis.access.policy.Access`; the record service applies it, so no path can skip it.
"""
