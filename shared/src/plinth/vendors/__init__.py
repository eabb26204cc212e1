"""Clients for the third-party services Plinth calls over the network (Freepik, Shopify).

Each vendor is a package of its own: the HTTP client with its auth, timeouts and retries, and the
Plinth-facing pieces built on it. The pure image core (:mod:`plinth.imaging`) never imports from
here; the stage services and :mod:`plinth.models.segmenters` wire a vendor in when configured.
Local fakes of these vendors, for tests and the demo, are in the ``plinth_testkit`` workspace
member, not in this library.
"""
