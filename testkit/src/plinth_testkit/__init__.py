"""Plinth's test kit: what tests, the demo and the benchmarks need, and production never does.

* :mod:`plinth_testkit.fakes`: local HTTP servers that follow Freepik's and Shopify's published
  contracts (``python -m plinth_testkit.fakes.freepik``, ``... .fakes.shopify``);
* :mod:`plinth_testkit.http_server`: :class:`~plinth_testkit.http_server.LocalHttpServer`, a
  loopback HTTP server with fixed routes (photos to download, redirects, slow answers);
* :mod:`plinth_testkit.kafka`: :class:`~plinth_testkit.kafka.TopicTail`, what is published to
  a topic of the real stack;
* :mod:`plinth_testkit.waiting`: ``until``, poll a condition with a deadline;
* :mod:`plinth_testkit.fuzz`: ``send_case``, schemathesis cases through an in-process client.

No service and not the ``plinth`` library depend on this package; the workspace's dev group does.
"""
