"""Test doubles that speak real protocols (shipped in the package so the demo can use them too)."""
