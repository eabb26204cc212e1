"""Local fake HTTP servers for the third-party SaaS Plinth calls (Freepik, Shopify, ...).

Each fake is a small real HTTP server on 127.0.0.1 that checks requests against the vendor's
published contract and answers in the vendor's documented shapes, so clients are tested over the
wire, hermetically. They run in a thread inside tests or as
``python -m plinth_testkit.fakes.<vendor>``.
"""
