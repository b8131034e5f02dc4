"""CLI subcommands, one module each (see :mod:`dynsys.cli` for the module contract)."""
