"""Registry adapters: what the IP registries say about a pledged asset, and the listing checks.

- ``base``: record types, the ``RegistryAdapter`` protocol, ``RegistryError``, statutory terms;
- ``sandbox``: records kept by the exchange (demo and tests), with the synthetic demo set;
- ``epo_ops``: CN patents' legal status from EPO Open Patent Services (client, parser, adapter);
- ``manual``: operator-entered evidence, usable only after a second operator approved it;
- ``chain``: several adapters asked in order;
- ``checks``: the pure pre-publication checks of a listing against those records.

Nothing here imports from ``marketplace`` or ``frontend``.
"""
