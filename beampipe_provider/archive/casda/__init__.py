"""CASDA: ADQL discovery over TAP, DataLink/SODA staging, verified downloads."""
