"""``python -m plinth_testkit.fakes.shopify``: the fake as a process (demo, end-to-end test)."""

from __future__ import annotations

import argparse
import threading

from plinth_testkit.fakes.shopify.server import DEFAULT_TOKEN, DEFAULT_VERSION, FakeShopify


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Shopify Admin GraphQL API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--api-version", action="append", dest="versions")
    parser.add_argument("--bucket-max", type=float, default=2000.0)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument("--polls-to-ready", type=int, default=2)
    parser.add_argument("--auto-products", action="store_true")
    parser.add_argument(
        "--product", action="append", default=[], metavar="SKU=TITLE", help="seed a product"
    )
    args = parser.parse_args(argv)
    fake = FakeShopify(
        access_token=args.token,
        api_versions=frozenset(args.versions or [DEFAULT_VERSION]),
        bucket_max=args.bucket_max,
        restore_rate=args.restore_rate,
        polls_to_ready=args.polls_to_ready,
        auto_products=args.auto_products,
    )
    for seed in args.product:
        sku, _, title = seed.partition("=")
        if not sku:
            parser.error(f"--product {seed!r}: expected SKU=TITLE")
        fake.add_product(title or sku, [sku])
    fake.start(args.host, args.port)
    print(
        f"fake Shopify on {fake.admin_base_url} (versions {sorted(fake.api_versions)})", flush=True
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
