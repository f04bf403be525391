"""Business processes: approval routes and automations as versioned definitions.

Flows react to record events (:mod:`trellis.records.events`) and change records only through
the record service.

Processes: :mod:`.engine` (the only importer of SpiffWorkflow: the expression sandbox, specs
shared per version, the process wrapper), :mod:`.models` (tables), :mod:`.routes` (approval
routes checked and compiled to BPMN), :mod:`.definitions` (flows and versions),
:mod:`.instances` (start, step with the rev check, task rows, outcomes), :mod:`.tasks` (who
decides, substitutes, delegation), :mod:`.timers` (due timers, the worker job),
:mod:`.triggers` (record events start flows), :mod:`.service` (``runtime.flows(...)``).
"""
