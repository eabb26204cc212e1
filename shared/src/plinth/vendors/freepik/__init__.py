"""Freepik's REST API (docs.freepik.com).

* :mod:`.client`: :class:`~.client.FreepikClient`, the HTTP client (auth, timeouts, retries,
  bounded downloads) that every Freepik call goes through;
* :mod:`.segmenter`: the ``freepik`` segmentation provider (remove-background);
* :mod:`.backgrounds`: the ``ai`` background option (Mystic image generation).

The submodules are imported on demand (they pull in httpx), not from here.
"""
