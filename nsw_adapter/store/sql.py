"""Transitional: SqlStore and open_store now live in facade.py, check_existing in migrations.py;
import them from `nsw_adapter.store`. Kept while other work in flight moves over."""

from nsw_adapter.store.facade import SqlStore, open_store
from nsw_adapter.store.migrations import check_existing

__all__ = ["SqlStore", "check_existing", "open_store"]
