"""The NSW -> portal mapping: a declarative spec (mappings/submission.yaml), named transforms,
a compiler turning the spec into fast Python, a checker proving it against the schemas, and
the lineage that leads portal fields back to NSW fields.

spec.py reads the file; transforms.py holds the named transforms; engine.py compiles and
renders; lineage.py is Lineage; check.py is `nsw-adapter mapping check`.
"""

from nsw_adapter.mapping.engine import MappingPlan, compile_spec, submission_plan
from nsw_adapter.mapping.lineage import Lineage, ListLineage
from nsw_adapter.mapping.spec import MappingError, MappingSpec, load_spec, submission_spec

__all__ = [
    "Lineage",
    "ListLineage",
    "MappingError",
    "MappingPlan",
    "MappingSpec",
    "compile_spec",
    "load_spec",
    "submission_plan",
    "submission_spec",
]
