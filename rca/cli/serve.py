"""``rca serve``: placeholder until the HTTP service lands."""
