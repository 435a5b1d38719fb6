"""A CASDA emulator: a real HTTP server on loopback serving CASDA's own paths and protocols.

python -m beampipe_provider.testing.casda --host 127.0.0.1 --port 0 --seed wallaby
"""
