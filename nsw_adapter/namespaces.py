"""The XML namespaces of the contracts the adapter speaks, named once.

The simulators keep their own copies on purpose: they judge messages by the contract, not by
trusting the adapter's code.
"""

from __future__ import annotations

#: The E-Border Guard Procedures Portal (bgp/portal.wsdl, submission.xsd).
PORTAL_NS = "urn:vn:bienphong:portal:1"
#: The agency's receiveMessage service, which the NSW calls (nsw/agency.wsdl).
AGENCY_NS = "urn:vn:nsw:agency:1"
#: The NSW gateway's sendAndGetMessage, which the adapter calls (nsw/nsw.wsdl).
GATEWAY_NS = "urn:vn:nsw:gateway:1"
