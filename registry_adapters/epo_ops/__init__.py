"""EPO Open Patent Services: the HTTP client, the pure XML parsing, and the registry adapter."""

from registry_adapters.epo_ops.adapter import EpoOpsRegistry, ops_number
from registry_adapters.epo_ops.client import EpoOpsClient, ThrottleState, parse_throttling_control
from registry_adapters.epo_ops.parse import BiblioData, parse_biblio, parse_legal, record_from_ops

__all__ = [
    "BiblioData",
    "EpoOpsClient",
    "EpoOpsRegistry",
    "ThrottleState",
    "ops_number",
    "parse_biblio",
    "parse_legal",
    "parse_throttling_control",
    "record_from_ops",
]
