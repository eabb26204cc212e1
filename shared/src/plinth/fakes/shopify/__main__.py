"""``python -m plinth.fakes.shopify``: serve the fake until interrupted."""

from plinth.fakes.shopify.cli import main

main()
