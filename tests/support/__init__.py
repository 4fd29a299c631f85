"""Test helpers, one package for every tier: no test module imports another test module."""
