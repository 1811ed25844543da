"""The order service at two sizes of data, side by side (`make bench-scale`)."""
