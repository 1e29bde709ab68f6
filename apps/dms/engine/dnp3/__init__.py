"""DNP3 (IEEE 1815) for the EMS↔DMS link and the DMS↔utility-DER links: point maps, codecs,
master and outstation stacks over `yadnp3`, and a field simulator. Framework-free."""
