"""Business processes: approval routes and automations as versioned definitions.

Flows react to record events (:mod:`trellis.records.events`) and change records only through
the record service.
"""
