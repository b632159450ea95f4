"""``rca bench``: placeholder until the benchmark lands."""
