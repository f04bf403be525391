"""Records that tests of several folders create on the demo CRM, written once."""

from __future__ import annotations

#: the lead the conversion tests convert (API, wizard, generated client): an enquiry whose
#: person and company the demo does not have yet
INITECH_ENQUIRY = {
    "name": "Enquiry from Initech",
    "first_name": "Peter",
    "last_name": "Gibbons",
    "company_name": "Initech",
    "email": "peter@initech.example",
    "source": "website",
}
