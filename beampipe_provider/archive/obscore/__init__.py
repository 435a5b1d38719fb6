"""A generic IVOA ObsCore + DataLink (+ SODA async) archive adapter."""
