"""IEEE 2030.5 (Smart Energy Profile 2) server side: XML codecs, resource logic, HTTP framing,
the asyncio TLS server and a client simulator. Framework-free; the registry is reached only
through the `Store` protocol (apps/der_registry/sep2_store.py implements it)."""
