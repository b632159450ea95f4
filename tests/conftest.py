"""Puts ``tests/`` on the import path, so every test folder can ``import real_parts``."""
