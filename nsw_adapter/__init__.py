"""nsw-adapter: connector between Vietnam's National Single Window and the Border Guard portal.

The public API of the translation: `translate(documents, client_message_id=...)` turns one
dossier's NSW messages into a validated portal submission (`Translation.submission`) or the
complete list of `Problem`s; `Lineage` points portal fields back into the NSW documents.
"""

from nsw_adapter.errors import Problem
from nsw_adapter.mapping.lineage import Lineage
from nsw_adapter.translate import Translation, translate

__all__ = ["Lineage", "Problem", "Translation", "translate"]
