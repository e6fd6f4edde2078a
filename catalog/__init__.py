"""Catalog: the one assortment every channel sells — categories, products, variants, barcodes."""
