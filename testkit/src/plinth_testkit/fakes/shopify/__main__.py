"""``python -m plinth_testkit.fakes.shopify``: serve the fake until interrupted."""

from plinth_testkit.fakes.shopify.cli import main

main()
