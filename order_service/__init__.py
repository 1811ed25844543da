"""The order service: the product catalogue with its stock, and orders."""
