"""Transitional: the store's records and roles now live in records.py and roles.py, the states in
nsw_adapter.lifecycle; import them from `nsw_adapter.store`. Kept while other work in flight moves over."""

from nsw_adapter.lifecycle import FINAL_STATES, DossierChanged, DossierState, IntakeOutcome
from nsw_adapter.store.records import *  # noqa: F403
from nsw_adapter.store.roles import *  # noqa: F403

__all__ = ["FINAL_STATES", "DossierChanged", "DossierState", "IntakeOutcome"]
