"""The NSW and the Border Guard portal as real loopback SOAP services, with fault injection.

For users' own tests: `PortalSimulator` and `NswSimulator` start one in-process on an
ephemeral port in a background thread (context managers); `parse_fault_spec` reads a fault
SPEC string (grammar in `nsw_adapter.simulators.faults`). The admin JSON shapes are documented
in `nsw_adapter.simulators.portal` and `nsw_adapter.simulators.nsw`.
"""

from nsw_adapter.simulators.faults import FaultSpec, FaultSpecError, parse_fault_spec
from nsw_adapter.simulators.nsw import NswSimulator, all_final
from nsw_adapter.simulators.portal import PortalSimulator

__all__ = ["FaultSpec", "FaultSpecError", "NswSimulator", "PortalSimulator", "all_final", "parse_fault_spec"]
