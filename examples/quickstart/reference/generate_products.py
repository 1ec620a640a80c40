#!/usr/bin/env python3
"""Writes products.json: the pipeline's reference data, one JSON object per line,
{"productId", "productName", "productPrice"} for productIds 999900001..999902000 (the
itemIds of the sample orders and of the load generator).

Deterministic: names are built from the word lists below by the product id, prices from a
linear congruence, so running it again gives the same file byte for byte.

    python3 examples/quickstart/reference/generate_products.py > examples/quickstart/reference/products.json
"""

import json
import sys

FIRST_ID = 999900001
COUNT = 2000

FINISHES = ["Oiled", "Brushed", "Matte", "Glazed", "Hammered", "Polished", "Woven", "Lacquered",
            "Smoked", "Whitewashed"]
MATERIALS = ["Teak", "Slate", "Walnut", "Linen", "Copper", "Birch", "Cork", "Basalt", "Wool",
             "Bamboo", "Terracotta", "Pewter", "Rattan", "Oak", "Granite", "Felt", "Ash", "Marble",
             "Hemp", "Brass"]
OBJECTS = ["Bench", "Lamp", "Kettle", "Stool", "Planter", "Tray", "Shelf", "Clock", "Bowl",
           "Vase"]


def product(n: int) -> dict:
    i = n - FIRST_ID
    name = " ".join((FINISHES[(i // 200) % len(FINISHES)], MATERIALS[i % len(MATERIALS)],
                     OBJECTS[(i // len(MATERIALS)) % len(OBJECTS)]))
    cents = 500 + (i * 7919 + 1234) % 9500
    return {"productId": n, "productName": name, "productPrice": f"{cents // 100}.{cents % 100:02d}"}


def main() -> None:
    out = sys.stdout
    for n in range(FIRST_ID, FIRST_ID + COUNT):
        row = product(n)
        # productPrice is written as a JSON number with exactly two decimals.
        text = json.dumps(row, separators=(",", ":"))
        text = text.replace(f'"productPrice":"{row["productPrice"]}"', f'"productPrice":{row["productPrice"]}')
        out.write(text + "\n")


if __name__ == "__main__":
    main()
