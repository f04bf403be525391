"""Config packs (issue 14): a configuration as a versioned folder of YAML or JSON files.

The read side: :mod:`.content` (the in-memory model every part shares), :mod:`.snapshot`
(the live configuration in that model), loading and validating a pack folder or zip, the
published JSON Schema and the deterministic export. The write side (plan, apply, upgrade)
works on the same documents and compares them with ``==``.
"""
