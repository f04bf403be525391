"""Converting a record into others (a lead into a contact, a company and a deal): maps as
data, checked when saved; duplicate rules; an atomic conversion with a dry run."""
