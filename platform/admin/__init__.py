"""The administrators' UI (Flask-Admin) over the platform's own tables.

It saves only through the metamodel service, so every table change, check and history entry
is the same as through the API or a config pack.
"""
