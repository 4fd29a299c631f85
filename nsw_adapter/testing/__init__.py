"""Support for tests and benchmarks, shipped with the package so neither imports the other's:
pushes.py (receiveMessage bodies, as the NSW sends them), signing.py (a test CA and signed
envelopes), postgres.py (throwaway databases). The simulators (nsw_adapter.simulators) are the rest.
"""
